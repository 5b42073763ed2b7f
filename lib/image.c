/* Image decoding and encoding (lib/image.h): TurboJPEG for JPEG, libpng for PNG.
 *
 * Both decoders read the header first and refuse absurd sizes before allocating
 * pixel memory. libpng reports errors by longjmp; every libpng call below runs
 * under a setjmp so that corrupt data becomes an error message, never an exit. */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "diag.h"
#include "outfile.h"

/* PNG output: no filter and zlib's Huffman-only strategy. Noisy pixels have no
 * repeats for LZ77 to find: on a 640x480 photo at POVID's t=500 this is both the
 * fastest and the smallest of the usual choices (about 3x faster and 18% smaller
 * than level 1 with the Sub filter, 5x faster than Pillow's default level 6). */
#define PNG_ZLIB_LEVEL 1
#define PNG_ZLIB_STRATEGY Z_HUFFMAN_ONLY
#define PNG_FILTERS PNG_FILTER_NONE

/* A header that promises more pixels than the data could possibly hold is refused
 * before allocation when the image is large (> 64 Mpixels): a few bytes must not
 * make us allocate gigabytes. Deflate expands at most 1032:1; a Huffman-coded JPEG
 * needs at least one bit per 8x8 block of each scan. Smaller images are always
 * decoded (and rejected by the decoder when truncated). */
#define LARGE_IMAGE_PIXELS (64ull << 20)

int pv_image_alloc(pv_image *img, int width, int height)
{
    img->width = img->height = 0;
    img->rgb = NULL;
    if (width <= 0 || height <= 0 || width > PV_IMAGE_MAX_SIDE || height > PV_IMAGE_MAX_SIDE)
        return -1;
    img->rgb = malloc((size_t)width * (size_t)height * 3);
    if (!img->rgb)
        return -1;
    img->width = width;
    img->height = height;
    return 0;
}

void pv_image_free(pv_image *img)
{
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

static int check_size(unsigned long long w, unsigned long long h, char *err, size_t errlen)
{
    if (w == 0 || h == 0) {
        pv_set_err(err, errlen, "image has zero size (%llux%llu)", w, h);
        return -1;
    }
    if (w > PV_IMAGE_MAX_SIDE || h > PV_IMAGE_MAX_SIDE) {
        pv_set_err(err, errlen, "image too large: %llux%llu (the limit is %d pixels per side)", w, h,
                PV_IMAGE_MAX_SIDE);
        return -1;
    }
    return 0;
}

/* ---- JPEG ---------------------------------------------------------------- */

/* Pillow's CMYK to RGB: Adobe JPEGs store inverted CMYK, so the decoded value
 * v = 255 - ink, and R = (255 - K) - (C * (255 - K)) / 255 with ink values. */
static uint8_t muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++) {
        unsigned k = cmyk[4 * i + 3]; /* = 255 - K ink */
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (uint8_t)(k - muldiv255(255u - cmyk[4 * i + c], k));
    }
}

static int decode_jpeg(const uint8_t *data, size_t len, pv_image *img, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        pv_set_err(err, errlen, "cannot start the JPEG decoder");
        return -1;
    }
    int rc = -1;
    uint8_t *cmyk = NULL;
    int w, h, subsamp, colorspace;
    if (len > ULONG_MAX ||
        tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
        pv_set_err(err, errlen, "corrupt JPEG: %s", tjGetErrorStr2(tj));
        goto out;
    }
    if (check_size((unsigned long long)w, (unsigned long long)h, err, errlen) != 0)
        goto out;
    unsigned long long pixels = (unsigned long long)w * (unsigned long long)h;
    if (pixels > LARGE_IMAGE_PIXELS && pixels / 64 > 8ull * len) {
        pv_set_err(err, errlen, "corrupt JPEG: %dx%d pixels cannot fit in %zu bytes", w, h, len);
        goto out;
    }
    if (pv_image_alloc(img, w, h) != 0) {
        pv_set_err(err, errlen, "out of memory for a %dx%d image", w, h);
        goto out;
    }
    /* Accurate integer DCT and fancy upsampling: libjpeg's defaults, which Pillow
     * uses too, so pixels match Pillow's. LIMITSCANS stops progressive-scan bombs. */
    int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
    int ok;
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
        cmyk = malloc((size_t)w * (size_t)h * 4);
        if (!cmyk) {
            pv_set_err(err, errlen, "out of memory for a %dx%d image", w, h);
            goto out;
        }
        ok = tjDecompress2(tj, data, (unsigned long)len, cmyk, w, 0, h, TJPF_CMYK, flags) == 0;
    } else {
        ok = tjDecompress2(tj, data, (unsigned long)len, img->rgb, w, 0, h, TJPF_RGB, flags) == 0;
    }
    /* Warnings (extraneous bytes, ...) leave a usable image, except running out of
     * data: a truncated file must not pass as an image with a grey bottom. */
    if (!ok) {
        const char *msg = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(msg, "Premature end")) {
            pv_set_err(err, errlen, "corrupt JPEG: %s", msg);
            goto out;
        }
    }
    if (cmyk)
        cmyk_to_rgb(cmyk, img->rgb, (size_t)w * (size_t)h);
    rc = 0;
out:
    if (rc != 0)
        pv_image_free(img);
    free(cmyk);
    tjDestroy(tj);
    return rc;
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct png_io {
    const uint8_t *data;
    size_t len, pos;
    char msg[200];
    jmp_buf jmp;
} png_io;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_io *io = png_get_error_ptr(png);
    snprintf(io->msg, sizeof io->msg, "%s", msg);
    longjmp(io->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* ancillary-chunk complaints; the pixels are fine */
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_io *io = png_get_io_ptr(png);
    if (n > io->len - io->pos)
        png_error(png, "file is truncated");
    memcpy(out, io->data + io->pos, n);
    io->pos += n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int decode_png(const uint8_t *data, size_t len, pv_image *img, char *err, size_t errlen)
{
    /* Size from IHDR (always the first chunk) before libpng sees it, so that an
     * absurd header gets a message that names the size. */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0 &&
        check_size(be32(data + 16), be32(data + 20), err, errlen) != 0)
        return -1;
    png_io io = {.data = data, .len = len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        pv_set_err(err, errlen, "cannot start the PNG decoder");
        return -1;
    }
    /* Written after setjmp, read after longjmp: volatile. */
    png_bytep *volatile rows = NULL;
    if (setjmp(io.jmp)) {
        pv_set_err(err, errlen, "corrupt PNG: %s", io.msg);
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        pv_image_free(img);
        return -1;
    }
    png_set_read_fn(png, &io, png_read_mem);
    png_set_user_limits(png, PV_IMAGE_MAX_SIDE, PV_IMAGE_MAX_SIDE);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (check_size(w, h, err, errlen) != 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    unsigned long long raw = ((unsigned long long)w * (unsigned)png_get_channels(png, info) * (unsigned)depth + 7) / 8 * h;
    if ((unsigned long long)w * h > LARGE_IMAGE_PIXELS && raw / 1032 > len) {
        pv_set_err(err, errlen, "corrupt PNG: %ux%u pixels cannot fit in %zu bytes", (unsigned)w, (unsigned)h, len);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    /* Everything to 8-bit RGB: palette and low-depth grey expanded, 16 bits scaled
     * with rounding (not truncated), grey replicated, alpha dropped (as Pillow's
     * convert("RGB"), which LLaVA's loader uses). */
    png_set_expand(png);
    png_set_scale_16(png);
    png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected pixel layout after conversion");
    if (pv_image_alloc(img, (int)w, (int)h) != 0) {
        pv_set_err(err, errlen, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    rows = malloc(sizeof *rows * h);
    if (!rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = img->rgb + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    return 0;
}

int pv_image_decode(const uint8_t *data, size_t len, pv_image *img, char *err, size_t errlen)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    img->width = img->height = 0;
    img->rgb = NULL;
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, len, img, err, errlen);
    if (len >= 8 && memcmp(data, png_magic, 8) == 0)
        return decode_png(data, len, img, err, errlen);
    pv_set_err(err, errlen, "not a JPEG or PNG image");
    return -1;
}

/* ---- files --------------------------------------------------------------- */

static int read_all(FILE *f, uint8_t **out, size_t *outlen)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* Called from worker threads: strerror_r (GNU form, as _GNU_SOURCE selects), not strerror. */
int pv_image_load(const char *path, pv_image *img, char *err, size_t errlen)
{
    img->width = img->height = 0;
    img->rgb = NULL;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        char why[128];
        pv_set_err(err, errlen, "cannot open: %s", strerror_r(errno, why, sizeof why));
        return -1;
    }
    uint8_t *data;
    size_t len;
    errno = 0;
    int rc = read_all(f, &data, &len);
    int saved = errno;
    if (!is_stdin)
        fclose(f);
    if (rc != 0) {
        char why[128];
        pv_set_err(err, errlen, "cannot read: %s", strerror_r(saved ? saved : EIO, why, sizeof why));
        return -1;
    }
    rc = pv_image_decode(data, len, img, err, errlen);
    free(data);
    return rc;
}

/* ---- encoding ------------------------------------------------------------ */

typedef struct png_out {
    uint8_t *buf;
    size_t len, cap;
    bool oom;
    char msg[200];
    jmp_buf jmp;
} png_out;

static void png_write_mem(png_structp png, png_bytep data, size_t n)
{
    png_out *o = png_get_io_ptr(png);
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1 << 16;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *bigger = realloc(o->buf, cap);
        if (!bigger)
            png_error(png, "out of memory");
        o->buf = bigger;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, data, n);
    o->len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

static void png_on_write_error(png_structp png, png_const_charp msg)
{
    png_out *o = png_get_error_ptr(png);
    snprintf(o->msg, sizeof o->msg, "%s", msg);
    longjmp(o->jmp, 1);
}

static int encode_png(const pv_image *img, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    png_out o = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &o, png_on_write_error,
                                              png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        pv_set_err(err, errlen, "cannot start the PNG encoder");
        return -1;
    }
    if (setjmp(o.jmp)) {
        pv_set_err(err, errlen, "PNG encoding failed: %s", o.msg);
        png_destroy_write_struct(&png, &info);
        free(o.buf);
        return -1;
    }
    png_set_write_fn(png, &o, png_write_mem, png_flush_mem);
    png_set_compression_level(png, PNG_ZLIB_LEVEL);
    png_set_compression_strategy(png, PNG_ZLIB_STRATEGY);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTERS);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->rgb + (size_t)y * (size_t)img->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = o.buf;
    *outlen = o.len;
    return 0;
}

static int encode_jpeg(const pv_image *img, int quality, uint8_t **out, size_t *outlen, char *err,
                       size_t errlen)
{
    tjhandle tj = tjInitCompress();
    if (!tj) {
        pv_set_err(err, errlen, "cannot start the JPEG encoder");
        return -1;
    }
    unsigned char *buf = NULL;
    unsigned long len = 0;
    /* 4:4:4: chroma subsampling would blur the colour noise we just added. */
    int rc = tjCompress2(tj, img->rgb, img->width, 0, img->height, TJPF_RGB, &buf, &len, TJSAMP_444,
                         quality, TJFLAG_ACCURATEDCT);
    if (rc != 0) {
        pv_set_err(err, errlen, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
        tjFree(buf);
        tjDestroy(tj);
        return -1;
    }
    tjDestroy(tj);
    /* Hand back a malloc'd buffer, as the header promises (tjFree is not free). */
    *out = malloc(len ? len : 1);
    if (!*out) {
        tjFree(buf);
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    memcpy(*out, buf, len);
    *outlen = len;
    tjFree(buf);
    return 0;
}

int pv_image_encode(const pv_image *img, enum pv_image_format fmt, int quality, uint8_t **out,
                    size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (!img->rgb || check_size((unsigned long long)(img->width > 0 ? img->width : 0),
                                (unsigned long long)(img->height > 0 ? img->height : 0), err,
                                errlen) != 0) {
        if (!img->rgb)
            pv_set_err(err, errlen, "no image to encode");
        return -1;
    }
    if (fmt == PV_IMAGE_JPEG) {
        if (quality < 1 || quality > 100) {
            pv_set_err(err, errlen, "JPEG quality %d is not in 1..100", quality);
            return -1;
        }
        return encode_jpeg(img, quality, out, outlen, err, errlen);
    }
    return encode_png(img, out, outlen, err, errlen);
}

int pv_image_save(const char *path, const pv_image *img, enum pv_image_format fmt, int quality,
                  char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    if (pv_image_encode(img, fmt, quality, &buf, &len, err, errlen) != 0)
        return -1;
    /* lib/outfile prints its own "prog: path: reason"; err then only says so. */
    int rc = pv_write_file_atomic(path, buf, len);
    free(buf);
    if (rc != 0)
        pv_set_err(err, errlen, "cannot write the image (reported above)");
    return rc;
}
