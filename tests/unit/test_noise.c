/* Noise: Philox known answers, the POVID schedule and x_t against the transformers
 * fixtures (golden.safetensors), image_noisy.png pixel for pixel, statistics of the
 * recovered noise on a flat grey image, and the other two schedules' formulas. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image.h"
#include "noise.h"
#include "philox.h"
#include "safetensors.h"

/* Known-answer vectors of Random123's kat_vectors for philox4x32_10. */
static void test_philox_kat(void)
{
    static const uint32_t ctr[3][4] = {
        {0, 0, 0, 0},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
    };
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
    static const uint32_t want[3][4] = {
        {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        pv_philox4x32_10(ctr[i], key[i], out);
        char what[64];
        snprintf(what, sizeof what, "Philox4x32-10 known answer %d", i);
        CHECK(memcmp(out, want[i], sizeof out) == 0, what);
    }
    /* FNV-1a 64 published test values: "" and "a". */
    CHECK(pv_fnv1a64("", 0) == 0xcbf29ce484222325ull, "FNV-1a of empty string");
    CHECK(pv_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull, "FNV-1a of \"a\"");

    /* Any window of the stream equals the same slice of the whole stream. */
    float all[23], part[9];
    pv_philox_normals(7, 99, 0, all, 23);
    pv_philox_normals(7, 99, 13, part, 9);
    CHECK(memcmp(all + 13, part, sizeof part) == 0, "stream windows agree (random access)");
    /* The documented mapping, computed by hand with libm for normal 6 (block 1,
     * lane 2) and 7: the series in lib/philox.c agree with libm to 1e-15, so the
     * floats agree except in rare last-bit cases (checked in bulk below). */
    uint32_t c[4] = {1, 0, 99, 0}, k[2] = {7, 0}, x[4];
    pv_philox4x32_10(c, k, x);
    double u1 = (x[2] + 0.5) / 4294967296.0, u2 = (x[3] + 0.5) / 4294967296.0;
    CHECK(all[6] == (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2)) &&
              all[7] == (float)(sqrt(-2 * log(u1)) * sin(2 * M_PI * u2)),
          "normals follow the documented (seed, key, index) mapping");
    /* 10^6 normals against Box-Muller with libm: at most 1 float ulp apart. */
    enum { BULK = 1 << 20 };
    float *bulk = malloc(sizeof(float) * BULK);
    pv_philox_normals(42, 4242, 0, bulk, BULK);
    long exact = 0;
    double worst_ulps = 0;
    for (uint64_t b = 0; b < BULK / 4; b++) {
        uint32_t cb[4] = {(uint32_t)b, 0, 4242, 0}, kb[2] = {42, 0}, xb[4];
        pv_philox4x32_10(cb, kb, xb);
        for (int pair = 0; pair < 2; pair++) {
            double v1 = (xb[2 * pair] + 0.5) / 4294967296.0, v2 = (xb[2 * pair + 1] + 0.5) / 4294967296.0;
            double r = sqrt(-2 * log(v1));
            float ref[2] = {(float)(r * cos(2 * M_PI * v2)), (float)(r * sin(2 * M_PI * v2))};
            for (int h = 0; h < 2; h++) {
                float got = bulk[4 * b + 2 * pair + h];
                exact += got == ref[h];
                double ulp = fabs(nextafterf(ref[h], INFINITY) - ref[h]);
                worst_ulps = fmax(worst_ulps, fabs(got - ref[h]) / ulp);
            }
        }
    }
    printf("# %ld of %d normals equal the libm formula bit for bit, worst %.0f ulp\n", exact, BULK,
           worst_ulps);
    CHECK(worst_ulps <= 1 && exact >= BULK - 100, "normals agree with libm Box-Muller (<= 1 ulp, rare)");
    free(bulk);
    float other[23];
    pv_philox_normals(7, 100, 0, other, 23);
    CHECK(memcmp(all, other, sizeof all) != 0, "a different key gives a different stream");
}

static float *tensor_f32(const pv_st_file *f, const char *name, int64_t want)
{
    const pv_st_tensor *t = pv_st_find(f, name);
    if (!t || t->numel != want)
        return NULL;
    float *v = malloc(sizeof(float) * (size_t)want);
    char err[256];
    if (pv_st_to_f32(t, v, err, sizeof err) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

static void test_povid_fixture(const char *shared)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/golden.safetensors", shared);
    pv_st_file f;
    if (!CHECK(pv_st_open(path, &f, err, sizeof err) == 0, "golden.safetensors opens")) {
        printf("# %s\n", err);
        return;
    }
    pv_schedule s;
    CHECK(pv_schedule_make(&s, PV_SCHEDULE_POVID, 1000) == 0, "povid schedule built");
    float *ab = tensor_f32(&f, "noise_alphas_bar", 1000), *beta = tensor_f32(&f, "noise_betas", 1000);
    if (CHECK(ab && beta, "noise_alphas_bar and noise_betas present")) {
        double worst_ab = 0, worst_beta = 0;
        for (int t = 0; t < 1000; t++) {
            worst_ab = fmax(worst_ab, fabs(s.alpha_bar[t] - ab[t]) / ab[t]);
            worst_beta = fmax(worst_beta, fabs(s.beta[t] - beta[t]) / beta[t]);
        }
        printf("# worst relative error: alpha_bar %.3g, beta %.3g\n", worst_ab, worst_beta);
        CHECK(worst_ab < 1e-5, "alpha_bar within 1e-5 relative of the fixture");
        CHECK(worst_beta < 1e-5, "beta within 1e-5 relative of the fixture");
    }
    free(ab);
    free(beta);

    /* x_t at t=500 from the fixture's own x0 and eps: first with the fixture's
     * alpha_bar[500] (the mixing must then be exact), then with ours (off by the
     * schedule difference only). */
    const int C = 3, H = 61, W = 97, n = C * H * W;
    float *x0 = tensor_f32(&f, "noise_x0", n), *eps = tensor_f32(&f, "noise_eps", n);
    float *want = tensor_f32(&f, "noise_xt_t500", n);
    float *fab = tensor_f32(&f, "noise_alphas_bar", 1000);
    if (CHECK(x0 && eps && want && fab, "noise_x0, noise_eps, noise_xt_t500 present")) {
        float *xt = malloc(sizeof(float) * (size_t)n);
        pv_schedule fixture = {.kind = PV_SCHEDULE_POVID, .steps = 1000, .alpha_bar = fab};
        float a, b;
        pv_noise_coeffs(&fixture, 500, &a, &b);
        pv_noise_mix(a, b, x0, eps, xt, (size_t)n);
        int differ = 0;
        for (int i = 0; i < n; i++)
            differ += xt[i] != want[i];
        printf("# with the fixture's alpha_bar[500]: %d of %d x_t values differ\n", differ, n);
        CHECK(differ == 0, "x_t equals noise_xt_t500 bit for bit (fixture alpha_bar)");

        /* image_noisy.png = round(clamp(x_t,0,1)*255), pixel for pixel. */
        pv_image noisy;
        snprintf(path, sizeof path, "%s/fixtures/tiny-llava/image_noisy.png", shared);
        if (CHECK(pv_image_load(path, &noisy, err, sizeof err) == 0 && noisy.width == W &&
                      noisy.height == H,
                  "image_noisy.png loads, 97x61")) {
            int mismatches = 0;
            for (int c = 0; c < C; c++)
                for (int i = 0; i < H * W; i++)
                    mismatches += noisy.rgb[3 * i + c] != pv_noise_to_u8(want[c * H * W + i]);
            printf("# pixels differing from image_noisy.png: %d\n", mismatches);
            CHECK(mismatches == 0, "clamped and rounded x_t equals image_noisy.png exactly");
            pv_image_free(&noisy);
        }

        pv_noise_coeffs(&s, 500, &a, &b);
        printf("# t=500: sqrt(alpha_bar) %.7f, sqrt(1-alpha_bar) %.7f\n", a, b);
        CHECK(fabsf(a - 0.863f) < 5e-4f && fabsf(b - 0.505f) < 5e-4f,
              "t=500 factors are POVID.md's 0.863 and 0.505");
        pv_noise_mix(a, b, x0, eps, xt, (size_t)n);
        double worst = 0;
        for (int i = 0; i < n; i++)
            worst = fmax(worst, fabs(xt[i] - want[i]));
        printf("# x_t with our own schedule: worst absolute error %.3g\n", worst);
        /* The schedule may differ by 1e-5 relative (torch's float32 sigmoid and
         * cumprod are not bit-reproducible here), x_t is of order 1. */
        CHECK(worst < 1e-5, "x_t with our schedule within 1e-5 of noise_xt_t500");
        /* x0 is the PNG's pixels / 255 in float32 (torchvision's to_tensor). */
        pv_image clean;
        snprintf(path, sizeof path, "%s/fixtures/tiny-llava/image.png", shared);
        if (CHECK(pv_image_load(path, &clean, err, sizeof err) == 0, "image.png loads")) {
            int diff = 0;
            for (int c = 0; c < C; c++)
                for (int i = 0; i < H * W; i++)
                    diff += (float)clean.rgb[3 * i + c] / 255.0f != x0[c * H * W + i];
            CHECK(diff == 0, "image.png / 255 equals noise_x0");
            pv_image_free(&clean);
        }
        free(xt);
    }
    free(x0);
    free(eps);
    free(want);
    free(fab);
    pv_schedule_free(&s);
    pv_st_close(&f);
}

/* The rounding rule: clamp, then nearest with ties to even. */
static void test_to_u8(void)
{
    CHECK(pv_noise_to_u8(-0.3f) == 0 && pv_noise_to_u8(1.3f) == 255,
          "out-of-range values clamp (no wrap to 180 / 75)");
    CHECK(pv_noise_to_u8(0.5f) == 128 && pv_noise_to_u8(0.5f / 255.0f) == 0 &&
              pv_noise_to_u8(1.5f / 255.0f) == 2,
          "x*255 rounds to nearest, ties to even");
    CHECK(pv_noise_to_u8(NAN) == 0, "NaN maps to 0");
}

/* Noise a flat grey image, recover eps = (x_t - a x0) / b from pixels that were
 * not clamped, and check its moments. Rounding to 8 bits adds uniform error of
 * std 1/(255 sqrt 12 b) ~ 0.0022 on eps, and t=200 keeps clamping rare. */
static void test_statistics(void)
{
    pv_schedule s;
    pv_schedule_make(&s, PV_SCHEDULE_POVID, 1000);
    float a, b;
    pv_noise_coeffs(&s, 200, &a, &b);
    pv_image grey, noisy;
    pv_image_alloc(&grey, 256, 256);
    memset(grey.rgb, 128, (size_t)256 * 256 * 3);
    CHECK(pv_noise_image(&grey, a, b, 1234, pv_fnv1a64("grey", 4), &noisy) == 0, "noised");
    double x0 = 128.0f / 255.0f, sum = 0, sum2 = 0, sum3 = 0, sum4 = 0;
    long n = 0, clamped = 0;
    for (size_t i = 0; i < (size_t)256 * 256 * 3; i++) {
        uint8_t v = noisy.rgb[i];
        if (v == 0 || v == 255) {
            clamped++;
            continue;
        }
        double e = (v / 255.0 - a * x0) / b;
        sum += e, sum2 += e * e, sum3 += e * e * e, sum4 += e * e * e * e;
        n++;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    double sd = sqrt(var);
    printf("# t=200 (b=%.4f): %ld samples, %ld clamped, mean %.5f, std %.5f, skew %.4f, "
           "kurtosis %.4f\n",
           b, n, clamped, mean, sd, (sum3 / n) / (sd * sd * sd), (sum4 / n) / (var * var));
    /* 196608 samples: the standard error of the mean is 0.0023, of the std 0.0016;
     * 4 standard errors plus the rounding noise. */
    CHECK(fabs(mean) < 0.01, "recovered eps mean ~ 0 (|mean| < 0.01)");
    CHECK(fabs(sd - 1.0) < 0.01, "recovered eps std ~ 1 (|std - 1| < 0.01)");
    CHECK(fabs((sum3 / n) / (sd * sd * sd)) < 0.03, "skewness ~ 0");
    CHECK(fabs((sum4 / n) / (var * var) - 3.0) < 0.06, "kurtosis ~ 3 (normal)");
    /* The image path (table of a*x0, branch-free rounding) equals the formula
     * written out with pv_noise_to_u8, on a ramp of every pixel value. */
    pv_image ramp, noisy_ramp;
    pv_image_alloc(&ramp, 256, 64);
    for (int i = 0; i < 256 * 64 * 3; i++)
        ramp.rgb[i] = (uint8_t)(i * 7);
    float *e = malloc(sizeof(float) * 256 * 64);
    int bad = 0;
    pv_noise_image(&ramp, 0.5f, 0.9f, 3, 4, &noisy_ramp);
    for (int ch = 0; ch < 3; ch++) {
        pv_philox_normals(3, 4, (uint64_t)ch * 256 * 64, e, 256 * 64);
        for (int i = 0; i < 256 * 64; i++) {
            float x0v = (float)ramp.rgb[3 * i + ch] / 255.0f;
            bad += noisy_ramp.rgb[3 * i + ch] != pv_noise_to_u8(0.5f * x0v + 0.9f * e[i]);
        }
    }
    CHECK(bad == 0, "pv_noise_image equals round(clamp(a x0 + b eps)) per pixel");
    free(e);
    pv_image_free(&ramp);
    pv_image_free(&noisy_ramp);
    pv_image noisy2;
    pv_noise_image(&grey, a, b, 1234, pv_fnv1a64("grey", 4), &noisy2);
    CHECK(memcmp(noisy.rgb, noisy2.rgb, (size_t)256 * 256 * 3) == 0, "same (seed, key): same pixels");
    pv_image_free(&noisy2);
    pv_noise_image(&grey, a, b, 1235, pv_fnv1a64("grey", 4), &noisy2);
    CHECK(memcmp(noisy.rgb, noisy2.rgb, (size_t)256 * 256 * 3) != 0, "another seed: other pixels");
    pv_image_free(&noisy2);
    pv_image_free(&noisy);
    pv_image_free(&grey);
    pv_schedule_free(&s);
}

/* linear and cosine against their published closed forms, in float64. */
static void test_other_schedules(void)
{
    pv_schedule lin, cosv;
    CHECK(pv_schedule_make(&lin, PV_SCHEDULE_LINEAR, 1000) == 0, "linear built");
    CHECK(pv_schedule_make(&cosv, PV_SCHEDULE_COSINE, 1000) == 0, "cosine built");
    CHECK(lin.beta[0] == 1e-4f && lin.beta[999] == 0.02f, "linear betas run 1e-4 .. 0.02");
    double prod = 1, worst = 0;
    for (int t = 0; t < 1000; t++) {
        prod *= 1 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
        worst = fmax(worst, fabs(lin.alpha_bar[t] - prod) / prod);
    }
    printf("# linear alpha_bar worst relative error %.3g (alpha_bar[999] = %.3g)\n", worst,
           lin.alpha_bar[999]);
    CHECK(worst < 1e-5, "linear alpha_bar = prod(1 - beta)");
    /* Below the 0.999 clip the cosine alpha_bar is f(t+1)/f(0) exactly (telescoping). */
    worst = 0;
    int clipped = 0;
    for (int t = 0; t < 1000; t++) {
        double f0 = pow(cos(0.008 / 1.008 * M_PI / 2), 2);
        double ft = pow(cos(((t + 1) / 1000.0 + 0.008) / 1.008 * M_PI / 2), 2);
        if (cosv.beta[t] >= 0.999f) {
            clipped++;
            continue;
        }
        worst = fmax(worst, fabs(cosv.alpha_bar[t] - ft / f0) / (ft / f0));
    }
    printf("# cosine alpha_bar worst relative error %.3g, %d clipped betas\n", worst, clipped);
    CHECK(worst < 1e-4, "cosine alpha_bar = f(t+1)/f(0) until the clip");
    CHECK(clipped >= 1 && cosv.beta[999] == 0.999f, "cosine beta clipped at 0.999 at the end");
    pv_schedule_free(&lin);
    pv_schedule_free(&cosv);
}

/* Output names: safe ids kept, anything else made safe and told apart by a hash. */
static void test_file_names(void)
{
    char a[256], b[256], longid[300];
    pv_noise_file_name("000042", "png", a, sizeof a);
    CHECK(strcmp(a, "000042.png") == 0, "a safe id is the file name");
    pv_noise_file_name("a/b", "png", a, sizeof a);
    pv_noise_file_name("a_b", "png", b, sizeof b);
    CHECK(strncmp(a, "a_b-", 4) == 0 && strlen(a) == 4 + 16 + 4 && strcmp(b, "a_b.png") == 0,
          "'/' becomes '_' plus the id's hash; 'a_b' stays as it is");
    pv_noise_file_name("../x", "jpg", a, sizeof a);
    CHECK(strncmp(a, "_._x-", 5) == 0 && strstr(a, ".jpg") && !strchr(a, '/'),
          "a leading '.' and slashes cannot escape the directory");
    pv_noise_file_name("", "png", a, sizeof a);
    CHECK(strncmp(a, "_-", 2) == 0, "an empty id still gets a name");
    pv_noise_file_name("-rf", "png", a, sizeof a);
    CHECK(strncmp(a, "_rf-", 4) == 0, "a leading '-' becomes '_' (no option-like names)");
    memset(longid, 'x', 250);
    longid[250] = '\0';
    pv_noise_file_name(longid, "png", a, sizeof a);
    longid[249] = 'y';
    pv_noise_file_name(longid, "png", b, sizeof b);
    CHECK(strlen(a) == 100 + 1 + 16 + 4 && strcmp(a, b) != 0,
          "long ids are cut at 100 bytes and still differ");
}

int main(void)
{
    test_file_names();
    test_philox_kat();
    test_to_u8();
    test_statistics();
    test_other_schedules();
    const char *shared = getenv("PV_SHARED");
    char fixture[4096];
    snprintf(fixture, sizeof fixture, "%s/fixtures/tiny-llava/golden.safetensors",
             shared ? shared : "../shared");
    FILE *probe = fopen(fixture, "rb");
    if (probe) {
        fclose(probe);
        test_povid_fixture(shared ? shared : "../shared");
    } else {
        printf("ok %d - fixture tests # SKIP %s not found (set PV_SHARED)\n", ++check_count, fixture);
    }
    return check_done();
}
