/* Each device operation of lib/cuda/ops_cuda.h against its CPU twin of lib/ops.h, on
 * fresh random inputs (the seed is printed: rerun with PV_TEST_SEED=N), with outputs
 * poisoned with NaN first so that an unwritten element fails.
 *
 * Tolerances: fp32 operations against the fp32 CPU twin, 1e-5 relative plus 1e-6 of
 * the tensor's largest magnitude: both sides round in fp32 (~6e-8 per operation) but
 * in different orders (cuBLAS and warp reductions against OpenBLAS and serial sums),
 * over at most a few hundred terms. bf16 and fp16 products are compared with a
 * float64 product of the same rounded operands: the tensor cores multiply exactly
 * and accumulate in fp32, so the same 1e-5 holds there too. Skips without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "llava_cuda.h"
#include "ops.h"

#ifdef PV_HAVE_CUDA
#include "cuda/ops_cuda.h"

#define RTOL 1e-5
#define ATOL_OF_MAX 1e-6

static uint64_t rng_state;
static pv_cuda_ctx *ctx;

static double uniform(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / (double)(1ull << 53);
}

static float *random_floats(size_t n, float lo, float hi)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * (float)uniform();
    return v;
}

static void *dev_from(const void *host, size_t bytes)
{
    void *d = pv_cuda_malloc(bytes);
    if (!d || pv_cuda_upload(ctx, d, host, bytes) < 0) {
        printf("# device allocation or upload failed\n");
        exit(1);
    }
    return d;
}

/* A device buffer of n floats filled with NaN (unwritten elements fail the checks). */
static float *dev_poisoned(size_t n)
{
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = NAN;
    float *d = dev_from(h, n * sizeof *h);
    free(h);
    return d;
}

static float *to_host(const float *d, size_t n)
{
    float *h = malloc(n * sizeof *h);
    char err[256];
    if (pv_cuda_download(ctx, h, d, n * sizeof *h) < 0 || pv_cuda_sync(ctx, err, sizeof err) < 0) {
        printf("# download failed\n");
        exit(1);
    }
    return h;
}

/* One TAP line per tensor: every value within RTOL |want| + ATOL_OF_MAX max|want|. */
static void compare(const char *what, const float *got, const float *want, size_t n)
{
    double maxabs = 0, worst = 0;
    size_t bad = 0, at = 0;
    for (size_t i = 0; i < n; i++)
        maxabs = fmax(maxabs, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double tol = RTOL * fabs(want[i]) + ATOL_OF_MAX * maxabs;
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= tol))
            bad++;
        double excess = isnan(err) ? INFINITY : err / (tol > 0 ? tol : 1e-30);
        if (excess > worst)
            worst = excess, at = i;
    }
    printf("# %s: %zu values, worst error %.3g of the tolerance (at %zu: got %.9g want %.9g)\n",
           what, n, worst, at, got[at], want[at]);
    CHECK(bad == 0, what);
}

static void check_sync(const char *what)
{
    char err[256];
    int rc = pv_cuda_sync(ctx, err, sizeof err);
    if (rc < 0)
        printf("# %s: %s\n", what, err);
    CHECK(rc == 0, what);
}

/* x rounded to `bits` significant bits, nearest even (bf16: 8, fp16: 11, normal range). */
static float round_bits(float x, int bits)
{
    if (x == 0 || !isfinite(x))
        return x;
    int e;
    frexp(x, &e);
    return (float)ldexp(rint(ldexp(x, bits - e)), e - bits);
}

static void test_matmul(pv_cuda_dtype t, int n, int in, int out, bool accumulate)
{
    char what[128];
    snprintf(what, sizeof what, "matmul_wt %s n=%d in=%d out=%d%s", pv_cuda_dtype_name(t), n, in,
             out, accumulate ? " accumulate" : "");
    int bits = t == PV_CUDA_BF16 ? 8 : t == PV_CUDA_F16 ? 11 : 24;
    float *x = random_floats((size_t)n * in, -1, 1), *w = random_floats((size_t)out * in, -1, 1);
    float *y0 = random_floats((size_t)n * out, -1, 1), *want = malloc((size_t)n * out * 4);
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = accumulate ? y0[(size_t)r * out + o] : 0;
            for (int i = 0; i < in; i++)
                s += (double)round_bits(x[(size_t)r * in + i], bits) *
                     round_bits(w[(size_t)o * in + i], bits);
            want[(size_t)r * out + o] = (float)s;
        }
    float *xd = dev_from(x, (size_t)n * in * 4), *yd = dev_from(y0, (size_t)n * out * 4);
    void *wd = pv_cuda_malloc((size_t)out * in * pv_cuda_dtype_size(t));
    pv_cuda_upload_f32_as(ctx, wd, t, w, (size_t)out * in);
    pv_cu_matmul_wt(ctx, xd, n, in, wd, t, out, yd, accumulate, 1.0f);
    check_sync(what);
    float *got = to_host(yd, (size_t)n * out);
    compare(what, got, want, (size_t)n * out);
    pv_cuda_free(xd), pv_cuda_free(yd), pv_cuda_free(wd);
    free(x), free(w), free(y0), free(want), free(got);
}

static void test_norms(int n, int d)
{
    float *x = random_floats((size_t)n * d, -3, 5), *w = random_floats(d, 0.5f, 1.5f);
    float *b = random_floats(d, -0.2f, 0.2f), *want = malloc((size_t)n * d * 4);
    float *xd = dev_from(x, (size_t)n * d * 4), *wd = dev_from(w, d * 4), *bd = dev_from(b, d * 4);
    float *yd = dev_poisoned((size_t)n * d);
    pv_op_layernorm(x, n, d, w, b, 1e-5f, want);
    pv_cu_layernorm(ctx, xd, n, d, wd, bd, 1e-5f, yd);
    check_sync("layernorm runs");
    float *got = to_host(yd, (size_t)n * d);
    compare("layernorm", got, want, (size_t)n * d);
    free(got);
    pv_op_rmsnorm(x, n, d, w, 1e-6f, want);
    pv_cu_rmsnorm(ctx, xd, n, d, wd, 1e-6f, xd); /* in place */
    check_sync("rmsnorm runs");
    got = to_host(xd, (size_t)n * d);
    compare("rmsnorm in place", got, want, (size_t)n * d);
    pv_cuda_free(xd), pv_cuda_free(wd), pv_cuda_free(bd), pv_cuda_free(yd);
    free(x), free(w), free(b), free(want), free(got);
}

static void test_elementwise(size_t len)
{
    float *x = random_floats(len, -6, 6), *u = random_floats(len, -2, 2);
    float *want = malloc(len * 4);
    struct {
        const char *name;
        int op;
    } ops[] = {{"quick_gelu", 0}, {"gelu", 1}, {"silu_mul", 2}, {"add", 3}, {"add_bias", 4}};
    int out = 37; /* bias length: len is not a multiple of it on purpose */
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        memcpy(want, x, len * 4);
        float *xd = dev_from(x, len * 4), *ud = dev_from(u, len * 4);
        size_t rows = len / out;
        switch (ops[k].op) {
        case 0: pv_op_quick_gelu(want, len); pv_cu_quick_gelu(ctx, xd, len); break;
        case 1: pv_op_gelu(want, len); pv_cu_gelu(ctx, xd, len); break;
        case 2: pv_op_silu_mul(want, u, len); pv_cu_silu_mul(ctx, xd, ud, len); break;
        case 3: pv_op_add(want, u, len); pv_cu_add(ctx, xd, ud, len); break;
        case 4:
            for (size_t r = 0; r < rows; r++)
                for (int j = 0; j < out; j++)
                    want[r * out + j] += u[j];
            pv_cu_add_bias(ctx, xd, ud, (int)rows, out);
            break;
        }
        check_sync(ops[k].name);
        float *got = to_host(xd, len);
        compare(ops[k].name, got, want, ops[k].op == 4 ? rows * out : len);
        pv_cuda_free(xd), pv_cuda_free(ud);
        free(got);
    }
    free(x), free(u), free(want);
}

static void test_rope(int n, int heads, int hd, int pos0)
{
    int max_pos = pos0 + n + 8, half = hd / 2;
    float *cs = malloc((size_t)max_pos * half * 4), *sn = malloc((size_t)max_pos * half * 4);
    pv_op_rope_tables(max_pos, hd, 10000.0, 24, cs, sn);
    size_t len = (size_t)n * heads * hd;
    float *x = random_floats(len, -2, 2), *want = malloc(len * 4);
    memcpy(want, x, len * 4);
    pv_op_rope(want, n, heads, hd, pos0, cs, sn);
    float *csd = dev_from(cs, (size_t)max_pos * half * 4), *snd = dev_from(sn, (size_t)max_pos * half * 4);
    float *xd = dev_from(x, len * 4);
    pv_cu_rope(ctx, xd, n, heads, hd, pos0, NULL, csd, snd);
    check_sync("rope runs");
    float *got = to_host(xd, len);
    compare("rope pos0", got, want, len);
    /* The same rows through a positions array. */
    int *pos = malloc(n * sizeof *pos);
    for (int t = 0; t < n; t++)
        pos[t] = pos0 + t;
    int *posd = dev_from(pos, n * sizeof *pos);
    pv_cuda_upload(ctx, xd, x, len * 4);
    pv_cu_rope(ctx, xd, n, heads, hd, 0, posd, csd, snd);
    free(got);
    got = to_host(xd, len);
    compare("rope positions array", got, want, len);
    pv_cuda_free(csd), pv_cuda_free(snd), pv_cuda_free(xd), pv_cuda_free(posd);
    free(cs), free(sn), free(x), free(want), free(got), free(pos);
}

static void test_embed(void)
{
    int V = 50, d = 24, n = 9, nf = 4;
    float *table = random_floats((size_t)V * d, -1, 1), *feat = random_floats((size_t)nf * d, -1, 1);
    int32_t ids[9] = {3, 49, 0, 7, 7, 12, 33, 1, 48};
    int rows[9] = {-1, -1, 0, 1, -1, 2, 3, -1, -1};
    float want[9 * 24];
    for (int t = 0; t < n; t++)
        memcpy(want + t * d, rows[t] >= 0 ? feat + rows[t] * d : table + ids[t] * d, d * 4);
    pv_cuda_dtype types[] = {PV_CUDA_F32, PV_CUDA_BF16};
    for (int k = 0; k < 2; k++) {
        void *td = pv_cuda_malloc((size_t)V * d * pv_cuda_dtype_size(types[k]));
        pv_cuda_upload_f32_as(ctx, td, types[k], table, (size_t)V * d);
        float *fd = dev_from(feat, (size_t)nf * d * 4), *out = dev_poisoned((size_t)n * d);
        int32_t *idd = dev_from(ids, sizeof ids);
        int *rd = dev_from(rows, sizeof rows);
        pv_cu_embed(ctx, td, types[k], d, idd, rd, fd, n, out);
        check_sync("embed runs");
        float *got = to_host(out, (size_t)n * d), w2[9 * 24];
        for (int i = 0; i < n * d; i++)
            w2[i] = rows[i / d] >= 0 ? want[i] : round_bits(want[i], k ? 8 : 24);
        compare(k ? "embedding gather (bf16 table) and feature scatter"
                  : "embedding gather and feature scatter", got, w2, (size_t)n * d);
        pv_cuda_free(td), pv_cuda_free(fd), pv_cuda_free(out), pv_cuda_free(idd), pv_cuda_free(rd);
        free(got);
    }
    free(table), free(feat);
}

/* Prefill attention over a KV cache in its [slots][heads][max][hd] layout, written
 * by kv_store, against pv_op_attention reading the same layout on the host. */
static void test_attention_cache(int n, int pos0, int heads, int kvh, int hd)
{
    char what[128];
    int max_tokens = pos0 + n + 5, slots = 3, slot = 1;
    size_t slot_stride = (size_t)kvh * max_tokens * hd, cache = slot_stride * slots;
    float *kc = random_floats(cache, -1, 1), *vc = random_floats(cache, -1, 1);
    float *q = random_floats((size_t)n * heads * hd, -1, 1);
    float *knew = random_floats((size_t)n * kvh * hd, -1, 1), *vnew = random_floats((size_t)n * kvh * hd, -1, 1);
    float *kcd = dev_from(kc, cache * 4), *vcd = dev_from(vc, cache * 4);
    float *knd = dev_from(knew, (size_t)n * kvh * hd * 4), *vnd = dev_from(vnew, (size_t)n * kvh * hd * 4);
    /* host copy of the store */
    for (int t = 0; t < n; t++)
        for (int h = 0; h < kvh; h++) {
            size_t dst = slot * slot_stride + ((size_t)h * max_tokens + pos0 + t) * hd;
            memcpy(kc + dst, knew + ((size_t)t * kvh + h) * hd, hd * 4);
            memcpy(vc + dst, vnew + ((size_t)t * kvh + h) * hd, hd * 4);
        }
    pv_cu_kv_store(ctx, knd, vnd, n, kvh, hd, kcd + slot * slot_stride, vcd + slot * slot_stride,
                   0, max_tokens, pos0, NULL, NULL);
    float *kgot = to_host(kcd, cache);
    snprintf(what, sizeof what, "kv_store n=%d pos0=%d", n, pos0);
    compare(what, kgot, kc, cache);
    float scale = 1.0f / sqrtf((float)hd);
    float *want = malloc((size_t)n * heads * hd * 4);
    float *scratch = malloc(pv_op_attention_scratch(n, pos0 + n) * 4);
    pv_op_attention(q, n, pos0, kc + slot * slot_stride, vc + slot * slot_stride, pos0 + n,
                    (size_t)max_tokens * hd, hd, heads, kvh, hd, true, scale, want, scratch);
    float *qd = dev_from(q, (size_t)n * heads * hd * 4), *od = dev_poisoned((size_t)n * heads * hd);
    pv_cu_attention(ctx, qd, n, pos0, NULL, NULL, kcd + slot * slot_stride, vcd + slot * slot_stride,
                    pos0 + n, 0, (size_t)max_tokens * hd, hd, heads, kvh, hd, true, scale, od, 8);
    snprintf(what, sizeof what, "attention causal n=%d pos0=%d heads=%d kv=%d hd=%d", n, pos0,
             heads, kvh, hd);
    check_sync(what);
    float *got = to_host(od, (size_t)n * heads * hd);
    compare(what, got, want, (size_t)n * heads * hd);
    free(got);
    /* Decoding: the last row alone, keys split over 8 warps, via positions/slots arrays. */
    int p_last = pos0 + n - 1;
    int *pd = dev_from(&p_last, sizeof p_last), *sd = dev_from(&slot, sizeof slot);
    pv_cu_attention(ctx, qd + (size_t)(n - 1) * heads * hd, 1, 0, pd, sd, kcd, vcd, max_tokens,
                    slot_stride, (size_t)max_tokens * hd, hd, heads, kvh, hd, true, scale, od, 1);
    snprintf(what, sizeof what, "attention decode row at %d, split keys", p_last);
    check_sync(what);
    got = to_host(od, (size_t)heads * hd);
    compare(what, got, want + (size_t)(n - 1) * heads * hd, (size_t)heads * hd);
    pv_cuda_free(kcd), pv_cuda_free(vcd), pv_cuda_free(knd), pv_cuda_free(vnd), pv_cuda_free(qd);
    pv_cuda_free(od), pv_cuda_free(pd), pv_cuda_free(sd);
    free(kc), free(vc), free(q), free(knew), free(vnew), free(kgot), free(want), free(scratch);
    free(got);
}

/* CLIP's layout: non-causal, k and v are the [tokens][heads][hd] projections. */
static void test_attention_clip(int tokens, int heads, int hd)
{
    size_t len = (size_t)tokens * heads * hd;
    float *q = random_floats(len, -2, 2), *k = random_floats(len, -2, 2), *v = random_floats(len, -2, 2);
    float *want = malloc(len * 4), *scratch = malloc(pv_op_attention_scratch(tokens, tokens) * 4);
    float scale = 1.0f / sqrtf((float)hd);
    pv_op_attention(q, tokens, 0, k, v, tokens, hd, (size_t)heads * hd, heads, heads, hd, false,
                    scale, want, scratch);
    float *qd = dev_from(q, len * 4), *kd = dev_from(k, len * 4), *vd = dev_from(v, len * 4);
    float *od = dev_poisoned(len);
    pv_cu_attention(ctx, qd, tokens, 0, NULL, NULL, kd, vd, tokens, 0, hd, (size_t)heads * hd,
                    heads, heads, hd, false, scale, od, 8);
    char what[96];
    snprintf(what, sizeof what, "attention non-causal tokens=%d heads=%d hd=%d", tokens, heads, hd);
    check_sync(what);
    float *got = to_host(od, len);
    compare(what, got, want, len);
    pv_cuda_free(qd), pv_cuda_free(kd), pv_cuda_free(vd), pv_cuda_free(od);
    free(q), free(k), free(v), free(want), free(scratch), free(got);
}

/* The tensor-core prefill (pv_cu_attention_f16) against float64 attention of the same
 * fp16-rounded operands (q * scale, keys, values; products of fp16 values are exact in
 * the fp32 sums). What remains is the fp16 rounding of each softmax term p_j, relative
 * u = 2^-11, in both the numerator and the sum l: out moves by at most
 * 2u max_j |v_j - out| <= 4u max|v|, the tolerance. clip_layout: keys and values are
 * [tokens][heads][hd] projections (non-causal); else a cache [kvh][max][hd], causal. */
static void test_attention_f16(int n, int pos0, int heads, int kvh, int hd, bool clip_layout)
{
    int n_keys = clip_layout ? n : pos0 + n, max_tokens = n_keys + 3;
    size_t head_stride = clip_layout ? (size_t)hd : (size_t)max_tokens * hd;
    size_t pos_stride = clip_layout ? (size_t)kvh * hd : (size_t)hd;
    size_t kvlen = clip_layout ? (size_t)n * kvh * hd : (size_t)kvh * max_tokens * hd;
    size_t len = (size_t)n * heads * hd;
    float *q = random_floats(len, -2, 2), *k = random_floats(kvlen, -2, 2);
    float *v = random_floats(kvlen, -2, 2), *want = malloc(len * 4);
    double *p = malloc((size_t)n_keys * sizeof *p), maxv = 0;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t i = 0; i < kvlen; i++)
        maxv = fmax(maxv, fabs(round_bits(v[i], 11)));
    for (int t = 0; t < n; t++)
        for (int h = 0; h < heads; h++) {
            const float *qr = q + ((size_t)t * heads + h) * hd;
            size_t base = (size_t)(h / (heads / kvh)) * head_stride;
            int last = clip_layout ? n_keys - 1 : pos0 + t;
            double pmax = -INFINITY, l = 0;
            for (int j = 0; j <= last; j++) {
                double dot = 0;
                for (int c = 0; c < hd; c++)
                    dot += (double)round_bits(qr[c] * scale, 11) *
                           round_bits(k[base + j * pos_stride + c], 11);
                p[j] = dot;
                pmax = fmax(pmax, dot);
            }
            for (int j = 0; j <= last; j++)
                l += p[j] = exp(p[j] - pmax);
            for (int c = 0; c < hd; c++) {
                double o = 0;
                for (int j = 0; j <= last; j++)
                    o += p[j] * round_bits(v[base + j * pos_stride + c], 11);
                want[((size_t)t * heads + h) * hd + c] = (float)(o / l);
            }
        }
    float *qd = dev_from(q, len * 4), *kd = dev_from(k, kvlen * 4), *vd = dev_from(v, kvlen * 4);
    float *od = dev_poisoned(len);
    pv_cu_attention_f16(ctx, qd, n, clip_layout ? 0 : pos0, NULL, NULL, kd, vd, n_keys, 0,
                        head_stride, pos_stride, heads, kvh, hd, !clip_layout, scale, od);
    char what[128];
    snprintf(what, sizeof what, "attention on tensor cores (fp16) %s n=%d pos0=%d heads=%d kv=%d hd=%d",
             clip_layout ? "non-causal" : "causal", n, pos0, heads, kvh, hd);
    check_sync(what);
    float *got = to_host(od, len);
    double tol = 4 * ldexp(1, -11) * maxv, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < len; i++) {
        double err = fabs((double)got[i] - want[i]);
        err = isnan(err) ? INFINITY : err;
        if (err > worst || i == 0)
            worst = err, at = i;
    }
    printf("# %s: %zu values, worst error %.3g = %.3g of the tolerance 4u max|v| (got %.9g want %.9g)\n",
           what, len, worst, worst / tol, got[at], want[at]);
    CHECK(worst <= tol, what);
    pv_cuda_free(qd), pv_cuda_free(kd), pv_cuda_free(vd), pv_cuda_free(od);
    free(q), free(k), free(v), free(want), free(p), free(got);
}

static void test_argmax_logsumexp(void)
{
    int rows = 5, len = 32064;
    float *x = random_floats((size_t)rows * len, -10, 10);
    x[1 * len + 7] = x[1 * len + 9000] = 50; /* a tie: the lower index wins */
    x[3 * len + len - 1] = 60;
    int32_t want[5], got[5];
    double lse_want[5], lse_got[5];
    for (int r = 0; r < rows; r++) {
        want[r] = pv_op_argmax(x + (size_t)r * len, len);
        lse_want[r] = pv_op_logsumexp(x + (size_t)r * len, len);
    }
    float *xd = dev_from(x, (size_t)rows * len * 4);
    int32_t *ad = pv_cuda_malloc(rows * 4);
    double *ld = pv_cuda_malloc(rows * 8);
    pv_cu_argmax_rows(ctx, xd, rows, len, ad);
    pv_cu_logsumexp_rows(ctx, xd, rows, len, ld);
    check_sync("argmax and logsumexp run");
    pv_cuda_download(ctx, got, ad, sizeof got);
    pv_cuda_download(ctx, lse_got, ld, sizeof lse_got);
    CHECK(memcmp(got, want, sizeof got) == 0, "argmax per row, first index on ties");
    double worst = 0;
    for (int r = 0; r < rows; r++)
        worst = fmax(worst, fabs(lse_got[r] - lse_want[r]) / fabs(lse_want[r]));
    printf("# logsumexp worst relative error %.3g\n", worst);
    CHECK(worst < 1e-12, "logsumexp per row (double accumulation)");
    pv_cuda_free(xd), pv_cuda_free(ad), pv_cuda_free(ld);
    free(x);
}

int main(void)
{
    char err[256];
    if (pv_cuda_available(err, sizeof err) != 0)
        return check_skip_all(err);
    const char *seed = getenv("PV_TEST_SEED");
    rng_state = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    printf("# PV_TEST_SEED=%llu\n", (unsigned long long)rng_state);
    char name[256];
    pv_cuda_describe(name, sizeof name);
    printf("# device: %s\n", name);
    ctx = pv_cuda_ctx_new(err, sizeof err);
    if (!ctx) {
        printf("# %s\n", err);
        CHECK(0, "CUDA context");
        return check_done();
    }
    test_matmul(PV_CUDA_F32, 1, 300, 70, false);
    test_matmul(PV_CUDA_F32, 37, 128, 96, true);
    test_matmul(PV_CUDA_BF16, 1, 512, 64, false);
    test_matmul(PV_CUDA_BF16, 45, 256, 200, true);
    test_matmul(PV_CUDA_F16, 19, 256, 100, false);
    /* Decoding's shapes: one row, LLaMA-7B's widths. */
    test_matmul(PV_CUDA_BF16, 1, 4096, 1000, true);
    test_matmul(PV_CUDA_F16, 1, 11008, 37, false);
    test_matmul(PV_CUDA_BF16, 1, 30, 20, false);
    test_matmul(PV_CUDA_BF16, 7, 1000, 33, true);
    test_matmul(PV_CUDA_F16, 16, 264, 50, false);
    test_norms(7, 4096);
    test_norms(33, 64);
    test_elementwise(100003);
    test_rope(13, 4, 16, 0);
    test_rope(3, 32, 128, 600);
    test_embed();
    test_attention_cache(21, 0, 4, 2, 16);    /* the fixture's shape, GQA */
    test_attention_cache(70, 37, 8, 8, 128);  /* LLaMA's head_dim, tiles of 32 and a tail */
    test_attention_cache(5, 300, 6, 3, 64);
    test_attention_clip(17, 4, 16);
    test_attention_clip(577, 16, 64);         /* CLIP-L/336 */
    test_attention_clip(9, 2, 6);             /* head_dim not a multiple of 4 */
    test_attention_clip(40, 2, 256);          /* the largest head_dim: 74 KB of shared memory */
    test_attention_f16(21, 0, 4, 2, 16, false);   /* the fixture's shape, GQA, one tile */
    test_attention_f16(130, 37, 8, 4, 128, false); /* LLaMA's head_dim: 3 row blocks, tails */
    test_attention_f16(70, 0, 4, 4, 128, false);
    test_attention_f16(577, 0, 16, 16, 64, true);  /* CLIP-L/336 */
    test_attention_f16(40, 0, 2, 2, 256, true);    /* the largest head_dim: 190 KB of shared memory */
    test_attention_f16(9, 0, 2, 2, 32, true);
    test_argmax_logsumexp();
    pv_cuda_ctx_free(ctx);
    return check_done();
}

#else

int main(void)
{
    return check_skip_all("this build has no CUDA support");
}

#endif
