/* CLIP preprocessing against the fixtures' Pillow / transformers outputs
 * (../shared/fixtures/tiny-llava/golden.safetensors): padding and resize exactly,
 * pixel values computed through Pillow within float rounding, those of transformers'
 * CLIPImageProcessor (a torchvision resize) within one 8-bit level, JPEG decode exactly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clip_preprocess.h"
#include "image.h"
#include "safetensors.h"

static char fixture[1024];
static pv_st_file golden;

static const char *fixture_path(const char *name)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", fixture, name);
    return path;
}

/* Bytes of `img` against a U8 golden tensor [h][w][3]: true when identical; prints the
 * number of differing bytes and the largest difference otherwise. */
static int same_rgb(const pv_image *img, const char *name)
{
    const pv_st_tensor *t = pv_st_find(&golden, name);
    if (!t || t->dtype != PV_ST_U8 || t->ndim != 3 || t->shape[0] != img->height ||
        t->shape[1] != img->width || t->shape[2] != 3) {
        printf("# %s: missing or shape differs from %dx%dx3\n", name, img->height, img->width);
        return 0;
    }
    long differ = 0;
    int worst = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        int d = abs((int)img->rgb[i] - (int)t->data[i]);
        differ += d != 0;
        worst = d > worst ? d : worst;
    }
    printf("# %s: %ld of %lld bytes differ, worst by %d\n", name, differ, (long long)t->numel,
           worst);
    return differ == 0;
}

/* Floats against a F32 golden tensor: worst |got - want| / max(|want|, 1) must stay
 * under tol (values are O(1); the division spares near-zero entries a meaningless
 * relative error). */
static int close_floats(const float *got, size_t n, const char *name, double tol)
{
    const pv_st_tensor *t = pv_st_find(&golden, name);
    if (!t || t->dtype != PV_ST_F32 || (size_t)t->numel != n) {
        printf("# %s: missing or not %zu floats\n", name, n);
        return 0;
    }
    float *want = malloc(n * sizeof *want);
    char err[256];
    pv_st_to_f32(t, want, err, sizeof err);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = fabs(want[i]) > 1 ? fabs(want[i]) : 1;
        double e = fabs((double)got[i] - want[i]) / scale;
        if (e > worst)
            worst = e, at = i;
    }
    printf("# %s: worst relative error %.3g at %zu (got %.9g want %.9g)\n", name, worst, at,
           got[at], want[at]);
    free(want);
    return worst <= tol;
}

/* Pixel values against a reference whose resize is not Pillow's (transformers 5's
 * CLIPImageProcessor resizes with torchvision, antialiased bicubic in float, then
 * rounds): the difference is measured in 8-bit levels, |got - want| * std * 255.
 * Passes when no value is off by more than one level; prints how many are off. */
static int within_one_level(const float *got, const char *name)
{
    const pv_st_tensor *t = pv_st_find(&golden, name);
    size_t plane = 56 * 56;
    if (!t || t->dtype != PV_ST_F32 || (size_t)t->numel != 3 * plane) {
        printf("# %s: missing or not 3x56x56 floats\n", name);
        return 0;
    }
    float *want = malloc(3 * plane * sizeof *want);
    char err[256];
    pv_st_to_f32(t, want, err, sizeof err);
    double worst = 0;
    long off = 0;
    for (size_t i = 0; i < 3 * plane; i++) {
        double levels = fabs((double)got[i] - want[i]) * pv_clip_std[i / plane] * 255;
        off += levels > 1e-3;
        worst = levels > worst ? levels : worst;
    }
    printf("# %s: %ld of %zu values differ, worst by %.4f 8-bit levels\n", name, off, 3 * plane,
           worst);
    free(want);
    return worst <= 1 + 1e-3;
}

static int load(const char *name, pv_image *img)
{
    char err[256];
    if (pv_image_load(fixture_path(name), img, err, sizeof err) != 0) {
        printf("# %s: %s\n", name, err);
        return 0;
    }
    return 1;
}

/* The fixtures hold one resize (97 -> 56, shrinking). Differential test against Pillow
 * itself (/usr/bin/python3 with PIL) on random images and sizes, growing and shrinking,
 * each axis alone and both: every byte must match. Skipped when Pillow is absent. */
static void check_against_pillow(void)
{
    if (system("/usr/bin/python3 -c 'import PIL' 2>/dev/null") != 0) {
        printf("ok %d - # SKIP /usr/bin/python3 has no Pillow\n", ++check_count);
        return;
    }
    char dir[] = "/tmp/pv-test-resize.XXXXXX";
    if (!mkdtemp(dir))
        return;
    static const int sizes[][4] = {
        {97, 61, 336, 336}, {61, 97, 336, 336}, {5, 3, 17, 29}, {640, 480, 336, 252},
        {300, 40, 37, 40}, {40, 300, 40, 37}, {123, 77, 1, 1}, {1, 1, 9, 4},
        {336, 336, 224, 224}, {1000, 13, 56, 3},
    };
    unsigned seed = 12345;
    long differ = 0, total = 0;
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        pv_image in = {0}, out = {0};
        pv_image_alloc(&in, sizes[t][0], sizes[t][1]);
        size_t n = (size_t)in.width * in.height * 3;
        /* Smooth gradients plus noise: both flat and sharp regions. */
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in.rgb[i] = (uint8_t)((i % 3 == 0 ? (i / 3) % 256 : 0) + ((seed >> 16) & 0x7f));
        }
        char raw[256], ref[256], cmd[1024];
        snprintf(raw, sizeof raw, "%s/in.raw", dir);
        snprintf(ref, sizeof ref, "%s/ref.raw", dir);
        FILE *f = fopen(raw, "wb");
        fwrite(in.rgb, 1, n, f);
        fclose(f);
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"from PIL import Image; import sys; "
                 "im = Image.frombytes('RGB', (%d, %d), open('%s', 'rb').read()); "
                 "open('%s', 'wb').write(im.resize((%d, %d), Image.BICUBIC).tobytes())\"",
                 in.width, in.height, raw, ref, sizes[t][2], sizes[t][3]);
        if (system(cmd) != 0 || pv_resize_bicubic(&in, sizes[t][2], sizes[t][3], &out) != 0) {
            differ++;
            pv_image_free(&in);
            continue;
        }
        size_t m = (size_t)out.width * out.height * 3;
        uint8_t *want = malloc(m);
        f = fopen(ref, "rb");
        size_t got = f ? fread(want, 1, m, f) : 0;
        if (f)
            fclose(f);
        long d = got == m ? 0 : (long)m;
        for (size_t i = 0; i < got; i++)
            d += out.rgb[i] != want[i];
        if (d)
            printf("# %dx%d -> %dx%d: %ld bytes differ from Pillow\n", sizes[t][0], sizes[t][1],
                   sizes[t][2], sizes[t][3], d);
        differ += d;
        total += (long)m;
        free(want);
        pv_image_free(&in);
        pv_image_free(&out);
        unlink(raw);
        unlink(ref);
    }
    rmdir(dir);
    printf("# Pillow differential: %ld of %ld bytes differ over %zu resizes\n", differ, total,
           sizeof sizes / sizeof *sizes);
    CHECK(differ == 0, "bicubic resize identical to Pillow's on 10 random images and sizes");
}

/* What the fixtures do not cover: shapes of the non-square paths. */
static void check_shapes(void)
{
    pv_image img = {0}, out = {0};
    pv_image_alloc(&img, 7, 3);
    for (int i = 0; i < 7 * 3 * 3; i++)
        img.rgb[i] = (uint8_t)(i * 37);
    CHECK(pv_clip_pad_square(&img, &out) == 0 && out.width == 7 && out.height == 7,
          "7x3 pads to 7x7");
    /* (7 - 3) // 2 = 2 rows of padding above, 2 below. */
    CHECK(memcmp(out.rgb, pv_clip_pad_colour, 3) == 0 &&
              memcmp(out.rgb + 2 * 7 * 3, img.rgb, 7 * 3) == 0 &&
              memcmp(out.rgb + 4 * 7 * 3, img.rgb + 2 * 7 * 3, 7 * 3) == 0 &&
              memcmp(out.rgb + 5 * 7 * 3 + 18, pv_clip_pad_colour, 3) == 0,
          "image pasted at row (7-3)//2, mean colour around it");
    pv_image_free(&out);
    CHECK(pv_clip_resize_shortest(&img, 5, &out) == 0 && out.width == 11 && out.height == 5,
          "shortest side 3 -> 5 gives int(5 * 7 / 3) = 11 x 5");
    pv_image crop = {0};
    CHECK(pv_clip_center_crop(&out, 5, &crop) == 0 && crop.width == 5 &&
              memcmp(crop.rgb, out.rgb + 3 * 3, 15) == 0,
          "centre crop starts at column (11 - 5) // 2 = 3");
    pv_image_free(&crop);
    pv_image_free(&out);
    CHECK(pv_resize_bicubic(&img, 7, 3, &out) == 0 && memcmp(out.rgb, img.rgb, 63) == 0,
          "resize to the same size is a copy");
    pv_image_free(&out);
    float chw[3 * 4 * 4];
    char err[128];
    CHECK(pv_clip_preprocess(&img, 4, PV_ASPECT_RESIZE, chw, err, sizeof err) == 0,
          "--image-aspect resize on a 7x3 image");
    CHECK(pv_clip_preprocess(&img, 4, PV_ASPECT_CROP, chw, err, sizeof err) == 0,
          "--image-aspect crop on a 7x3 image");
    pv_image_free(&img);
}

int main(void)
{
    const char *shared = getenv("PV_SHARED");
    snprintf(fixture, sizeof fixture, "%s/fixtures/tiny-llava", shared ? shared : "../shared");
    char err[512];
    if (pv_st_open(fixture_path("golden.safetensors"), &golden, err, sizeof err) != 0)
        return check_skip_all("../shared fixtures not found (set PV_SHARED)");

    enum { S = 56 };
    float px[3 * S * S];
    pv_image png = {0}, square = {0}, resized = {0};
    CHECK(load("image.png", &png) && png.width == 97 && png.height == 61, "image.png decodes, 97x61");
    CHECK(pv_clip_pad_square(&png, &square) == 0, "pad to square");
    CHECK(same_rgb(&square, "square_rgb"), "square_rgb identical");
    CHECK(pv_resize_bicubic(&square, S, S, &resized) == 0, "bicubic 97 -> 56");
    CHECK(same_rgb(&resized, "resized_rgb_pil_bicubic"), "resized_rgb_pil_bicubic identical");

    /* Both references start from the same 8-bit pixels; the only error left is the
     * rounding of (v/255 - mean)/std to float: about 1e-7 relative. */
    CHECK(pv_clip_preprocess(&png, S, PV_ASPECT_PAD, px, err, sizeof err) == 0, "preprocess image.png");
    CHECK(close_floats(px, sizeof px / sizeof *px, "pixel_values_pil", 1e-6), "pixel_values_pil");
    CHECK(within_one_level(px, "pixel_values"), "pixel_values (torchvision resize) within one level");

    pv_image jpg = {0};
    CHECK(load("image.jpg", &jpg) && same_rgb(&jpg, "jpeg_decoded_rgb"), "jpeg_decoded_rgb identical");
    CHECK(pv_clip_preprocess_file(fixture_path("image.jpg"), S, PV_ASPECT_PAD, px, err, sizeof err) == 0 &&
              within_one_level(px, "pixel_values_from_jpeg"),
          "pixel_values_from_jpeg within one level");
    CHECK(pv_clip_preprocess_file(fixture_path("image_noisy.png"), S, PV_ASPECT_PAD, px, err, sizeof err) == 0 &&
              within_one_level(px, "pixel_values_noisy"),
          "pixel_values_noisy within one level");
    CHECK(pv_clip_preprocess_file(fixture_path("missing.png"), S, PV_ASPECT_PAD, px, err, sizeof err) != 0 &&
              err[0],
          "a missing file is an error with a message");
    if (png.rgb)
        pv_image_free(&png);
    if (jpg.rgb)
        pv_image_free(&jpg);
    pv_image_free(&square);
    pv_image_free(&resized);

    check_shapes();
    check_against_pillow();
    pv_st_close(&golden);
    return check_done();
}
