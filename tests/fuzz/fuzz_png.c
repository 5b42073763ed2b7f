/* libFuzzer target: the PNG path of pv_image_decode (libpng under setjmp) must
 * return an error for any bad input, never crash, leak, or longjmp astray. Inputs
 * without the PNG signature get it prepended so the fuzzer explores chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *buf = malloc(size + 8);
    if (!buf)
        return 0;
    size_t n = size;
    if (size >= 8 && memcmp(data, sig, 8) == 0) {
        memcpy(buf, data, size);
    } else {
        memcpy(buf, sig, 8);
        memcpy(buf + 8, data, size);
        n = size + 8;
    }
    pv_image img;
    char err[256];
    if (pv_image_decode(buf, n, &img, err, sizeof err) == 0)
        pv_image_free(&img);
    free(buf);
    return 0;
}
