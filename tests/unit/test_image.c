/* Images: decoding against Pillow (tests/data/images, made by make.py there, and the
 * fixture's jpeg_decoded_rgb), PNG/JPEG encoding round trips, and bad input:
 * truncated and corrupt files, absurd headers, files that are not images. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "image.h"
#include "paths.h"
#include "safetensors.h"

/* Decodes tests/data/images/NAME and compares with NAME-without-extension.rgb. */
static void check_against_pillow(const char *name)
{
    char path[512], ref[512], what[256], err[256];
    snprintf(path, sizeof path, "tests/data/images/%s", name);
    snprintf(ref, sizeof ref, "tests/data/images/%.*s.rgb", (int)(strrchr(name, '.') - name), name);
    size_t reflen = 0;
    uint8_t *want = (uint8_t *)pv_read_file(ref, &reflen);
    pv_image img;
    int rc = pv_image_load(path, &img, err, sizeof err);
    snprintf(what, sizeof what, "%s decodes as 13x9 RGB", name);
    if (!CHECK(rc == 0 && img.width == 13 && img.height == 9 && want && reflen == 13 * 9 * 3, what)) {
        if (rc != 0)
            printf("# %s\n", err);
        free(want);
        return;
    }
    int worst = 0, differ = 0;
    for (size_t i = 0; i < reflen; i++) {
        int d = abs(img.rgb[i] - want[i]);
        differ += d != 0;
        worst = d > worst ? d : worst;
    }
    snprintf(what, sizeof what, "%s pixels equal Pillow's (%d differ, worst %d)", name, differ,
             worst);
    CHECK(differ == 0, what);
    pv_image_free(&img);
    free(want);
}

static void test_jpeg_fixture(const char *shared)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/golden.safetensors", shared);
    pv_st_file f;
    if (!CHECK(pv_st_open(path, &f, err, sizeof err) == 0, "golden.safetensors opens"))
        return;
    const pv_st_tensor *t = pv_st_find(&f, "jpeg_decoded_rgb");
    pv_image img;
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/image.jpg", shared);
    int rc = pv_image_load(path, &img, err, sizeof err);
    if (CHECK(t && t->dtype == PV_ST_U8 && rc == 0 && t->numel == (int64_t)img.width * img.height * 3,
              "image.jpg decodes to jpeg_decoded_rgb's shape")) {
        int differ = 0, worst = 0;
        for (int64_t i = 0; i < t->numel; i++) {
            int d = abs(img.rgb[i] - t->data[i]);
            differ += d != 0;
            worst = d > worst ? d : worst;
        }
        printf("# image.jpg: %d of %lld values differ from Pillow's, worst %d\n", differ,
               (long long)t->numel, worst);
        CHECK(differ == 0, "JPEG decode equals Pillow's jpeg_decoded_rgb exactly");
    }
    if (rc == 0)
        pv_image_free(&img);
    pv_st_close(&f);
}

static void make_test_image(pv_image *img, int w, int h)
{
    pv_image_alloc(img, w, h);
    for (int i = 0; i < w * h * 3; i++)
        img->rgb[i] = (uint8_t)((i * 37 + (i / 7) * 11) & 0xff);
}

static void test_roundtrip(void)
{
    pv_image img, back;
    char err[256];
    uint8_t *buf;
    size_t len;
    make_test_image(&img, 31, 17);
    CHECK(pv_image_encode(&img, PV_IMAGE_PNG, 0, &buf, &len, err, sizeof err) == 0, "PNG encodes");
    CHECK(pv_image_decode(buf, len, &back, err, sizeof err) == 0 && back.width == 31 &&
              back.height == 17 && memcmp(back.rgb, img.rgb, 31 * 17 * 3) == 0,
          "PNG round trip is lossless");
    pv_image_free(&back);

    /* Every truncation of a valid PNG is an error, never a crash or a success. */
    int truncated_ok = 0;
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 13)) {
        if (pv_image_decode(buf, cut, &back, err, sizeof err) == 0) {
            truncated_ok++;
            pv_image_free(&back);
        }
    }
    CHECK(truncated_ok == 0, "every truncated PNG is refused");
    pv_image_decode(buf, len / 2, &back, err, sizeof err);
    printf("# truncated PNG: %s\n", err);
    CHECK(strstr(err, "PNG") != NULL, "the message says PNG");
    /* A flipped byte in the IDAT data trips the CRC. */
    buf[len - 20] ^= 0x55;
    CHECK(pv_image_decode(buf, len, &back, err, sizeof err) != 0, "corrupt PNG data is refused");
    printf("# corrupt PNG: %s\n", err);
    free(buf);

    CHECK(pv_image_encode(&img, PV_IMAGE_JPEG, 95, &buf, &len, err, sizeof err) == 0, "JPEG encodes");
    int worst = 0;
    if (CHECK(pv_image_decode(buf, len, &back, err, sizeof err) == 0 && back.width == 31,
              "JPEG decodes")) {
        for (int i = 0; i < 31 * 17 * 3; i++)
            worst = abs(back.rgb[i] - img.rgb[i]) > worst ? abs(back.rgb[i] - img.rgb[i]) : worst;
        pv_image_free(&back);
    }
    printf("# JPEG q95 worst pixel error on a high-frequency pattern: %d\n", worst);
    truncated_ok = 0;
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 17)) {
        if (pv_image_decode(buf, cut, &back, err, sizeof err) == 0) {
            truncated_ok++;
            pv_image_free(&back);
        }
    }
    CHECK(truncated_ok == 0, "every truncated JPEG is refused");
    pv_image_decode(buf, len / 2, &back, err, sizeof err);
    printf("# truncated JPEG: %s\n", err);
    free(buf);
    CHECK(pv_image_encode(&img, PV_IMAGE_JPEG, 0, &buf, &len, err, sizeof err) != 0,
          "JPEG quality 0 refused");
    pv_image_free(&img);
}

/* A PNG whose IHDR says 100000 x 100000: refused from the header. */
static void test_absurd_headers(void)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t png[33];
    memcpy(png, sig, 8);
    uint8_t ihdr[17] = {'I', 'H', 'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};
    png[8] = 0, png[9] = 0, png[10] = 0, png[11] = 13;
    memcpy(png + 12, ihdr, 17);
    uint32_t crc = (uint32_t)crc32(0, ihdr, 17);
    png[29] = (uint8_t)(crc >> 24), png[30] = (uint8_t)(crc >> 16), png[31] = (uint8_t)(crc >> 8);
    png[32] = (uint8_t)crc;
    pv_image img;
    char err[256] = "";
    CHECK(pv_image_decode(png, sizeof png, &img, err, sizeof err) != 0 && img.rgb == NULL,
          "100000x100000 PNG header refused");
    printf("# %s\n", err);
    CHECK(strstr(err, "100000") != NULL || strstr(err, "large") != NULL ||
              strstr(err, "limit") != NULL,
          "the message names the size");

    /* 30000 x 30000 is within the side limit, but 33 bytes cannot hold it. */
    png[16] = 0, png[17] = 0, png[18] = 0x75, png[19] = 0x30; /* width 30000 */
    png[20] = 0, png[21] = 0, png[22] = 0x75, png[23] = 0x30; /* height 30000 */
    crc = (uint32_t)crc32(0, png + 12, 17);
    png[29] = (uint8_t)(crc >> 24), png[30] = (uint8_t)(crc >> 16), png[31] = (uint8_t)(crc >> 8);
    png[32] = (uint8_t)crc;
    CHECK(pv_image_decode(png, sizeof png, &img, err, sizeof err) != 0 && img.rgb == NULL,
          "30000x30000 PNG header with no data refused before allocation");
    printf("# %s\n", err);

    /* A JPEG whose SOF says 65000 x 65000. */
    pv_image small;
    uint8_t *buf;
    size_t len;
    make_test_image(&small, 8, 8);
    pv_image_encode(&small, PV_IMAGE_JPEG, 90, &buf, &len, err, sizeof err);
    pv_image_free(&small);
    for (size_t i = 2; i + 8 < len; i++) {
        if (buf[i] == 0xFF && buf[i + 1] == 0xC0) { /* SOF0: length, precision, height, width */
            buf[i + 5] = 0xFD, buf[i + 6] = 0xE8, buf[i + 7] = 0xFD, buf[i + 8] = 0xE8;
            break;
        }
    }
    CHECK(pv_image_decode(buf, len, &img, err, sizeof err) != 0 && img.rgb == NULL,
          "65000x65000 JPEG header refused");
    printf("# %s\n", err);
    free(buf);

    CHECK(pv_image_decode((const uint8_t *)"GIF89a....", 10, &img, err, sizeof err) != 0 &&
              strcmp(err, "not a JPEG or PNG image") == 0,
          "other formats: 'not a JPEG or PNG image'");
    CHECK(pv_image_decode((const uint8_t *)"", 0, &img, err, sizeof err) != 0, "empty input refused");
    CHECK(pv_image_load("/nonexistent/x.png", &img, err, sizeof err) != 0 &&
              strstr(err, "No such file") != NULL,
          "missing file: the system's reason");
    pv_image huge;
    CHECK(pv_image_alloc(&huge, PV_IMAGE_MAX_SIDE + 1, 1) != 0, "alloc refuses sides over the limit");
}

/* Inputs Pillow cannot write: interlaced and 16-bit RGB PNG, written with libpng. */
static void write_png(const char *path, int w, int h, int depth, int interlace, const uint8_t *rows)
{
    FILE *fp = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, PNG_COLOR_TYPE_RGB, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    size_t stride = (size_t)w * 3 * (size_t)(depth / 8);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++)
            png_write_row(png, rows + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
}

static void test_libpng_variants(void)
{
    char dir[] = "/tmp/pv-test-image.XXXXXX", path[256], err[256];
    if (!mkdtemp(dir))
        return;
    pv_image src, got;
    make_test_image(&src, 23, 11);
    snprintf(path, sizeof path, "%s/interlaced.png", dir);
    write_png(path, 23, 11, 8, PNG_INTERLACE_ADAM7, src.rgb);
    CHECK(pv_image_load(path, &got, err, sizeof err) == 0 &&
              memcmp(got.rgb, src.rgb, 23 * 11 * 3) == 0,
          "Adam7-interlaced PNG decodes to the same pixels");
    pv_image_free(&got);
    remove(path);

    /* 16-bit big-endian samples v; expected 8-bit value round(v / 257). */
    uint8_t *rows16 = malloc(23 * 11 * 6);
    uint8_t *want = malloc(23 * 11 * 3);
    for (int i = 0; i < 23 * 11 * 3; i++) {
        unsigned v = (unsigned)(i * 2654435761u) & 0xffff;
        rows16[2 * i] = (uint8_t)(v >> 8), rows16[2 * i + 1] = (uint8_t)v;
        want[i] = (uint8_t)((v * 2 + 257) / 514); /* round(v/257); v/257 is never a tie */
    }
    snprintf(path, sizeof path, "%s/rgb16.png", dir);
    write_png(path, 23, 11, 16, PNG_INTERLACE_NONE, rows16);
    CHECK(pv_image_load(path, &got, err, sizeof err) == 0 && memcmp(got.rgb, want, 23 * 11 * 3) == 0,
          "16-bit RGB PNG scales to 8 bits with rounding");
    pv_image_free(&got);
    remove(path);
    free(rows16);
    free(want);
    pv_image_free(&src);

    /* save: atomic file, and an unwritable place is an error. */
    make_test_image(&src, 5, 4);
    snprintf(path, sizeof path, "%s/out.png", dir);
    CHECK(pv_image_save(path, &src, PV_IMAGE_PNG, 0, err, sizeof err) == 0 &&
              pv_image_load(path, &got, err, sizeof err) == 0 && memcmp(got.rgb, src.rgb, 60) == 0,
          "pv_image_save writes a PNG that loads back");
    pv_image_free(&got);
    remove(path);
    CHECK(pv_image_save("/nonexistent/dir/x.png", &src, PV_IMAGE_PNG, 0, err, sizeof err) != 0,
          "pv_image_save into a missing directory fails");
    pv_image_free(&src);
    rmdir(dir);
}

int main(void)
{
    const char *names[] = {"rgb.png", "grey.png", "grey1.png", "rgba.png", "grey_alpha.png",
                           "palette.png", "palette_trns.png", "grey16.png", "grey_jpeg.jpg", "cmyk_jpeg.jpg",
                           "progressive.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_against_pillow(names[i]);
    test_roundtrip();
    test_absurd_headers();
    test_libpng_variants();
    const char *shared = getenv("PV_SHARED");
    char fixture[4096];
    snprintf(fixture, sizeof fixture, "%s/fixtures/tiny-llava/image.jpg", shared ? shared : "../shared");
    FILE *probe = fopen(fixture, "rb");
    if (probe) {
        fclose(probe);
        test_jpeg_fixture(shared ? shared : "../shared");
    } else {
        printf("ok %d - Pillow JPEG fixture # SKIP %s not found (set PV_SHARED)\n", ++check_count,
               fixture);
    }
    return check_done();
}
