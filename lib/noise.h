/* POVID's image distortion: forward diffusion noise (POVID.md, "Image distortion").
 *
 *   x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I)
 *
 * on the RGB image as float32 in [0, 1], channels first (C, H, W); t counts from 0
 * as in the authors' code. The noisy pixels are clamp(x_t, 0, 1) * 255 rounded to
 * nearest (ties to even). The authors' torchvision mul(255).byte() wraps instead
 * (-0.30 -> 180, 1.30 -> 75); that is a defect we do not reproduce.
 *
 * Schedules (betas; alpha_bar_t = prod_{s<=t} (1 - beta_s)):
 *   povid   sigmoid(linspace(-6, 6, T)) * (5e-3 - 1e-5) + 1e-5, all in float32 and
 *           the cumulative product in float32, as the authors' torch code computes it
 *   linear  DDPM (Ho et al. 2020): linspace(1e-4, 0.02, T), float64 then stored float32
 *   cosine  Nichol & Dhariwal 2021: alpha_bar(t) = f(t)/f(0),
 *           f(t) = cos(((t/T) + s) / (1 + s) * pi/2)^2, s = 0.008,
 *           beta_t = min(1 - alpha_bar(t+1)/alpha_bar(t), 0.999), float64 then float32
 *
 * The noise eps of element (c, y, x) of an image W pixels wide and H high is
 * normal number c*H*W + y*W + x of the Philox stream (seed, key) (lib/philox.h). */
#ifndef PV_NOISE_H
#define PV_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

enum pv_schedule_kind { PV_SCHEDULE_POVID, PV_SCHEDULE_LINEAR, PV_SCHEDULE_COSINE };

/* "povid", "linear", "cosine", NULL: indexed by enum pv_schedule_kind. */
extern const char *const pv_schedule_names[];

typedef struct pv_schedule {
    enum pv_schedule_kind kind;
    int steps;
    float *beta;      /* [steps] */
    float *alpha_bar; /* [steps] */
} pv_schedule;

/* Builds a schedule of `steps` (>= 2) steps. Returns 0, or -1 when out of memory. */
int pv_schedule_make(pv_schedule *s, enum pv_schedule_kind kind, int steps);
void pv_schedule_free(pv_schedule *s);

/* The two factors of step t, in float32: *a = sqrt(alpha_bar_t), *b = sqrt(1 - alpha_bar_t). */
void pv_noise_coeffs(const pv_schedule *s, int t, float *a, float *b);

/* xt[i] = a * x0[i] + b * eps[i] for i < n, in float32 (x_t before clamping). */
void pv_noise_mix(float a, float b, const float *x0, const float *eps, float *xt, size_t n);

/* One noisy value to an 8-bit pixel: clamp to [0, 1], times 255, round half to even. */
uint8_t pv_noise_to_u8(float x);

/* Noises a whole 8-bit RGB image: out (allocated here, same size) = the pixels of
 * x_t for the factors a, b and the noise of stream (seed, key). Returns 0 or -1
 * (out of memory). */
int pv_noise_image(const pv_image *in, float a, float b, uint64_t seed, uint64_t key,
                   pv_image *out);

/* Loads the image file `path`, noises it as pv_noise_image does and encodes it
 * (fmt, quality as pv_image_encode) into a malloc'd buffer. Thread-safe: it prints
 * nothing. Returns 0, or -1 with the reason in err. */
int pv_noise_encode_file(const char *path, float a, float b, uint64_t seed, uint64_t key,
                         enum pv_image_format fmt, int quality, uint8_t **out, size_t *outlen,
                         char *err, size_t errlen);

/* The file name of a record's noisy image, from its id: the characters A-Z a-z
 * 0-9 . _ - are kept, any other byte becomes '_', a leading '.' or '-' becomes '_',
 * an empty id becomes "_", and the name is cut at 100 bytes; when any of that
 * changed the id, "-" and the 16 hex digits of pv_fnv1a64(id) are appended so that
 * different ids get different names. Then "." and ext. out needs at least
 * 128 + strlen(ext). */
void pv_noise_file_name(const char *id, const char *ext, char *out, size_t outlen);

#endif
