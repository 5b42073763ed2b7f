#include "grad_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

void pv_linear_backward(int T, int in, int out, const float *x, const float *dy, const float *w,
                        float *dx, float *dw, float *db)
{
    /* dx += dy W ([T][out] x [out][in]) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.0f, dy, out, w, in,
                    1.0f, dx, in);
    /* dW += dy^T x ([out][T] x [T][in]) */
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T, 1.0f, dy, out, x, in,
                    1.0f, dw, in);
    if (db)
        for (int t = 0; t < T; t++)
            for (int o = 0; o < out; o++)
                db[o] += dy[(size_t)t * out + o];
}

void pv_lora_backward(int T, int in, int out, const float *x, const float *dy, int r, float scale,
                      const float *lora_a, const float *lora_b, const float *xa, float *dx,
                      float *dlora_a, float *dlora_b, float *scratch)
{
    /* d(xA) = scale * dy B ([T][out] x [out][r]) */
    float *dxa = scratch;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, r, out, scale, dy, out, lora_b, r,
                0.0f, dxa, r);
    /* dB += scale * dy^T (xA) ([out][T] x [T][r]) */
    if (dlora_b)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, r, T, scale, dy, out, xa, r,
                    1.0f, dlora_b, r);
    /* dA += d(xA)^T x ([r][T] x [T][in]) */
    if (dlora_a)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, in, T, 1.0f, dxa, r, x, in, 1.0f,
                    dlora_a, in);
    /* dx += d(xA) A ([T][r] x [r][in]) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, r, 1.0f, dxa, r, lora_a, in,
                    1.0f, dx, in);
}

void pv_rmsnorm_backward(int T, int n, float eps, const float *x, const float *w, const float *dy,
                         float *dx, float *dw)
{
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n, *dyr = dy + (size_t)t * n;
        double ss = 0, dot = 0;
        for (int i = 0; i < n; i++) {
            ss += (double)xr[i] * xr[i];
            dot += (double)dyr[i] * w[i] * xr[i];
        }
        double rstd = 1.0 / sqrt(ss / n + eps);
        /* dx = rstd * (w dy) - x * rstd^3 * mean(w dy x) */
        double c = rstd * rstd * rstd * dot / n;
        if (dx)
            for (int i = 0; i < n; i++)
                dx[(size_t)t * n + i] += (float)(rstd * w[i] * dyr[i] - c * xr[i]);
        if (dw)
            for (int i = 0; i < n; i++)
                dw[i] += (float)(dyr[i] * xr[i] * rstd);
    }
}

void pv_layernorm_backward(int T, int n, float eps, const float *x, const float *w,
                           const float *dy, float *dx, float *dw, float *db)
{
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n, *dyr = dy + (size_t)t * n;
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++)
            mean += xr[i];
        mean /= n;
        for (int i = 0; i < n; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        double rstd = 1.0 / sqrt(var / n + eps);
        double mean_g = 0, mean_gx = 0; /* means of g = w dy and of g * xhat */
        for (int i = 0; i < n; i++) {
            double xhat = (xr[i] - mean) * rstd;
            double g = (double)w[i] * dyr[i];
            mean_g += g;
            mean_gx += g * xhat;
            if (dw)
                dw[i] += (float)(dyr[i] * xhat);
            if (db)
                db[i] += dyr[i];
        }
        mean_g /= n;
        mean_gx /= n;
        if (dx)
            for (int i = 0; i < n; i++) {
                double xhat = (xr[i] - mean) * rstd;
                double g = (double)w[i] * dyr[i];
                dx[(size_t)t * n + i] += (float)(rstd * (g - mean_g - xhat * mean_gx));
            }
    }
}

void pv_rope_backward(int T, int heads, int head_dim, const float *cos_t, const float *sin_t,
                      float *d)
{
    /* Forward: y1 = x1 c - x2 s, y2 = x2 c + x1 s (x1 first half, x2 second half).
     * Transpose: dx1 = dy1 c + dy2 s, dx2 = dy2 c - dy1 s. */
    int half = head_dim / 2;
    for (int t = 0; t < T; t++) {
        const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
        for (int h = 0; h < heads; h++) {
            float *v = d + ((size_t)t * heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float d1 = v[i], d2 = v[i + half];
                v[i] = d1 * c[i] + d2 * s[i];
                v[i + half] = d2 * c[i] - d1 * s[i];
            }
        }
    }
}

void pv_swiglu_backward(size_t n, const float *g, const float *u, const float *dh, float *dg,
                        float *du)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * sig;
        if (du)
            du[i] += dh[i] * silu;
        if (dg)
            dg[i] += dh[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
    }
}

void pv_gelu_backward(size_t n, const float *x, const float *dy, float *dx)
{
    const double inv_sqrt2 = 0.70710678118654752440, inv_sqrt2pi = 0.39894228040143267794;
    for (size_t i = 0; i < n; i++) {
        double xi = x[i];
        double cdf = 0.5 * (1.0 + erf(xi * inv_sqrt2));
        double pdf = inv_sqrt2pi * exp(-0.5 * xi * xi);
        dx[i] += (float)(dy[i] * (cdf + xi * pdf));
    }
}

void pv_attention_backward(int T, int hq, int hkv, int d, float scale, const float *q,
                           const float *k, const float *v, const float *dout, float *dq,
                           float *dk, float *dv)
{
    /* Per query head, as matrix products (the work is in them, and OpenBLAS runs
     * them in parallel); the rows of a head are strided views of the [T][heads][d]
     * tensors. P and dP are T x T, recomputed here rather than kept from the forward.
     *   S = scale Q K^T (causal)   P = softmax(S)       dV += P^T dO
     *   dP = dO V^T               dS = P * (dP - rowsum(P * dP))
     *   dQ += scale dS K          dK += scale dS^T Q */
    int group = hq / hkv;
    int qs = hq * d, ks = hkv * d; /* row strides */
    float *p = malloc((size_t)T * T * sizeof *p);
    float *dp = malloc((size_t)T * T * sizeof *dp);
    if (!p || !dp)
        pv_die(PV_EXIT_SYSTEM, "out of memory (attention backward of %d tokens)", T);
    for (int h = 0; h < hq; h++) {
        int g = h / group;
        const float *qh = q + (size_t)h * d, *doh = dout + (size_t)h * d;
        const float *kg = k + (size_t)g * d, *vg = v + (size_t)g * d;
        float *dqh = dq + (size_t)h * d, *dkg = dk + (size_t)g * d, *dvg = dv + (size_t)g * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, scale, qh, qs, kg, ks, 0.0f,
                    p, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, 1.0f, doh, qs, vg, ks, 0.0f,
                    dp, T);
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) {
            float *pr = p + (size_t)t * T, *dpr = dp + (size_t)t * T;
            float mx = -INFINITY;
            for (int s = 0; s <= t; s++)
                mx = pr[s] > mx ? pr[s] : mx;
            double sum = 0;
            for (int s = 0; s <= t; s++) {
                pr[s] = expf(pr[s] - mx);
                sum += pr[s];
            }
            float inv = (float)(1.0 / sum);
            double pdp = 0;
            for (int s = 0; s <= t; s++) {
                pr[s] *= inv;
                pdp += (double)pr[s] * dpr[s];
            }
            for (int s = 0; s <= t; s++)
                dpr[s] = pr[s] * (dpr[s] - (float)pdp);
            for (int s = t + 1; s < T; s++) /* masked: no probability, no gradient */
                pr[s] = dpr[s] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1.0f, p, T, doh, qs, 1.0f,
                    dvg, ks);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, scale, dp, T, kg, ks, 1.0f,
                    dqh, qs);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, scale, dp, T, qh, qs, 1.0f,
                    dkg, ks);
    }
    free(p);
    free(dp);
}

void pv_logprob_backward(int T, int V, const float *logits, const float *lse, const int *target,
                         const float *coef, float *dlogits)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        if (coef[t] == 0.0f)
            continue;
        const float *row = logits + (size_t)t * V;
        float *drow = dlogits + (size_t)t * V;
        float c = coef[t], l = lse[t];
        for (int i = 0; i < V; i++)
            drow[i] -= c * expf(row[i] - l);
        drow[target[t]] += c;
    }
}
