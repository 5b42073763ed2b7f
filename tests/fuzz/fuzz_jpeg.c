/* libFuzzer target: the JPEG path of pv_image_decode must return an error for any
 * bad input, never crash, leak, or allocate without bound. Inputs that do not
 * start like a JPEG get the JPEG magic so that the fuzzer spends its time there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size + 3);
    if (!buf)
        return 0;
    size_t n = size;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        memcpy(buf, data, size);
    } else {
        buf[0] = 0xFF, buf[1] = 0xD8, buf[2] = 0xFF;
        memcpy(buf + 3, data, size);
        n = size + 3;
    }
    pv_image img;
    char err[256];
    if (pv_image_decode(buf, n, &img, err, sizeof err) == 0)
        pv_image_free(&img);
    free(buf);
    return 0;
}
