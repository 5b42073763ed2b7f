/* safetensors files: strict reader (mmap) and fp32 writer.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON (an object
 * whose first byte is '{', padded with spaces), then the data area. Each
 * entry but "__metadata__" (an object of strings) is
 *     "name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}
 * with offsets relative to the data area. The reader refuses anything that is
 * not exactly that: N over 100 MB or past the end of the file, unknown keys or
 * dtypes, offsets out of range, tensors that overlap or leave holes or do not
 * cover the data area, end - begin != elements x dtype size, duplicate names.
 *
 * Tensors are looked up by name and converted to fp32 from F32, F16, BF16 or
 * F64; other dtypes are parsed (so their files validate) but refused on
 * conversion with a message naming the tensor. */
#ifndef PV_SAFETENSORS_H
#define PV_SAFETENSORS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PV_ST_MAX_DIMS 8
#define PV_ST_MAX_HEADER 100000000u /* the bound the reference implementation uses */

typedef enum pv_st_dtype {
    PV_ST_BOOL, PV_ST_U8, PV_ST_I8, PV_ST_F8_E5M2, PV_ST_F8_E4M3,
    PV_ST_I16, PV_ST_U16, PV_ST_F16, PV_ST_BF16,
    PV_ST_I32, PV_ST_U32, PV_ST_F32,
    PV_ST_I64, PV_ST_U64, PV_ST_F64,
} pv_st_dtype;

typedef struct pv_st_tensor {
    char *name;
    pv_st_dtype dtype;
    int ndim;
    int64_t shape[PV_ST_MAX_DIMS];
    int64_t numel;
    const unsigned char *data; /* inside the file's bytes (mmap: writable copy-on-write) */
    size_t nbytes;
} pv_st_tensor;

typedef struct pv_st_file {
    char *path;             /* for messages */
    unsigned char *base;    /* whole file */
    size_t size;
    bool mapped;            /* base is our mmap (pv_st_close unmaps it) */
    pv_st_tensor *tensors;  /* sorted by name */
    size_t count;
    cJSON *metadata;        /* "__metadata__" or NULL */
} pv_st_file;

/* Parses a whole file image in memory (not copied: buf must outlive f).
 * `label` names it in messages. 0, or -1 with "label: reason" in err. */
int pv_st_parse(const void *buf, size_t len, const char *label, pv_st_file *f,
                char *err, size_t errlen);
/* Maps and parses a file (MAP_PRIVATE, readable and writable: writes never reach
 * the file). 0, or -1 with "path: reason" in err. */
int pv_st_open(const char *path, pv_st_file *f, char *err, size_t errlen);
void pv_st_close(pv_st_file *f);
const pv_st_tensor *pv_st_find(const pv_st_file *f, const char *name);

const char *pv_st_dtype_name(pv_st_dtype t);
size_t pv_st_dtype_size(pv_st_dtype t);
/* F32, F16, BF16, F64: the dtypes pv_st_to_f32 converts. */
bool pv_st_dtype_is_float(pv_st_dtype t);
/* Converts all elements into dst (t->numel floats). 0, or -1 naming the tensor
 * when its dtype is not a float type. Parallel (OpenMP) for large tensors. */
int pv_st_to_f32(const pv_st_tensor *t, float *dst, char *err, size_t errlen);
float pv_half_to_float(uint16_t h);
float pv_bf16_to_float(uint16_t h);

/* A model's weights: one file, or the shards a model.safetensors.index.json names. */
typedef struct pv_st_set {
    pv_st_file *files;
    size_t nfiles;
} pv_st_set;

/* Opens DIR/model.safetensors.index.json (every shard of its weight_map, each
 * tensor checked to be in the shard the map says) or else DIR/model.safetensors.
 * 0, or -1 with err. */
int pv_st_set_open_dir(const char *dir, pv_st_set *set, char *err, size_t errlen);
/* Opens the listed files as one set (names must be unique across them). */
int pv_st_set_open_files(const char *const *paths, size_t n, pv_st_set *set,
                         char *err, size_t errlen);
const pv_st_tensor *pv_st_set_find(const pv_st_set *set, const char *name);
void pv_st_set_close(pv_st_set *set);

/* Writer: F32 tensors, in the order given, header padded with spaces to a
 * multiple of 8 so the data area is aligned. */
typedef struct pv_st_out {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[PV_ST_MAX_DIMS];
} pv_st_out;

/* The header (8-byte length + JSON + padding) for these tensors; metadata, when
 * not NULL, must be an object of strings. malloc'd; *len its size. NULL with err. */
unsigned char *pv_st_header(const pv_st_out *t, size_t n, const cJSON *metadata, size_t *len,
                            char *err, size_t errlen);
/* Writes the file atomically (lib/outfile). 0, or -1 after printing the error. */
int pv_st_write(const char *path, const pv_st_out *t, size_t n, const cJSON *metadata);

#endif
