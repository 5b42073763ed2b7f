/* safetensors: the fixture files written by the reference implementation, crafted
 * bad files (one per validation rule), every truncation of a real file, F16
 * conversion against the compiler's _Float16 for all 65536 values, sharded sets
 * through an index, and the writer read back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "diag.h"
#include "safetensors.h"

static char dir[] = "/tmp/pv-test-safetensors.XXXXXX";

/* A file image: 8-byte length, the header text as given, `data_len` bytes 0..255. */
static unsigned char *craft(const char *header, uint64_t claimed_len, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    unsigned char *b = malloc(*len + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(claimed_len >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hl + i] = (unsigned char)i;
    return b;
}

/* Parses a crafted file; expects failure with `needle` in the message. */
static void bad(const char *what, const char *header, size_t data_len, const char *needle)
{
    size_t len;
    unsigned char *b = craft(header, strlen(header), data_len, &len);
    pv_st_file f;
    char err[512] = "", msg[640];
    int rc = pv_st_parse(b, len, "crafted", &f, err, sizeof err);
    snprintf(msg, sizeof msg, "refused: %s (%s)", what, err);
    CHECK(rc == -1 && strstr(err, needle) && strncmp(err, "crafted: ", 9) == 0, msg);
    if (rc == 0)
        pv_st_close(&f);
    free(b);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    fwrite(data, 1, len, fp);
    fclose(fp);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

static void test_crafted(void)
{
    const char *ok_header = "{\"__metadata__\":{\"format\":\"pt\"},"
                            "\"b\":{\"dtype\":\"F16\",\"shape\":[2,1],\"data_offsets\":[8,12]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"z\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[12,12]}}   ";
    size_t len;
    unsigned char *b = craft(ok_header, strlen(ok_header), 12, &len);
    pv_st_file f;
    char err[512] = "";
    int rc = pv_st_parse(b, len, "crafted", &f, err, sizeof err);
    CHECK(rc == 0, "a well-formed file with metadata, padding and an empty tensor parses");
    if (rc == 0) {
        const pv_st_tensor *a = pv_st_find(&f, "a"), *t = pv_st_find(&f, "b");
        CHECK(f.count == 3 && a && t && pv_st_find(&f, "z") && !pv_st_find(&f, "c"), "lookup by name");
        CHECK(a && a->data == b + 8 + strlen(ok_header) && a->nbytes == 8, "data points into the buffer");
        CHECK(t && t->dtype == PV_ST_F16 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 1 && t->numel == 2,
              "dtype and shape");
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(f.metadata, "format");
        CHECK(cJSON_IsString(fmt) && strcmp(fmt->valuestring, "pt") == 0, "__metadata__ kept");
        float v[2];
        /* bytes 8..11 are 08 09 0a 0b: halves 0x0908 and 0x0b0a */
        CHECK(t && pv_st_to_f32(t, v, err, sizeof err) == 0 && v[0] == 0x1p-13f * (1 + 264.0f / 1024) &&
                  v[1] == 0x1p-13f * (1 + 778.0f / 1024),
              "F16 bytes converted");
        pv_st_close(&f);
    }
    free(b);

    /* header length field */
    b = craft("{}", 1000, 0, &len);
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == -1 && strstr(err, "past the end"),
          "header length past the end of the file");
    free(b);
    b = craft("{}", (uint64_t)PV_ST_MAX_HEADER + 1, 0, &len);
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == -1 && strstr(err, "exceeds the limit"),
          "header length over 100 MB");
    free(b);
    b = craft("{}", UINT64_MAX, 0, &len);
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == -1, "header length 2^64-1");
    free(b);
    CHECK(pv_st_parse("\x02\0\0\0\0\0\0", 7, "crafted", &f, err, sizeof err) == -1 && strstr(err, "too short"),
          "7-byte file");
    CHECK(pv_st_parse("", 0, "crafted", &f, err, sizeof err) == -1, "empty file");
    b = craft("{}", 2, 0, &len);
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == 0 && f.count == 0, "no tensors at all is valid");
    pv_st_close(&f);
    free(b);

    bad("header not starting with '{'", " {}", 0, "must start with");
    bad("header that is a JSON array", "[1,2]", 0, "must start with");
    bad("header that is not JSON", "{\"a\":", 0, "not valid JSON");
    bad("bytes after the JSON other than spaces", "{}x      ", 0, "space padding");
    b = craft("{}", 8, 6, &len); /* "{}" then 00 01 02 ...: NUL-and-more padding */
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == -1 && strstr(err, "space padding"),
          "header padded with NULs");
    free(b);
    bad("overlapping tensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}",
        8, "overlaps");
    bad("a hole between tensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16]}}",
        16, "hole");
    bad("a hole at the start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole");
    bad("offsets past the data area", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 10,
        "outside the data area");
    bad("begin after end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
        "outside the data area");
    bad("bytes not elements x dtype size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
        "bytes for 3 x F32");
    bad("data area longer than the tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9,
        "cover 8");
    bad("unknown dtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16, "unknown dtype");
    bad("unknown key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown key");
    bad("missing key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "needs");
    bad("negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
        "non-negative integers");
    bad("fractional dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
        "non-negative integers");
    bad("huge shape (element count overflow)",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4, "larger");
    bad("three data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4,
        "two non-negative");
    bad("duplicate tensor name",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        8, "appears twice");
    bad("metadata value not a string", "{\"__metadata__\":{\"n\":1}}", 0, "not a string");
    bad("entry not an object", "{\"a\":[1]}", 0, "not an object");

    /* conversion of a non-float dtype names the tensor */
    const char *ih = "{\"ids\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    b = craft(ih, strlen(ih), 4, &len);
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == 0, "I32 tensor parses");
    float v;
    CHECK(f.count == 1 && pv_st_to_f32(&f.tensors[0], &v, err, sizeof err) == -1 && strstr(err, "\"ids\"") &&
              strstr(err, "I32"),
          "converting I32 to fp32 is refused naming the tensor");
    pv_st_close(&f);
    free(b);
}

static void test_conversions(void)
{
    /* every half against the compiler's _Float16 (IEEE binary16) */
    int mismatches = 0, first_bad = -1;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t u = (uint16_t)h;
        _Float16 x;
        memcpy(&x, &u, 2);
        float want = (float)x, got = pv_half_to_float(u);
        uint32_t wb, gb;
        memcpy(&wb, &want, 4);
        memcpy(&gb, &got, 4);
        bool ok = (want != want) ? (got != got) : wb == gb; /* NaN: any NaN */
        if (!ok && mismatches++ == 0)
            first_bad = (int)h;
    }
    if (mismatches)
        printf("# %d halves differ, first 0x%04x\n", mismatches, first_bad);
    CHECK(mismatches == 0, "all 65536 halves convert exactly as _Float16 does");

    /* the tensor path (F16C instructions where the CPU has them), all halves at odd
     * lengths so that the vector body and the scalar tail both run */
    size_t len;
    char header[160];
    int cmp_bad = 0;
    for (int count = 65536; count >= 65529; count -= 7) {
        snprintf(header, sizeof header, "{\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[0,%d]}}",
                 count, 2 * count);
        unsigned char *b = craft(header, strlen(header), (size_t)2 * count, &len);
        for (int i = 0; i < count; i++) {
            uint16_t u = (uint16_t)(i * 40503u); /* a permutation of 0..65535 */
            memcpy(b + 8 + strlen(header) + 2 * i, &u, 2);
        }
        pv_st_file f;
        char err[256];
        float *out = malloc((size_t)count * sizeof *out);
        if (pv_st_parse(b, len, "halves", &f, err, sizeof err) != 0 || pv_st_to_f32(&f.tensors[0], out, err, sizeof err) != 0)
            cmp_bad++;
        else {
            for (int i = 0; i < count; i++) {
                float want = pv_half_to_float((uint16_t)(i * 40503u));
                if (memcmp(&want, &out[i], 4) != 0 && !(want != want && out[i] != out[i]))
                    cmp_bad++;
            }
            pv_st_close(&f);
        }
        free(out);
        free(b);
    }
    CHECK(cmp_bad == 0, "F16 tensors of 65536 and 65529 halves convert like the scalar routine");
    CHECK(pv_bf16_to_float(0x3f80) == 1.0f && pv_bf16_to_float(0xc000) == -2.0f &&
              pv_bf16_to_float(0x4049) == 3.140625f && pv_bf16_to_float(0x0001) == 0x1p-133f,
          "bf16 values (1, -2, pi rounded, smallest subnormal)");

    /* F64 and BF16 tensors through pv_st_to_f32 */
    double d[3] = {0.1, -1e30, 3.5};
    uint16_t bf[3] = {0x3f80, 0xbf00, 0x7f80};
    const char *h = "{\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]},"
                    "\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]}}";
    unsigned char *b = craft(h, strlen(h), 30, &len);
    memcpy(b + 8 + strlen(h), d, 24);
    memcpy(b + 8 + strlen(h) + 24, bf, 6);
    pv_st_file f;
    char err[256];
    float out[3];
    CHECK(pv_st_parse(b, len, "crafted", &f, err, sizeof err) == 0, "F64 + BF16 file parses");
    CHECK(pv_st_to_f32(pv_st_find(&f, "d"), out, err, sizeof err) == 0 && out[0] == 0.1f && out[1] == -1e30f &&
              out[2] == 3.5f,
          "F64 rounds to the nearest float");
    CHECK(pv_st_to_f32(pv_st_find(&f, "h"), out, err, sizeof err) == 0 && out[0] == 1.0f && out[1] == -0.5f &&
              out[2] == 1.0f / 0.0f,
          "BF16 tensor");
    pv_st_close(&f);
    free(b);
}

static void test_fixture_files(const char *shared)
{
    char path[1100], err[512];
    pv_st_file f;
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/model.safetensors", shared);
    int rc = pv_st_open(path, &f, err, sizeof err);
    CHECK(rc == 0, "fixture model.safetensors opens");
    if (rc == 0) {
        int64_t elements = 0;
        bool all_f16 = true;
        for (size_t i = 0; i < f.count; i++) {
            elements += f.tensors[i].numel;
            all_f16 &= f.tensors[i].dtype == PV_ST_F16;
        }
        CHECK(f.count == 80 && all_f16 && elements == 4344448, "80 F16 tensors, 4344448 elements");
        const pv_st_tensor *t = pv_st_find(&f, "vision_tower.embeddings.patch_embedding.weight");
        CHECK(t && t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 3 && t->shape[2] == 14 && t->shape[3] == 14,
              "patch embedding [64, 3, 14, 14]");
        pv_st_close(&f);
    }
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/golden.safetensors", shared);
    rc = pv_st_open(path, &f, err, sizeof err);
    CHECK(rc == 0 && f.count == 91, "fixture golden.safetensors opens: 91 tensors of F32, I32, U8");
    if (rc == 0) {
        const pv_st_tensor *lse = pv_st_find(&f, "logsumexp"), *am = pv_st_find(&f, "argmax");
        float v[82];
        int32_t first;
        /* values printed by numpy from the same file */
        CHECK(lse && lse->numel == 82 && pv_st_to_f32(lse, v, err, sizeof err) == 0 &&
                  v[0] == 10.858909606933594f && v[2] == 10.880387306213379f,
              "logsumexp values as numpy reads them");
        CHECK(am && am->dtype == PV_ST_I32 && (memcpy(&first, am->data, 4), first == 5193), "argmax[0] = 5193 (I32)");
        pv_st_close(&f);
    }

    /* Every way of cutting the real file short is refused. */
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/adapter/adapter_model.safetensors", shared);
    size_t len;
    unsigned char *whole = read_bytes(path, &len);
    int accepted = 0, tried = 0;
    for (size_t cut = 0; whole && cut < len; cut += (cut < 4100 ? 1 : 997)) {
        tried++;
        if (pv_st_parse(whole, cut, "cut", &f, err, sizeof err) == 0) {
            accepted++;
            pv_st_close(&f);
        }
    }
    char what[128];
    snprintf(what, sizeof what, "all %d truncations of the adapter file are refused", tried);
    CHECK(whole && accepted == 0, what);
    /* flipping the header length by one either way */
    if (whole) {
        whole[0]++;
        CHECK(pv_st_parse(whole, len, "bumped", &f, err, sizeof err) == -1, "header length + 1 is refused");
        whole[0] -= 2;
        CHECK(pv_st_parse(whole, len, "bumped", &f, err, sizeof err) == -1, "header length - 1 is refused");
    }
    free(whole);

    CHECK(pv_st_open("/nonexistent/x.safetensors", &f, err, sizeof err) == -1 &&
              strstr(err, "/nonexistent/x.safetensors: No such file"),
          "missing file: path and reason");
}

static void test_writer_and_sets(void)
{
    char path[512], path2[512], err[512];
    float a[6] = {1, 2, 3, 4, 5, 6}, s = -7.25f;
    pv_st_out outs[3] = {
        {.name = "w\"eird\\name", .data = a, .ndim = 2, .shape = {2, 3}},
        {.name = "scalar", .data = &s, .ndim = 0},
        {.name = "empty", .data = a, .ndim = 1, .shape = {0}},
    };
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "pt");
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    CHECK(pv_st_write(path, outs, 3, meta) == 0, "writer succeeds");
    size_t len;
    unsigned char *b = read_bytes(path, &len);
    uint64_t hl = 0;
    for (int i = 7; b && i >= 0; i--)
        hl = hl << 8 | b[i];
    CHECK(b && (8 + hl) % 8 == 0 && b[8 + hl - 1] != 0 && len == 8 + hl + 28,
          "header padded to a multiple of 8, data 28 bytes");
    pv_st_file f;
    int rc = pv_st_open(path, &f, err, sizeof err);
    CHECK(rc == 0, "written file reads back");
    if (rc == 0) {
        const pv_st_tensor *t = pv_st_find(&f, "w\"eird\\name"), *sc = pv_st_find(&f, "scalar");
        float v[6];
        CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && pv_st_to_f32(t, v, err, sizeof err) == 0 &&
                  memcmp(v, a, sizeof a) == 0,
              "tensor with quote and backslash in its name round-trips");
        CHECK(sc && sc->ndim == 0 && sc->numel == 1 && memcmp(sc->data, &s, 4) == 0, "0-d tensor round-trips");
        CHECK(pv_st_find(&f, "empty") && cJSON_IsString(cJSON_GetObjectItem(f.metadata, "format")),
              "empty tensor and metadata round-trip");
        pv_st_close(&f);
    }
    free(b);
    cJSON_Delete(meta);
    pv_st_out dup[2] = {outs[1], outs[1]};
    CHECK(pv_st_header(dup, 2, NULL, &len, err, sizeof err) == NULL && strstr(err, "twice"),
          "writer refuses a duplicate name");

    /* a sharded set: two files and an index */
    pv_st_out one = {.name = "a", .data = a, .ndim = 1, .shape = {6}}, two = {.name = "b", .data = &s, .ndim = 0};
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    pv_st_write(path, &one, 1, NULL);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    pv_st_write(path, &two, 1, NULL);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const char *index = "{\"metadata\":{\"total_size\":28},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                        "\"b\":\"model-00002-of-00002.safetensors\"}}";
    write_bytes(path, index, strlen(index));
    pv_st_set set;
    rc = pv_st_set_open_dir(dir, &set, err, sizeof err);
    CHECK(rc == 0 && set.nfiles == 2 && pv_st_set_find(&set, "a") && pv_st_set_find(&set, "b") &&
              !pv_st_set_find(&set, "c"),
          "sharded set through the index");
    if (rc == 0)
        pv_st_set_close(&set);
    const char *wrong = "{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\"}}";
    write_bytes(path, wrong, strlen(wrong));
    CHECK(pv_st_set_open_dir(dir, &set, err, sizeof err) == -1 && strstr(err, "\"a\" is not in"),
          "index naming the wrong shard");
    const char *escape = "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}";
    write_bytes(path, escape, strlen(escape));
    CHECK(pv_st_set_open_dir(dir, &set, err, sizeof err) == -1 && strstr(err, "not a file name"),
          "index naming a file outside the folder");
    const char *missing = "{\"weight_map\":{\"a\":\"model-00003-of-00002.safetensors\"}}";
    write_bytes(path, missing, strlen(missing));
    CHECK(pv_st_set_open_dir(dir, &set, err, sizeof err) == -1 && strstr(err, "No such file"),
          "index naming a missing shard");
    /* the same tensor in two shards */
    snprintf(path2, sizeof path2, "%s/model-00002-of-00002.safetensors", dir);
    pv_st_write(path2, &one, 1, NULL);
    const char *both = "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                       "\"b\":\"model-00002-of-00002.safetensors\"}}";
    write_bytes(path, both, strlen(both));
    CHECK(pv_st_set_open_dir(dir, &set, err, sizeof err) == -1 && strstr(err, "is in both"),
          "a tensor in two shards");
    unlink(path);
    CHECK(pv_st_set_open_dir(dir, &set, err, sizeof err) == -1 && strstr(err, "no model.safetensors"),
          "folder without weights");
}

int main(void)
{
    pv_init("test_safetensors");
    if (!mkdtemp(dir))
        return 1;
    test_crafted();
    test_conversions();
    test_writer_and_sets();
    const char *shared = getenv("PV_SHARED");
    char buf[512];
    if (!shared) {
        snprintf(buf, sizeof buf, "../shared");
        shared = buf;
    }
    struct stat st;
    if (stat(shared, &st) == 0)
        test_fixture_files(shared);
    else
        printf("# %s absent: fixture checks skipped\n", shared);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return check_done();
}
