#include "noise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"

const char *const pv_schedule_names[] = {"povid", "linear", "cosine", NULL};

/* torch.linspace in float32: the step in float32, the first half counted up from
 * start and the second half down from end (so both ends are exact). */
static float linspace_f32(float start, float end, int steps, int i)
{
    float step = (end - start) / (float)(steps - 1);
    if (i < steps / 2)
        return start + step * (float)i;
    return end - step * (float)(steps - 1 - i);
}

static void povid_betas(float *beta, int steps)
{
    const float range = (float)(5e-3 - 1e-5), start = (float)1e-5;
    for (int i = 0; i < steps; i++) {
        float x = linspace_f32(-6.0f, 6.0f, steps, i);
        float sig = 1.0f / (1.0f + expf(-x));
        beta[i] = sig * range + start;
    }
}

static void linear_betas(double *beta, int steps)
{
    for (int i = 0; i < steps; i++)
        beta[i] = 1e-4 + (0.02 - 1e-4) * i / (steps - 1);
}

static double cosine_f(double t, int steps)
{
    const double s = 0.008;
    double c = cos((t / steps + s) / (1.0 + s) * M_PI / 2.0);
    return c * c;
}

/* Nichol & Dhariwal's betas_for_alpha_bar: beta_i = 1 - abar((i+1)/T) / abar(i/T). */
static void cosine_betas(double *beta, int steps)
{
    for (int i = 0; i < steps; i++) {
        double b = 1.0 - cosine_f(i + 1, steps) / cosine_f(i, steps);
        beta[i] = b < 0.999 ? b : 0.999;
    }
}

int pv_schedule_make(pv_schedule *s, enum pv_schedule_kind kind, int steps)
{
    s->kind = kind;
    s->steps = steps;
    s->beta = malloc(sizeof(float) * (size_t)steps);
    s->alpha_bar = malloc(sizeof(float) * (size_t)steps);
    if (steps < 2 || !s->beta || !s->alpha_bar) {
        pv_schedule_free(s);
        return -1;
    }
    if (kind == PV_SCHEDULE_POVID) {
        povid_betas(s->beta, steps);
        /* float32 running product, like torch.cumprod on a float32 tensor. */
        float prod = 1.0f;
        for (int i = 0; i < steps; i++)
            s->alpha_bar[i] = prod *= 1.0f - s->beta[i];
        return 0;
    }
    /* The reference implementations of these two use numpy float64: compute the
     * betas and their product in double and round each result once. */
    double *beta = malloc(sizeof(double) * (size_t)steps);
    if (!beta) {
        pv_schedule_free(s);
        return -1;
    }
    if (kind == PV_SCHEDULE_LINEAR)
        linear_betas(beta, steps);
    else
        cosine_betas(beta, steps);
    double prod = 1.0;
    for (int i = 0; i < steps; i++) {
        s->beta[i] = (float)beta[i];
        s->alpha_bar[i] = (float)(prod *= 1.0 - beta[i]);
    }
    free(beta);
    return 0;
}

void pv_schedule_free(pv_schedule *s)
{
    free(s->beta);
    free(s->alpha_bar);
    s->beta = s->alpha_bar = NULL;
}

void pv_noise_coeffs(const pv_schedule *s, int t, float *a, float *b)
{
    float ab = s->alpha_bar[t];
    *a = sqrtf(ab);
    *b = sqrtf(1.0f - ab);
}

void pv_noise_mix(float a, float b, const float *x0, const float *eps, float *xt, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xt[i] = a * x0[i] + b * eps[i];
}

uint8_t pv_noise_to_u8(float x)
{
    /* Clamp without branches (NaN becomes 0) so that pixel loops vectorise. */
    x = x > 0.0f ? x : 0.0f;
    x = x < 1.0f ? x : 1.0f;
    /* Adding and subtracting 2^23 rounds a float in [0, 2^23) to an integer in
     * the current rounding mode (nearest, ties to even): nearbyintf without the
     * library call. */
    float v = x * 255.0f;
    return (uint8_t)((v + 8388608.0f) - 8388608.0f);
}

/* pv_noise_to_u8 for |x| < 16384 (x_t here is within +-8: |eps| < 6.7), without
 * branches: round x * 255 to nearest even by adding and subtracting 1.5 * 2^23,
 * then clamp the integer (rounding then clamping equals clamping then rounding
 * because 0 and 255 are integers). */
static inline uint8_t pixel_from_xt(float x)
{
    int v = (int)((x * 255.0f + 12582912.0f) - 12582912.0f);
    v = v < 0 ? 0 : v;
    v = v > 255 ? 255 : v;
    return (uint8_t)v;
}

int pv_noise_image(const pv_image *in, float a, float b, uint64_t seed, uint64_t key,
                   pv_image *out)
{
    size_t plane = (size_t)in->width * (size_t)in->height;
    float *eps = malloc(sizeof(float) * (plane ? plane : 1));
    if (!eps || pv_image_alloc(out, in->width, in->height) != 0) {
        free(eps);
        return -1;
    }
    /* a * x0 for the 256 possible pixels: the same float operations as
     * computing it per pixel (x0 = v / 255 as torchvision's to_tensor). */
    float ax0[256];
    for (int v = 0; v < 256; v++)
        ax0[v] = a * ((float)v / 255.0f);
    for (int c = 0; c < 3; c++) {
        pv_philox_normals(seed, key, (uint64_t)c * plane, eps, plane);
        const uint8_t *src = in->rgb + c;
        uint8_t *dst = out->rgb + c;
        for (size_t i = 0; i < plane; i++)
            dst[3 * i] = pixel_from_xt(ax0[src[3 * i]] + b * eps[i]);
    }
    free(eps);
    return 0;
}

int pv_noise_encode_file(const char *path, float a, float b, uint64_t seed, uint64_t key,
                         enum pv_image_format fmt, int quality, uint8_t **out, size_t *outlen,
                         char *err, size_t errlen)
{
    pv_image clean, noisy;
    if (pv_image_load(path, &clean, err, errlen) != 0)
        return -1;
    int rc = pv_noise_image(&clean, a, b, seed, key, &noisy);
    pv_image_free(&clean);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = pv_image_encode(&noisy, fmt, quality, out, outlen, err, errlen);
    pv_image_free(&noisy);
    return rc;
}

#define NAME_MAX_KEPT 100

void pv_noise_file_name(const char *id, const char *ext, char *out, size_t outlen)
{
    char name[NAME_MAX_KEPT + 1];
    size_t n = 0;
    int changed = id[0] == '\0';
    for (const char *p = id; *p; p++) {
        if (n == NAME_MAX_KEPT) {
            changed = 1;
            break;
        }
        char c = *p;
        int safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
        if (!safe || (n == 0 && (c == '.' || c == '-'))) {
            c = '_';
            changed = 1;
        }
        name[n++] = c;
    }
    if (n == 0)
        name[n++] = '_';
    name[n] = '\0';
    if (changed)
        snprintf(out, outlen, "%s-%016llx.%s", name,
                 (unsigned long long)pv_fnv1a64(id, strlen(id)), ext);
    else
        snprintf(out, outlen, "%s.%s", name, ext);
}
