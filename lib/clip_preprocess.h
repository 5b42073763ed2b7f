/* CLIP image preprocessing as LLaVA-1.5 does it, bit for bit where Pillow is involved.
 *
 *   pad     (POVID, LLaVA's image_aspect_ratio "pad"): paste the image on a square of
 *           the CLIP mean colour (122, 116, 104), offset (long - short) / 2 on the short
 *           side (LLaVA's expand2square), then the CLIP steps below;
 *   crop    CLIPImageProcessor alone: shortest side to S (long side S * long / short,
 *           truncated), centre crop S x S;
 *   resize  no padding, no crop: a plain resize to S x S.
 * Every resize is Pillow's BICUBIC (pv_resize_bicubic); the crop after "pad" is a no-op
 * but runs anyway. Then x / 255, minus the CLIP mean, over the CLIP std, channels first. */
#ifndef PV_CLIP_PREPROCESS_H
#define PV_CLIP_PREPROCESS_H

#include <stddef.h>

#include "image.h"

enum pv_image_aspect { PV_ASPECT_PAD, PV_ASPECT_RESIZE, PV_ASPECT_CROP };

/* "pad", "resize", "crop", NULL-terminated, in enum order (for pv_parse_choice). */
extern const char *const pv_image_aspect_names[];

extern const unsigned char pv_clip_pad_colour[3];
extern const double pv_clip_mean[3], pv_clip_std[3];

/* LLaVA's expand2square: a square copy padded with pv_clip_pad_colour. 0, or -1 (memory). */
int pv_clip_pad_square(const pv_image *in, pv_image *out);

/* Pillow's Image.resize(size, BICUBIC) on 8-bit RGB: Keys' cubic with a = -0.5, support
 * widened by the scale when shrinking, two separable passes (horizontal first), 8-bit
 * fixed-point coefficients with 22 fraction bits, rounding and clamping as Pillow's
 * Resample.c does. A pass whose size does not change is skipped, as Pillow skips it.
 * 0, or -1 (memory, or a size below 1). */
int pv_resize_bicubic(const pv_image *in, int width, int height, pv_image *out);

/* CLIPImageProcessor's resize: shortest side to `size`, long side int(size * long / short). */
int pv_clip_resize_shortest(const pv_image *in, int size, pv_image *out);

/* Centre crop to size x size, top-left at ((h - size) / 2, (w - size) / 2); both sides must
 * be at least `size` (they are after pv_clip_resize_shortest). 0, or -1. */
int pv_clip_center_crop(const pv_image *in, int size, pv_image *out);

/* size x size RGB -> channels-first floats, (v / 255 - mean[c]) / std[c]. */
void pv_clip_normalize(const pv_image *img, float *chw);

/* The whole pipeline on a decoded image: writes 3 x size x size floats to chw.
 * 0, or -1 with a message in err. */
int pv_clip_preprocess(const pv_image *img, int size, enum pv_image_aspect aspect, float *chw,
                       char *err, size_t errlen);

/* Loads (lib/image), then pv_clip_preprocess. The message does not repeat the path. */
int pv_clip_preprocess_file(const char *path, int size, enum pv_image_aspect aspect, float *chw,
                            char *err, size_t errlen);

#endif
