#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "outfile.h"
#include "paths.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [PV_ST_BOOL] = {"BOOL", 1}, [PV_ST_U8] = {"U8", 1},   [PV_ST_I8] = {"I8", 1},
    [PV_ST_F8_E5M2] = {"F8_E5M2", 1}, [PV_ST_F8_E4M3] = {"F8_E4M3", 1},
    [PV_ST_I16] = {"I16", 2},   [PV_ST_U16] = {"U16", 2}, [PV_ST_F16] = {"F16", 2},
    [PV_ST_BF16] = {"BF16", 2}, [PV_ST_I32] = {"I32", 4}, [PV_ST_U32] = {"U32", 4},
    [PV_ST_F32] = {"F32", 4},   [PV_ST_I64] = {"I64", 8}, [PV_ST_U64] = {"U64", 8},
    [PV_ST_F64] = {"F64", 8},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *pv_st_dtype_name(pv_st_dtype t)
{
    return (size_t)t < N_DTYPES ? dtypes[t].name : "?";
}

size_t pv_st_dtype_size(pv_st_dtype t)
{
    return (size_t)t < N_DTYPES ? dtypes[t].size : 0;
}

bool pv_st_dtype_is_float(pv_st_dtype t)
{
    return t == PV_ST_F32 || t == PV_ST_F16 || t == PV_ST_BF16 || t == PV_ST_F64;
}

/* ---- reader ---- */

static void free_tensors(pv_st_file *f)
{
    for (size_t i = 0; i < f->count; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->count = 0;
    cJSON_Delete(f->metadata);
    f->metadata = NULL;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static bool json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
        return false;
    *out = (uint64_t)d;
    return true;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const pv_st_tensor *)a)->name, ((const pv_st_tensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b)
{
    const pv_st_tensor *x = *(const pv_st_tensor *const *)a, *y = *(const pv_st_tensor *const *)b;
    if (x->data != y->data)
        return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Parses one tensor entry into t (name already set). */
static int parse_entry(const cJSON *e, pv_st_tensor *t, const unsigned char *data, size_t data_len,
                       const char *label, char *err, size_t errlen)
{
    if (!cJSON_IsObject(e)) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": entry is not an object", label, t->name);
        return -1;
    }
    const cJSON *dt = NULL, *shape = NULL, *off = NULL;
    for (const cJSON *k = e->child; k; k = k->next) {
        const cJSON **slot = strcmp(k->string, "dtype") == 0          ? &dt
                             : strcmp(k->string, "shape") == 0        ? &shape
                             : strcmp(k->string, "data_offsets") == 0 ? &off
                                                                      : NULL;
        if (!slot) {
            pv_set_err(err, errlen, "%s: tensor \"%s\": unknown key \"%s\"", label, t->name, k->string);
            return -1;
        }
        if (*slot) {
            pv_set_err(err, errlen, "%s: tensor \"%s\": duplicate key \"%s\"", label, t->name, k->string);
            return -1;
        }
        *slot = k;
    }
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(off)) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": needs string \"dtype\", arrays \"shape\" and \"data_offsets\"",
                label, t->name);
        return -1;
    }
    size_t d;
    for (d = 0; d < N_DTYPES; d++)
        if (strcmp(dt->valuestring, dtypes[d].name) == 0)
            break;
    if (d == N_DTYPES) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": unknown dtype \"%s\"", label, t->name, dt->valuestring);
        return -1;
    }
    t->dtype = (pv_st_dtype)d;
    int nd = cJSON_GetArraySize(shape);
    if (nd > PV_ST_MAX_DIMS) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": %d dimensions (at most %d)", label, t->name, nd, PV_ST_MAX_DIMS);
        return -1;
    }
    t->ndim = nd;
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *s = shape->child; s; s = s->next, i++) {
        uint64_t v;
        if (!json_uint(s, &v)) {
            pv_set_err(err, errlen, "%s: tensor \"%s\": shape entries must be non-negative integers", label, t->name);
            return -1;
        }
        t->shape[i] = (int64_t)v;
        if (__builtin_mul_overflow(numel, v, &numel) || numel > (uint64_t)data_len) {
            /* more elements than bytes can never fit (dtype size >= 1) */
            pv_set_err(err, errlen, "%s: tensor \"%s\": shape larger than the data area", label, t->name);
            return -1;
        }
    }
    t->numel = (int64_t)numel;
    uint64_t begin, end;
    if (cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &begin) || !json_uint(off->child->next, &end)) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": data_offsets must be two non-negative integers", label, t->name);
        return -1;
    }
    if (begin > end || end > data_len) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] outside the data area of %zu bytes",
                label, t->name, begin, end, data_len);
        return -1;
    }
    uint64_t want = numel * dtypes[d].size; /* numel <= data_len, no overflow */
    if (end - begin != want) {
        pv_set_err(err, errlen, "%s: tensor \"%s\": %" PRIu64 " bytes for %" PRIu64 " x %s (%zu bytes each) = %" PRIu64,
                label, t->name, end - begin, numel, dtypes[d].name, dtypes[d].size, want);
        return -1;
    }
    t->data = data + begin;
    t->nbytes = (size_t)want;
    return 0;
}

static int parse_metadata(const cJSON *m, const char *label, char *err, size_t errlen)
{
    if (!cJSON_IsObject(m)) {
        pv_set_err(err, errlen, "%s: \"__metadata__\" is not an object", label);
        return -1;
    }
    for (const cJSON *k = m->child; k; k = k->next)
        if (!cJSON_IsString(k)) {
            pv_set_err(err, errlen, "%s: \"__metadata__\" value \"%s\" is not a string", label, k->string);
            return -1;
        }
    return 0;
}

int pv_st_parse(const void *buf, size_t len, const char *label, pv_st_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    const unsigned char *p = buf;
    if (len < 8) {
        pv_set_err(err, errlen, "%s: too short for a safetensors file (%zu bytes)", label, len);
        return -1;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | p[i];
    if (n > PV_ST_MAX_HEADER) {
        pv_set_err(err, errlen, "%s: header length %" PRIu64 " exceeds the limit of %u bytes", label, n,
                PV_ST_MAX_HEADER);
        return -1;
    }
    if (n > len - 8) {
        pv_set_err(err, errlen, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes): truncated?",
                label, n, len);
        return -1;
    }
    if (n < 2 || p[8] != '{') {
        pv_set_err(err, errlen, "%s: header is not a JSON object (must start with '{')", label);
        return -1;
    }
    const char *text = (const char *)p + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, false);
    if (!root || !cJSON_IsObject(root)) {
        pv_set_err(err, errlen, "%s: header is not valid JSON", label);
        cJSON_Delete(root);
        return -1;
    }
    for (const char *q = end; q < text + n; q++)
        if (*q != ' ') {
            pv_set_err(err, errlen, "%s: header has bytes after the JSON object other than space padding", label);
            cJSON_Delete(root);
            return -1;
        }
    const unsigned char *data = p + 8 + n;
    size_t data_len = len - 8 - (size_t)n;

    size_t count = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        count++;
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    if (!f->tensors) {
        pv_set_err(err, errlen, "%s: out of memory", label);
        cJSON_Delete(root);
        return -1;
    }
    int rc = 0;
    for (const cJSON *e = root->child; e && rc == 0; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (f->metadata) {
                pv_set_err(err, errlen, "%s: duplicate \"__metadata__\"", label);
                rc = -1;
            } else if ((rc = parse_metadata(e, label, err, errlen)) == 0)
                f->metadata = cJSON_Duplicate(e, true);
            continue;
        }
        pv_st_tensor *t = &f->tensors[f->count++];
        t->name = strdup(e->string);
        if (!t->name) {
            pv_set_err(err, errlen, "%s: out of memory", label);
            rc = -1;
        } else
            rc = parse_entry(e, t, data, data_len, label, err, errlen);
    }
    cJSON_Delete(root);
    if (rc) {
        free_tensors(f);
        return -1;
    }

    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_name);
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
            pv_set_err(err, errlen, "%s: tensor \"%s\" appears twice", label, f->tensors[i].name);
            free_tensors(f);
            return -1;
        }

    /* The tensors must tile the data area exactly: sorted by start, each starts
     * where the previous ended, the first at 0, the last at the end. */
    const pv_st_tensor **order = malloc((f->count ? f->count : 1) * sizeof *order);
    if (!order) {
        pv_set_err(err, errlen, "%s: out of memory", label);
        free_tensors(f);
        return -1;
    }
    for (size_t i = 0; i < f->count; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->count, sizeof *order, cmp_begin);
    size_t pos = 0;
    for (size_t i = 0; i < f->count && rc == 0; i++) {
        size_t b = (size_t)(order[i]->data - data);
        if (b > pos) {
            pv_set_err(err, errlen, "%s: %zu unused bytes before tensor \"%s\" (hole in the data area)", label,
                    b - pos, order[i]->name);
            rc = -1;
        } else if (b < pos) {
            pv_set_err(err, errlen, "%s: tensor \"%s\" overlaps tensor \"%s\"", label, order[i]->name,
                    order[i - 1]->name);
            rc = -1;
        }
        pos = b + order[i]->nbytes;
    }
    if (rc == 0 && pos != data_len) {
        pv_set_err(err, errlen, "%s: data area has %zu bytes but the tensors cover %zu", label, data_len, pos);
        rc = -1;
    }
    free(order);
    if (rc) {
        free_tensors(f);
        return -1;
    }
    f->base = (unsigned char *)(uintptr_t)p;
    f->size = len;
    f->path = strdup(label);
    return 0;
}

int pv_st_open(const char *path, pv_st_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pv_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        pv_set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    void *map = NULL;
    if (len > 0) {
        /* Private and writable: full fine-tuning may update weights in place;
         * pages are copied on write and the file never changes. */
        map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            pv_set_err(err, errlen, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    close(fd);
    static const unsigned char empty[1];
    if (pv_st_parse(map ? map : empty, len, path, f, err, errlen) != 0) {
        if (map)
            munmap(map, len);
        return -1;
    }
    f->mapped = map != NULL;
    return 0;
}

void pv_st_close(pv_st_file *f)
{
    if (!f)
        return;
    free_tensors(f);
    if (f->mapped && f->base)
        munmap(f->base, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const pv_st_tensor *pv_st_find(const pv_st_file *f, const char *name)
{
    pv_st_tensor key = {.name = (char *)(uintptr_t)name};
    return f->count ? bsearch(&key, f->tensors, f->count, sizeof key, cmp_name) : NULL;
}

/* ---- conversion ---- */

float pv_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | man << 13;          /* inf, nan */
    else if (exp != 0)
        bits = sign | (exp + 112) << 23 | man << 13;    /* normal: rebias 15 -> 127 */
    else if (man == 0)
        bits = sign;                                    /* zero */
    else {                                              /* subnormal: normalise */
        int e = 113;
        while (!(man & 0x400)) {
            man <<= 1;
            e--;
        }
        bits = sign | (uint32_t)e << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float pv_bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The F16C instruction converts 8 halves at once, exactly (IEEE binary16 ->
 * binary32 is lossless); chosen at run time so the binary still runs without it. */
__attribute__((target("avx,f16c"))) static void halves_f16c_block(const unsigned char *src, float *dst,
                                                                   int64_t n)
{
    for (int64_t i = 0; i < n / 8; i++) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 16 * i));
        _mm256_storeu_ps(dst + 8 * i, _mm256_cvtph_ps(h));
    }
    for (int64_t i = n / 8 * 8; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = pv_half_to_float(h);
    }
}

/* Blocks in parallel; the vector code stays out of the OpenMP-outlined function,
 * which would not inherit the target attribute. */
static void halves_f16c(const unsigned char *src, float *dst, int64_t n)
{
    const int64_t block = 1 << 16;
    int64_t nblocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) if (nblocks > 4)
    for (int64_t k = 0; k < nblocks; k++) {
        int64_t start = k * block, len = n - start < block ? n - start : block;
        halves_f16c_block(src + 2 * start, dst + start, len);
    }
}
#define HAVE_F16C_PATH 1

#include <cpuid.h>
/* F16C and AVX reported by CPUID, and the OS saving YMM registers (XCR0 bits 1-2).
 * (clang 14's __builtin_cpu_supports does not know "f16c".) */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    const unsigned osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29;
    if ((c & (osxsave | avx | f16c)) != (osxsave | avx | f16c))
        return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}
#endif

int pv_st_to_f32(const pv_st_tensor *t, float *dst, char *err, size_t errlen)
{
    const unsigned char *src = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case PV_ST_F32:
        memcpy(dst, src, (size_t)n * 4);
        return 0;
    case PV_ST_F16:
#ifdef HAVE_F16C_PATH
        if (cpu_has_f16c()) {
            halves_f16c(src, dst, n);
            return 0;
        }
#endif
#pragma omp parallel for schedule(static) if (n > (1 << 16))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = pv_half_to_float(h);
        }
        return 0;
    case PV_ST_BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 16))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = pv_bf16_to_float(h);
        }
        return 0;
    case PV_ST_F64:
#pragma omp parallel for schedule(static) if (n > (1 << 16))
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        pv_set_err(err, errlen, "tensor \"%s\": dtype %s is not supported (F32, F16, BF16 or F64 only)", t->name,
                pv_st_dtype_name(t->dtype));
        return -1;
    }
}

/* ---- sets of files (sharded checkpoints) ---- */

void pv_st_set_close(pv_st_set *set)
{
    for (size_t i = 0; i < set->nfiles; i++)
        pv_st_close(&set->files[i]);
    free(set->files);
    set->files = NULL;
    set->nfiles = 0;
}

const pv_st_tensor *pv_st_set_find(const pv_st_set *set, const char *name)
{
    for (size_t i = 0; i < set->nfiles; i++) {
        const pv_st_tensor *t = pv_st_find(&set->files[i], name);
        if (t)
            return t;
    }
    return NULL;
}

int pv_st_set_open_files(const char *const *paths, size_t n, pv_st_set *set, char *err, size_t errlen)
{
    set->files = calloc(n ? n : 1, sizeof *set->files);
    set->nfiles = 0;
    if (!set->files) {
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (pv_st_open(paths[i], &set->files[i], err, errlen) != 0) {
            pv_st_set_close(set);
            return -1;
        }
        set->nfiles = i + 1;
        for (size_t j = 0; j < i; j++)
            for (size_t k = 0; k < set->files[i].count; k++)
                if (pv_st_find(&set->files[j], set->files[i].tensors[k].name)) {
                    pv_set_err(err, errlen, "tensor \"%s\" is in both %s and %s", set->files[i].tensors[k].name,
                            set->files[j].path, set->files[i].path);
                    pv_st_set_close(set);
                    return -1;
                }
    }
    return 0;
}

static char *read_text_file(const char *path, char *err, size_t errlen)
{
    char *text = pv_read_file(path, NULL);
    if (!text)
        pv_set_err(err, errlen, "%s: %s", path, strerror(errno));
    return text;
}

/* A shard name from the index must be a plain file name inside the folder. */
static bool plain_file_name(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int open_index(const char *dir, const char *index_path, pv_st_set *set, char *err, size_t errlen)
{
    char *text = read_text_file(index_path, err, errlen);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        pv_set_err(err, errlen, "%s: not JSON with a \"weight_map\" object", index_path);
        cJSON_Delete(root);
        return -1;
    }
    /* Unique shard names, in order of first appearance. */
    size_t cap = 0, n = 0;
    for (const cJSON *e = map->child; e; e = e->next)
        cap++;
    const char **names = calloc(cap ? cap : 1, sizeof *names);
    char **paths = calloc(cap ? cap : 1, sizeof *paths);
    int rc = 0;
    for (const cJSON *e = map->child; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e) || !plain_file_name(e->valuestring)) {
            pv_set_err(err, errlen, "%s: weight_map[\"%s\"] is not a file name in the folder", index_path, e->string);
            rc = -1;
            break;
        }
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(names[j], e->valuestring) == 0)
                break;
        if (j == n) {
            names[n] = e->valuestring;
            size_t len = strlen(dir) + strlen(e->valuestring) + 2;
            paths[n] = malloc(len);
            snprintf(paths[n], len, "%s/%s", dir, e->valuestring);
            n++;
        }
    }
    if (rc == 0 && n == 0) {
        pv_set_err(err, errlen, "%s: empty weight_map", index_path);
        rc = -1;
    }
    if (rc == 0)
        rc = pv_st_set_open_files((const char *const *)paths, n, set, err, errlen);
    /* Every mapped tensor must be in the shard the index names. */
    for (const cJSON *e = map->child; e && rc == 0; e = e->next) {
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(names[j], e->valuestring) == 0)
                break;
        if (!pv_st_find(&set->files[j], e->string)) {
            pv_set_err(err, errlen, "%s: tensor \"%s\" is not in %s as the index says", index_path, e->string,
                    set->files[j].path);
            pv_st_set_close(set);
            rc = -1;
        }
    }
    for (size_t j = 0; j < n; j++)
        free(paths[j]);
    free(paths);
    free(names);
    cJSON_Delete(root);
    return rc;
}

int pv_st_set_open_dir(const char *dir, pv_st_set *set, char *err, size_t errlen)
{
    memset(set, 0, sizeof *set);
    size_t len = strlen(dir) + 64;
    char *path = malloc(len);
    if (!path) {
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    int rc;
    snprintf(path, len, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) == 0)
        rc = open_index(dir, path, set, err, errlen);
    else {
        snprintf(path, len, "%s/model.safetensors", dir);
        if (access(path, F_OK) != 0) {
            pv_set_err(err, errlen, "%s: no model.safetensors or model.safetensors.index.json", dir);
            rc = -1;
        } else {
            const char *one[1] = {path};
            rc = pv_st_set_open_files(one, 1, set, err, errlen);
        }
    }
    free(path);
    return rc;
}

/* ---- writer ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_json_string(strbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20)
            sb_printf(b, "\\u%04x", c);
        else
            sb_add(b, s, 1);
    }
    sb_add(b, "\"", 1);
}

unsigned char *pv_st_header(const pv_st_out *t, size_t n, const cJSON *metadata, size_t *len, char *err,
                            size_t errlen)
{
    strbuf b = {0};
    sb_add(&b, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
    sb_add(&b, "{", 1);
    bool first = true;
    if (metadata) {
        if (!cJSON_IsObject(metadata)) {
            pv_set_err(err, errlen, "metadata is not an object");
            free(b.s);
            return NULL;
        }
        sb_add(&b, "\"__metadata__\":{", 16);
        for (const cJSON *k = metadata->child; k; k = k->next) {
            if (!cJSON_IsString(k)) {
                pv_set_err(err, errlen, "metadata value \"%s\" is not a string", k->string);
                free(b.s);
                return NULL;
            }
            if (k != metadata->child)
                sb_add(&b, ",", 1);
            sb_json_string(&b, k->string);
            sb_add(&b, ":", 1);
            sb_json_string(&b, k->valuestring);
        }
        sb_add(&b, "}", 1);
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || strcmp(t[i].name, "__metadata__") == 0 || t[i].ndim < 0 ||
            t[i].ndim > PV_ST_MAX_DIMS) {
            pv_set_err(err, errlen, "tensor %zu: bad name or rank", i);
            free(b.s);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0) {
                pv_set_err(err, errlen, "tensor \"%s\" given twice", t[i].name);
                free(b.s);
                return NULL;
            }
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)t[i].shape[d], &numel)) {
                pv_set_err(err, errlen, "tensor \"%s\": bad shape", t[i].name);
                free(b.s);
                return NULL;
            }
        }
        if (!first)
            sb_add(&b, ",", 1);
        first = false;
        sb_json_string(&b, t[i].name);
        sb_add(&b, ":{\"dtype\":\"F32\",\"shape\":[", 25);
        for (int d = 0; d < t[i].ndim; d++)
            sb_printf(&b, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
        sb_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + numel * 4);
        off += numel * 4;
    }
    sb_add(&b, "}", 1);
    while (b.len % 8)
        sb_add(&b, " ", 1);
    if (b.oom) {
        pv_set_err(err, errlen, "out of memory");
        free(b.s);
        return NULL;
    }
    uint64_t hl = b.len - 8;
    for (int i = 0; i < 8; i++)
        b.s[i] = (char)(hl >> (8 * i) & 0xff);
    *len = b.len;
    return (unsigned char *)b.s;
}

int pv_st_write(const char *path, const pv_st_out *t, size_t n, const cJSON *metadata)
{
    char err[256];
    size_t hlen;
    unsigned char *h = pv_st_header(t, n, metadata, &hlen, err, sizeof err);
    if (!h) {
        pv_error("%s: %s", path, err);
        return -1;
    }
    pv_outfile *f = pv_outfile_open_mode(path, false);
    if (!f) {
        free(h);
        return -1;
    }
    int rc = pv_outfile_write(f, h, hlen);
    free(h);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= (size_t)t[i].shape[d];
        rc = pv_outfile_write(f, t[i].data, numel * sizeof(float));
    }
    if (rc) {
        pv_outfile_abort(f);
        return -1;
    }
    return pv_outfile_commit(f);
}
