/* libFuzzer target: the safetensors parser on arbitrary bytes. Whatever it
 * accepts must be safe to use: every tensor found again by name, its bytes
 * inside the buffer, and float tensors converted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy, so reads past the end are caught by ASan */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    pv_st_file f;
    char err[256];
    if (pv_st_parse(buf, size, "fuzz", &f, err, sizeof err) == 0) {
        for (size_t i = 0; i < f.count; i++) {
            const pv_st_tensor *t = &f.tensors[i];
            if (pv_st_find(&f, t->name) != t)
                abort();
            if (t->data < buf || t->data + t->nbytes > buf + size)
                abort();
            if (pv_st_dtype_is_float(t->dtype)) {
                float *out = malloc((size_t)t->numel * sizeof *out + 1);
                if (out && pv_st_to_f32(t, out, err, sizeof err) != 0)
                    abort();
                free(out);
            }
        }
        pv_st_close(&f);
    }
    free(buf);
    return 0;
}
