/* Reading the fixture's golden tensors and comparing against them, for the golden
 * tests (tests/unit/test_*_golden.c). Header-only: each test is one program.
 *
 *   if (golden_open("golden.safetensors") != 0) return check_skip_all(...);
 *   float *want = golden_f32("image_features", n);
 *   golden_check("image_features", got, want, n, 1e-4, 1e-5);
 *
 * golden_check's tolerance: |got - want| <= rtol |want| + atol_of_max * max|want|.
 * The absolute floor is what fp32 can promise for a value that is a small
 * difference of large terms (the tensor's large entries set the rounding scale).
 * The worst errors are printed as TAP comments. */
#ifndef PV_TEST_GOLDEN_H
#define PV_TEST_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "safetensors.h"

static pv_st_file golden_file;

/* Path of a fixture file: $PV_SHARED/fixtures/tiny-llava/<name>. */
static inline const char *fixture_path(const char *name)
{
    static char path[4][4096];
    static int slot;
    const char *shared = getenv("PV_SHARED") ? getenv("PV_SHARED") : "../shared";
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/fixtures/tiny-llava/%s", shared, name);
    return path[slot];
}

static inline int golden_open(void)
{
    char err[512];
    return pv_st_open(fixture_path("golden.safetensors"), &golden_file, err, sizeof err);
}

static inline float *golden_f32(const char *name, size_t numel)
{
    char err[256];
    const pv_st_tensor *t = pv_st_find(&golden_file, name);
    if (!t || (numel && (size_t)t->numel != numel)) {
        printf("# golden tensor %s missing or not %zu values\n", name, numel);
        exit(1);
    }
    float *v = malloc((size_t)t->numel * sizeof *v);
    if (pv_st_to_f32(t, v, err, sizeof err) < 0) {
        printf("# %s\n", err);
        exit(1);
    }
    return v;
}

static inline int32_t *golden_i32(const char *name, int *n)
{
    const pv_st_tensor *t = pv_st_find(&golden_file, name);
    if (!t || t->dtype != PV_ST_I32) {
        printf("# golden tensor %s missing or not I32\n", name);
        exit(1);
    }
    *n = (int)t->numel;
    int32_t *v = malloc(t->nbytes);
    memcpy(v, t->data, t->nbytes); /* little-endian, as is this machine */
    return v;
}

/* One TAP line for a whole tensor; returns 1 if every value is within tolerance. */
static inline int golden_check(const char *what, const float *got, const float *want, size_t n,
                               double rtol, double atol_of_max)
{
    double maxabs = 0;
    for (size_t i = 0; i < n; i++)
        maxabs = fmax(maxabs, fabs(want[i]));
    double atol = atol_of_max * maxabs, worst_rel = 0, worst_abs = 0, worst_excess = 0;
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        double rel = err / fmax(fabs(want[i]), 1e-30);
        if (fabs(want[i]) > 0.01 * maxabs && rel > worst_rel) /* where relative error means something */
            worst_rel = rel;
        worst_abs = fmax(worst_abs, err);
        double excess = err / (atol + rtol * fabs(want[i]));
        if (excess > worst_excess)
            worst_excess = excess, at = i;
        bad += !(err <= atol + rtol * fabs(want[i]));
    }
    printf("# %s: %zu values, worst rel %.3g (values over 1%% of max), worst abs %.3g (max |want| %.3g), %zu outside\n",
           what, n, worst_rel, worst_abs, maxabs, bad);
    if (bad)
        printf("# %s: worst at %zu: got %.9g want %.9g\n", what, at, got[at], want[at]);
    return CHECK(bad == 0, what);
}

#endif
