/* Images: decoding JPEG (TurboJPEG) and PNG (libpng) to 8-bit RGB, encoding PNG
 * and JPEG. Grayscale, CMYK, palette, 16-bit and alpha inputs all come out as
 * 8-bit RGB. Corrupt data returns an error message; the library never exits or
 * aborts on bad input. Sides larger than PV_IMAGE_MAX_SIDE are refused before
 * any pixel memory is allocated. */
#ifndef PV_IMAGE_H
#define PV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define PV_IMAGE_MAX_SIDE 32768

typedef struct pv_image {
    int width, height;
    uint8_t *rgb; /* height rows of width x 3 bytes, R G B */
} pv_image;

enum pv_image_format { PV_IMAGE_PNG, PV_IMAGE_JPEG };

/* Decodes an in-memory JPEG or PNG (detected by its magic bytes).
 * Returns 0, or -1 with a message in err ("not a JPEG or PNG image", ...). */
int pv_image_decode(const uint8_t *data, size_t len, pv_image *img, char *err, size_t errlen);
/* Reads and decodes a file ("-" = standard input). Returns 0 or -1 with err set
 * (the message does not repeat the path; callers prefix it). */
int pv_image_load(const char *path, pv_image *img, char *err, size_t errlen);
/* Encodes to a malloc'd buffer. quality is for JPEG (1..100), ignored for PNG. */
int pv_image_encode(const pv_image *img, enum pv_image_format fmt, int quality, uint8_t **out,
                    size_t *outlen, char *err, size_t errlen);
/* Encodes and writes atomically (lib/outfile); "-" = standard output. */
int pv_image_save(const char *path, const pv_image *img, enum pv_image_format fmt, int quality,
                  char *err, size_t errlen);
/* Allocates an uninitialised width x height image; -1 if too large. */
int pv_image_alloc(pv_image *img, int width, int height);
void pv_image_free(pv_image *img);

#endif
