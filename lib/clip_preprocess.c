/* CLIP preprocessing: expand2square, Pillow's bicubic resize, centre crop, normalisation.
 * The resize reproduces Pillow's Resample.c arithmetic (facts taken from its public
 * source: filter, support, coefficient rounding, accumulator start and clamp), so that
 * the 8-bit result is identical, not merely close. */
#include "clip_preprocess.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pv_image_aspect_names[] = {"pad", "resize", "crop", NULL};
/* int(x * 255) of CLIP's mean, as LLaVA computes its background colour. */
const unsigned char pv_clip_pad_colour[3] = {122, 116, 104};
const double pv_clip_mean[3] = {0.48145466, 0.4578275, 0.40821073};
const double pv_clip_std[3] = {0.26862954, 0.26130258, 0.27577711};

/* Pillow's fixed point for 8-bit images: 32 bits less 8 for the pixel, less 2 of headroom. */
enum { PRECISION_BITS = 32 - 8 - 2 };

int pv_clip_pad_square(const pv_image *in, pv_image *out)
{
    int w = in->width, h = in->height, side = w > h ? w : h;
    memset(out, 0, sizeof *out);
    if (pv_image_alloc(out, side, side) != 0)
        return -1;
    size_t n = (size_t)side * side;
    for (size_t i = 0; i < n; i++)
        memcpy(out->rgb + 3 * i, pv_clip_pad_colour, 3);
    /* expand2square pastes at (0, (w - h) // 2) or ((h - w) // 2, 0): floor division of
     * non-negative numbers, so C's division agrees. */
    int x0 = (side - w) / 2, y0 = (side - h) / 2;
    for (int y = 0; y < h; y++)
        memcpy(out->rgb + ((size_t)(y + y0) * side + x0) * 3, in->rgb + (size_t)y * w * 3,
               (size_t)w * 3);
    return 0;
}

/* Keys' cubic convolution kernel with a = -0.5 (Pillow's bicubic_filter), support 2. */
static double bicubic_kernel(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* For each output index: the first input index, the number of taps, and ksize
 * fixed-point weights. */
typedef struct resample_taps {
    int ksize;
    int *first, *count;
    int32_t *weight;
} resample_taps;

static void taps_free(resample_taps *t)
{
    free(t->first);
    free(t->count);
    free(t->weight);
}

/* Pillow's precompute_coeffs followed by normalize_coeffs_8bpc, for the box [0, in_size). */
static int taps_compute(int in_size, int out_size, resample_taps *t)
{
    double scale = (double)in_size / out_size;
    /* Shrinking widens the kernel so that every input pixel contributes (antialiasing). */
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    t->ksize = ksize;
    t->first = malloc(sizeof(int) * (size_t)out_size);
    t->count = malloc(sizeof(int) * (size_t)out_size);
    t->weight = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)ksize);
    if (!t->first || !t->count || !t->weight || !w) {
        free(w);
        taps_free(t);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5); /* Pillow rounds by truncating x + 0.5 */
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double sum = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic_kernel((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t *k = t->weight + (size_t)xx * ksize;
        for (int x = 0; x < xmax; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            /* Round half away from zero into 22 fraction bits. */
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS)
                                   : 0.5 + v * (1 << PRECISION_BITS));
        }
        t->first[xx] = xmin;
        t->count[xx] = xmax;
    }
    free(w);
    return 0;
}

/* Accumulator to 8 bits: start at one half (added by the caller), shift, clamp. */
static inline uint8_t clip8(int32_t acc)
{
    int32_t v = acc >> PRECISION_BITS; /* arithmetic shift: negatives stay negative */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass over rows [row0, row0 + out->height) of `in`. */
static void pass_horizontal(const pv_image *in, int row0, const resample_taps *t, pv_image *out)
{
    int ow = out->width;
#pragma omp parallel for schedule(static) if ((size_t)out->height * ow > 65536)
    for (int y = 0; y < out->height; y++) {
        const uint8_t *src = in->rgb + (size_t)(y + row0) * in->width * 3;
        uint8_t *dst = out->rgb + (size_t)y * ow * 3;
        for (int x = 0; x < ow; x++) {
            const int32_t *k = t->weight + (size_t)x * t->ksize;
            const uint8_t *s = src + (size_t)t->first[x] * 3;
            int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
            for (int i = 0; i < t->count[x]; i++) {
                r += s[3 * i] * k[i];
                g += s[3 * i + 1] * k[i];
                b += s[3 * i + 2] * k[i];
            }
            dst[3 * x] = clip8(r);
            dst[3 * x + 1] = clip8(g);
            dst[3 * x + 2] = clip8(b);
        }
    }
}

/* Vertical pass; t->first is relative to the first row of `in`. */
static void pass_vertical(const pv_image *in, const resample_taps *t, pv_image *out)
{
    int w = out->width;
    size_t stride = (size_t)in->width * 3;
#pragma omp parallel for schedule(static) if ((size_t)out->height * w > 65536)
    for (int y = 0; y < out->height; y++) {
        const int32_t *k = t->weight + (size_t)y * t->ksize;
        const uint8_t *src = in->rgb + (size_t)t->first[y] * stride;
        uint8_t *dst = out->rgb + (size_t)y * w * 3;
        for (int x = 0; x < w * 3; x++) {
            int32_t acc = 1 << (PRECISION_BITS - 1);
            for (int i = 0; i < t->count[y]; i++)
                acc += src[(size_t)i * stride + x] * k[i];
            dst[x] = clip8(acc);
        }
    }
}

static int copy_image(const pv_image *in, pv_image *out)
{
    if (pv_image_alloc(out, in->width, in->height) != 0)
        return -1;
    memcpy(out->rgb, in->rgb, (size_t)in->width * in->height * 3);
    return 0;
}

int pv_resize_bicubic(const pv_image *in, int width, int height, pv_image *out)
{
    memset(out, 0, sizeof *out);
    if (width < 1 || height < 1 || in->width < 1 || in->height < 1)
        return -1;
    bool need_h = width != in->width, need_v = height != in->height;
    if (!need_h && !need_v)
        return copy_image(in, out);
    resample_taps th = {0}, tv = {0};
    if (taps_compute(in->width, width, &th) != 0)
        return -1;
    if (taps_compute(in->height, height, &tv) != 0) {
        taps_free(&th);
        return -1;
    }
    int rc = -1;
    pv_image tmp = {0};
    const pv_image *src = in;
    if (need_h) {
        /* Only the input rows the vertical pass reads are resampled horizontally. */
        int row0 = tv.first[0];
        int row1 = tv.first[height - 1] + tv.count[height - 1];
        if (!need_v)
            row0 = 0, row1 = in->height;
        if (pv_image_alloc(&tmp, width, row1 - row0) != 0)
            goto done;
        pass_horizontal(in, row0, &th, &tmp);
        for (int y = 0; y < height; y++)
            tv.first[y] -= row0;
        src = &tmp;
    }
    if (need_v) {
        if (pv_image_alloc(out, width, height) != 0)
            goto done;
        pass_vertical(src, &tv, out);
    } else {
        *out = tmp; /* the horizontal result is the answer */
        tmp.rgb = NULL;
    }
    rc = 0;
done:
    if (tmp.rgb)
        pv_image_free(&tmp);
    taps_free(&th);
    taps_free(&tv);
    return rc;
}

int pv_clip_resize_shortest(const pv_image *in, int size, pv_image *out)
{
    int w = in->width, h = in->height;
    int shortest = w <= h ? w : h, longest = w <= h ? h : w;
    /* transformers: int(size * long / short), a float division truncated. */
    int new_long = (int)((double)size * longest / shortest);
    if (w <= h)
        return pv_resize_bicubic(in, size, new_long, out);
    return pv_resize_bicubic(in, new_long, size, out);
}

int pv_clip_center_crop(const pv_image *in, int size, pv_image *out)
{
    memset(out, 0, sizeof *out);
    if (in->width < size || in->height < size || size < 1)
        return -1;
    if (pv_image_alloc(out, size, size) != 0)
        return -1;
    int top = (in->height - size) / 2, left = (in->width - size) / 2;
    for (int y = 0; y < size; y++)
        memcpy(out->rgb + (size_t)y * size * 3,
               in->rgb + ((size_t)(y + top) * in->width + left) * 3, (size_t)size * 3);
    return 0;
}

void pv_clip_normalize(const pv_image *img, float *chw)
{
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++) {
        /* One table per channel: the 256 possible values, computed in double. */
        float table[256];
        for (int v = 0; v < 256; v++)
            table[v] = (float)((v / 255.0 - pv_clip_mean[c]) / pv_clip_std[c]);
        float *dst = chw + c * plane;
        for (size_t i = 0; i < plane; i++)
            dst[i] = table[img->rgb[3 * i + c]];
    }
}

int pv_clip_preprocess(const pv_image *img, int size, enum pv_image_aspect aspect, float *chw,
                       char *err, size_t errlen)
{
    if (img->width < 1 || img->height < 1) {
        snprintf(err, errlen, "empty image");
        return -1;
    }
    pv_image padded = {0}, resized = {0}, cropped = {0};
    int rc = -1;
    const pv_image *src = img;
    if (aspect == PV_ASPECT_PAD) {
        if (pv_clip_pad_square(img, &padded) != 0)
            goto oom;
        src = &padded;
    }
    if (aspect == PV_ASPECT_RESIZE) {
        if (pv_resize_bicubic(src, size, size, &cropped) != 0)
            goto oom;
    } else {
        if (pv_clip_resize_shortest(src, size, &resized) != 0 ||
            pv_clip_center_crop(&resized, size, &cropped) != 0)
            goto oom;
    }
    pv_clip_normalize(&cropped, chw);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory preprocessing a %dx%d image", img->width, img->height);
done:
    if (padded.rgb)
        pv_image_free(&padded);
    if (resized.rgb)
        pv_image_free(&resized);
    if (cropped.rgb)
        pv_image_free(&cropped);
    return rc;
}

int pv_clip_preprocess_file(const char *path, int size, enum pv_image_aspect aspect, float *chw,
                            char *err, size_t errlen)
{
    pv_image img = {0};
    if (pv_image_load(path, &img, err, errlen) != 0)
        return -1;
    int rc = pv_clip_preprocess(&img, size, aspect, chw, err, errlen);
    pv_image_free(&img);
    return rc;
}
