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
    int group = hq / hkv;
    /* Each query head owns its rows of dq; dk/dv are shared within a group, so
     * a group is one unit of parallel work. */
#pragma omp parallel
    {
        float *p = malloc((size_t)T * sizeof *p);
        float *dp = malloc((size_t)T * sizeof *dp);
        if (!p || !dp)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
#pragma omp for schedule(dynamic)
        for (int kvh = 0; kvh < hkv; kvh++) {
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = 0; t < T; t++) {
                    const float *qt = q + ((size_t)t * hq + h) * d;
                    const float *dot = dout + ((size_t)t * hq + h) * d;
                    /* Recompute the probabilities of row t. */
                    float mx = -INFINITY;
                    for (int s = 0; s <= t; s++) {
                        const float *ks = k + ((size_t)s * hkv + kvh) * d;
                        float acc = 0;
                        for (int i = 0; i < d; i++)
                            acc += qt[i] * ks[i];
                        p[s] = acc * scale;
                        if (p[s] > mx)
                            mx = p[s];
                    }
                    double sum = 0;
                    for (int s = 0; s <= t; s++) {
                        p[s] = expf(p[s] - mx);
                        sum += p[s];
                    }
                    float inv = (float)(1.0 / sum);
                    double pdp = 0;
                    for (int s = 0; s <= t; s++) {
                        p[s] *= inv;
                        const float *vs = v + ((size_t)s * hkv + kvh) * d;
                        float acc = 0;
                        for (int i = 0; i < d; i++)
                            acc += dot[i] * vs[i];
                        dp[s] = acc;
                        pdp += (double)p[s] * acc;
                        /* dv[s] += p[s] * dout[t] */
                        float *dvs = dv + ((size_t)s * hkv + kvh) * d;
                        for (int i = 0; i < d; i++)
                            dvs[i] += p[s] * dot[i];
                    }
                    float *dqt = dq + ((size_t)t * hq + h) * d;
                    for (int s = 0; s <= t; s++) {
                        float ds = p[s] * (dp[s] - (float)pdp) * scale;
                        const float *ks = k + ((size_t)s * hkv + kvh) * d;
                        float *dks = dk + ((size_t)s * hkv + kvh) * d;
                        for (int i = 0; i < d; i++) {
                            dqt[i] += ds * ks[i];
                            dks[i] += ds * qt[i];
                        }
                    }
                }
            }
        }
        free(p);
        free(dp);
    }
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
