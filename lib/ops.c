/* CPU implementation of lib/ops.h: CBLAS for matrix products, OpenMP loops for the
 * rest. Reductions that normalise (norms, softmax) accumulate in double. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

/* Element-wise loops shorter than this run on one thread: below it the cost of
 * waking the team exceeds the work (a decode step's vectors are a few thousand). */
#define PV_OMP_MIN_ELEMS 65536
/* Query rows from which attention runs as matrix products (prefill) rather than
 * row by row (decode). */
#define PV_ATTENTION_BLOCK_ROWS 8

void pv_op_matmul_wt(const float *x, int n, int in, const float *w, int out, float *y,
                     bool accumulate)
{
    float beta = accumulate ? 1.0f : 0.0f;
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, beta, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                    beta, y, out);
}

void pv_op_linear(const pv_linear *l, const float *x, int n, float *y, bool use_lora,
                  float *lora_scratch)
{
    if (l->b) {
        for (int t = 0; t < n; t++)
            memcpy(y + (size_t)t * l->out, l->b, (size_t)l->out * sizeof *y);
    }
    pv_op_matmul_wt(x, n, l->in, l->w, l->out, y, l->b != NULL);
    if (use_lora && l->r > 0) {
        /* (x A^T) is [n][r]; scaling it (small) rather than y (large) saves work. */
        pv_op_matmul_wt(x, n, l->in, l->lora_a, l->r, lora_scratch, false);
        size_t nr = (size_t)n * l->r;
        for (size_t i = 0; i < nr; i++)
            lora_scratch[i] *= l->scale;
        pv_op_matmul_wt(lora_scratch, n, l->r, l->lora_b, l->out, y, true);
    }
}

void pv_op_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps,
                     float *y)
{
#pragma omp parallel for if ((size_t)n * d >= PV_OMP_MIN_ELEMS)
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * d;
        float *yr = y + (size_t)t * d;
        double sum = 0;
        for (int i = 0; i < d; i++)
            sum += xr[i];
        double mean = sum / d, var = 0;
        for (int i = 0; i < d; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        double inv = 1.0 / sqrt(var / d + eps);
        for (int i = 0; i < d; i++)
            yr[i] = (float)((xr[i] - mean) * inv) * w[i] + b[i];
    }
}

void pv_op_rmsnorm(const float *x, int n, int d, const float *w, float eps, float *y)
{
#pragma omp parallel for if ((size_t)n * d >= PV_OMP_MIN_ELEMS)
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * d;
        float *yr = y + (size_t)t * d;
        double ss = 0;
        for (int i = 0; i < d; i++)
            ss += (double)xr[i] * xr[i];
        double inv = 1.0 / sqrt(ss / d + eps);
        for (int i = 0; i < d; i++)
            yr[i] = w[i] * (float)(xr[i] * inv);
    }
}

/* x rounded to nearest-even with `bits` significant bits, as a cast to a narrower
 * float type does (float16's subnormals below 2^-14 keep a 2^-24 quantum). */
static float round_significand(float x, int bits)
{
    if (bits >= 24 || x == 0 || !isfinite(x))
        return x;
    int e;
    frexp(x, &e); /* x = m 2^e, 0.5 <= |m| < 1 */
    int q = e - bits;
    if (bits == 11 && q < -24)
        q = -24;
    return (float)ldexp(rint(ldexp(x, -q)), q);
}

void pv_op_rope_tables(int n_pos, int head_dim, double theta, int inv_freq_bits,
                       float *cos_tab, float *sin_tab)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float exponent = (float)(2 * i) / (float)head_dim;
        float inv_freq = 1.0f / (float)pow(theta, (double)exponent);
        inv_freq = round_significand(inv_freq, inv_freq_bits);
        for (int p = 0; p < n_pos; p++) {
            float angle = (float)p * inv_freq;
            cos_tab[(size_t)p * half + i] = (float)cos((double)angle);
            sin_tab[(size_t)p * half + i] = (float)sin((double)angle);
        }
    }
}

void pv_op_rope(float *x, int n, int n_heads, int head_dim, int pos0, const float *cos_tab,
                const float *sin_tab)
{
    int half = head_dim / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_tab + (size_t)(pos0 + t) * half;
        const float *s = sin_tab + (size_t)(pos0 + t) * half;
        for (int h = 0; h < n_heads; h++) {
            float *xh = x + ((size_t)t * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c[i] - b * s[i];
                xh[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

void pv_op_quick_gelu(float *x, size_t len)
{
#pragma omp parallel for if (len >= PV_OMP_MIN_ELEMS)
    for (size_t i = 0; i < len; i++)
        x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void pv_op_gelu(float *x, size_t len)
{
#pragma omp parallel for if (len >= PV_OMP_MIN_ELEMS)
    for (size_t i = 0; i < len; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void pv_op_silu_mul(float *gate, const float *up, size_t len)
{
#pragma omp parallel for if (len >= PV_OMP_MIN_ELEMS)
    for (size_t i = 0; i < len; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void pv_op_add(float *y, const float *x, size_t len)
{
#pragma omp parallel for if (len >= PV_OMP_MIN_ELEMS)
    for (size_t i = 0; i < len; i++)
        y[i] += x[i];
}

static float max_of(const float *x, int len)
{
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (int i = 1; i < len; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

void pv_op_softmax(float *x, int len)
{
    float m = max_of(x, len);
    /* Separate loops: the exponentials have no dependency between them, and the
     * double sum vectorises on its own. */
    for (int i = 0; i < len; i++)
        x[i] = expf(x[i] - m);
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < len; i++)
        sum += x[i];
    float inv = (float)(1.0 / sum);
#pragma omp simd
    for (int i = 0; i < len; i++)
        x[i] *= inv;
}

double pv_op_logsumexp(const float *x, int len)
{
    double m = max_of(x, len), sum = 0;
    for (int i = 0; i < len; i++)
        sum += exp(x[i] - m);
    return m + log(sum);
}

void pv_op_log_softmax(const float *x, int len, float *y)
{
    double lse = pv_op_logsumexp(x, len);
    for (int i = 0; i < len; i++)
        y[i] = (float)(x[i] - lse);
}

int pv_op_argmax(const float *x, int len)
{
    int best = 0;
    for (int i = 1; i < len; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

const char *pv_op_blas_hint(void)
{
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "Prescott") != 0)
        return NULL;
    if (__builtin_cpu_supports("avx512f"))
        return "OpenBLAS uses its generic Prescott kernels on this AVX-512 CPU; "
               "OPENBLAS_CORETYPE=SkylakeX in the environment makes matrix products ~3x faster";
    if (__builtin_cpu_supports("avx2"))
        return "OpenBLAS uses its generic Prescott kernels on this AVX2 CPU; "
               "OPENBLAS_CORETYPE=Haswell in the environment makes matrix products faster";
    return NULL;
}

int pv_op_threads(void)
{
    /* Fixed once, so that scratch sized with it stays big enough; atomic because
     * sessions may be created from several threads. */
    static _Atomic int threads;
    int t = threads;
    if (!t) {
        t = omp_get_max_threads();
        int unset = 0;
        if (!atomic_compare_exchange_strong(&threads, &unset, t))
            t = unset;
    }
    return t;
}

/* One query row of one head against its keys: softmax(q k^T * scale) v. */
static void attend_row(const float *qh, const float *kh, const float *vh, int n_keys,
                       size_t pos_stride, int head_dim, float scale, float *scores, float *out)
{
    for (int j = 0; j < n_keys; j++) {
        const float *kj = kh + (size_t)j * pos_stride;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int c = 0; c < head_dim; c++)
            dot += qh[c] * kj[c];
        scores[j] = dot * scale;
    }
    pv_op_softmax(scores, n_keys);
    memset(out, 0, (size_t)head_dim * sizeof *out);
    for (int j = 0; j < n_keys; j++) {
        const float *vj = vh + (size_t)j * pos_stride;
        float p = scores[j];
#pragma omp simd
        for (int c = 0; c < head_dim; c++)
            out[c] += p * vj[c];
    }
}

/* Many query rows: per head, scores = Q K^T and out = P V as matrix products
 * (BLAS threads), the causal mask applied between them. */
static void attention_blocked(const float *q, int n, int pos0, const float *k, const float *v,
                              int n_keys, size_t kv_head_stride, size_t kv_pos_stride,
                              int n_heads, int n_kv_heads, int head_dim, bool causal,
                              float scale, float *out, float *scores)
{
    int group = n_heads / n_kv_heads, row = n_heads * head_dim;
    for (int h = 0; h < n_heads; h++) {
        const float *kh = k + (size_t)(h / group) * kv_head_stride;
        const float *vh = v + (size_t)(h / group) * kv_head_stride;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n_keys, head_dim, scale,
                    q + (size_t)h * head_dim, row, kh, (int)kv_pos_stride, 0.0f, scores, n_keys);
        for (int t = 0; t < n; t++) {
            float *st = scores + (size_t)t * n_keys;
            int keys = causal ? pos0 + t + 1 : n_keys;
            pv_op_softmax(st, keys);
            memset(st + keys, 0, (size_t)(n_keys - keys) * sizeof *st);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, head_dim, n_keys, 1.0f, scores,
                    n_keys, vh, (int)kv_pos_stride, 0.0f, out + (size_t)h * head_dim, row);
    }
}

void pv_op_attention(const float *q, int n, int pos0, const float *k, const float *v,
                     int n_keys, size_t kv_head_stride, size_t kv_pos_stride, int n_heads,
                     int n_kv_heads, int head_dim, bool causal, float scale, float *out,
                     float *scratch)
{
    if (n >= PV_ATTENTION_BLOCK_ROWS) {
        attention_blocked(q, n, pos0, k, v, n_keys, kv_head_stride, kv_pos_stride, n_heads,
                          n_kv_heads, head_dim, causal, scale, out, scratch);
        return;
    }
    int group = n_heads / n_kv_heads;
    int rows = n * n_heads;
    int threads = pv_op_threads();
    /* One (query row, head) pair per iteration: parallel over heads when decoding,
     * when there is enough work to pay for the threads. */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4) \
    if ((size_t)rows * n_keys * head_dim >= PV_OMP_MIN_ELEMS)
    for (int r = 0; r < rows; r++) {
        int t = r / n_heads, h = r % n_heads, kvh = h / group;
        int keys = causal ? pos0 + t + 1 : n_keys;
        float *scores = scratch + (size_t)omp_get_thread_num() * n_keys;
        size_t off = ((size_t)t * n_heads + h) * head_dim;
        attend_row(q + off, k + kvh * kv_head_stride, v + kvh * kv_head_stride, keys,
                   kv_pos_stride, head_dim, scale, scores, out + off);
    }
}

size_t pv_op_attention_scratch(int n, int n_keys)
{
    size_t rows = n >= PV_ATTENTION_BLOCK_ROWS ? (size_t)n : (size_t)pv_op_threads();
    return rows * (size_t)n_keys;
}
