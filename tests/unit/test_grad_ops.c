/* Backward ops against central differences of double-precision forwards written
 * here from the published definitions (RMSNorm, LayerNorm, rotate-half RoPE,
 * SwiGLU, erf GELU, causal GQA softmax attention, LoRA linear, log-softmax).
 * The probe is L = sum(dy * y) for a random dy, so dL/dinput is the backward's
 * output for that dy. fp32 backward against a float64 difference: 1e-4 relative
 * with a 1e-6 absolute floor (the finite difference itself is good to ~1e-9). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "grad_ops.h"

static unsigned long long rng = 88172645463325252ULL;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}
static float *randv(size_t n, double s)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(urand() * s);
    return v;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

/* forward(params) -> sum(dy * y) in double; perturbs one float parameter. */
typedef double (*probe_fn)(void *ctx);

static void gradcheck(const char *name, probe_fn f, void *ctx, float *param, size_t n,
                      const float *analytic)
{
    double worst = 0, worst_abs = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = param[i];
        double h = 1e-3 * fmax(1.0, fabs(keep));
        param[i] = (float)(keep + h);
        double hp = (double)param[i] - keep;
        double lp = f(ctx);
        param[i] = (float)(keep - h);
        double hm = keep - (double)param[i];
        double lm = f(ctx);
        param[i] = keep;
        double num = (lp - lm) / (hp + hm);
        double err = fabs(num - analytic[i]);
        double rel = err / fmax(fabs(num), 1e-12);
        if (err > 1e-4 * fabs(num) + 2e-5)
            bad++;
        if (err > worst_abs)
            worst_abs = err, worst = rel;
    }
    printf("# %s: worst abs err %.3g (rel %.3g) over %zu values\n", name, worst_abs, worst, n);
    CHECK(bad == 0, name);
}

/* ---- linear with LoRA ---- */
struct lin { int T, in, out, r; float scale; float *x, *w, *b, *a, *bb, *dy; };
static double lin_probe(void *c)
{
    struct lin *L = c;
    double s = 0;
    for (int t = 0; t < L->T; t++)
        for (int o = 0; o < L->out; o++) {
            double y = L->b[o];
            for (int i = 0; i < L->in; i++)
                y += (double)L->x[t * L->in + i] * L->w[o * L->in + i];
            for (int j = 0; j < L->r; j++) {
                double xa = 0;
                for (int i = 0; i < L->in; i++)
                    xa += (double)L->x[t * L->in + i] * L->a[j * L->in + i];
                y += L->scale * xa * L->bb[o * L->r + j];
            }
            s += y * L->dy[t * L->out + o];
        }
    return s;
}
static void test_linear(void)
{
    struct lin L = {.T = 3, .in = 5, .out = 4, .r = 2, .scale = 2.0f};
    L.x = randv(15, 1), L.w = randv(20, 1), L.b = randv(4, 1), L.a = randv(10, 1);
    L.bb = randv(8, 1), L.dy = randv(12, 1);
    float *xa = zeros(6);
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < 5; i++)
                xa[t * 2 + j] += L.x[t * 5 + i] * L.a[j * 5 + i];
    float *dx = zeros(15), *dw = zeros(20), *db = zeros(4), *da = zeros(10), *dbb = zeros(8);
    float scratch[6];
    pv_linear_backward(3, 5, 4, L.x, L.dy, L.w, dx, dw, db);
    pv_lora_backward(3, 5, 4, L.x, L.dy, 2, 2.0f, L.a, L.bb, xa, dx, da, dbb, scratch);
    gradcheck("linear: dx", lin_probe, &L, L.x, 15, dx);
    gradcheck("linear: dW", lin_probe, &L, L.w, 20, dw);
    gradcheck("linear: db", lin_probe, &L, L.b, 4, db);
    gradcheck("linear: dLoRA_A", lin_probe, &L, L.a, 10, da);
    gradcheck("linear: dLoRA_B", lin_probe, &L, L.bb, 8, dbb);
}

/* ---- RMSNorm and LayerNorm ---- */
struct norm { int T, n; float eps; float *x, *w, *b, *dy; int layer; };
static double norm_probe(void *c)
{
    struct norm *N = c;
    double s = 0;
    for (int t = 0; t < N->T; t++) {
        const float *x = N->x + t * N->n;
        double mean = 0, ss = 0;
        if (N->layer) {
            for (int i = 0; i < N->n; i++)
                mean += x[i];
            mean /= N->n;
        }
        for (int i = 0; i < N->n; i++)
            ss += (x[i] - mean) * (x[i] - mean);
        double rstd = 1 / sqrt(ss / N->n + N->eps);
        for (int i = 0; i < N->n; i++)
            s += ((x[i] - mean) * rstd * N->w[i] + (N->layer ? N->b[i] : 0)) * N->dy[t * N->n + i];
    }
    return s;
}
static void test_norms(void)
{
    struct norm N = {.T = 3, .n = 8, .eps = 1e-6f};
    N.x = randv(24, 2), N.w = randv(8, 1), N.b = randv(8, 1), N.dy = randv(24, 1);
    float *dx = zeros(24), *dw = zeros(8), *db = zeros(8);
    pv_rmsnorm_backward(3, 8, N.eps, N.x, N.w, N.dy, dx, dw);
    gradcheck("rmsnorm: dx", norm_probe, &N, N.x, 24, dx);
    gradcheck("rmsnorm: dw", norm_probe, &N, N.w, 8, dw);
    N.layer = 1, N.eps = 1e-5f;
    memset(dx, 0, 24 * 4), memset(dw, 0, 32);
    pv_layernorm_backward(3, 8, N.eps, N.x, N.w, N.dy, dx, dw, db);
    gradcheck("layernorm: dx", norm_probe, &N, N.x, 24, dx);
    gradcheck("layernorm: dw", norm_probe, &N, N.w, 8, dw);
    gradcheck("layernorm: db", norm_probe, &N, N.b, 8, db);
}

/* ---- RoPE (rotate-half) ---- */
struct rope { int T, H, D; float *x, *c, *s, *dy; };
static double rope_probe(void *ctx)
{
    struct rope *R = ctx;
    int half = R->D / 2;
    double s = 0;
    for (int t = 0; t < R->T; t++)
        for (int h = 0; h < R->H; h++)
            for (int i = 0; i < R->D; i++) {
                const float *x = R->x + (t * R->H + h) * R->D;
                double c = R->c[t * half + i % half], sn = R->s[t * half + i % half];
                double rot = i < half ? -x[i + half] : x[i - half];
                s += (x[i] * c + rot * sn) * R->dy[(t * R->H + h) * R->D + i];
            }
    return s;
}
static void test_rope(void)
{
    struct rope R = {.T = 3, .H = 2, .D = 8};
    R.x = randv(48, 1), R.dy = randv(48, 1);
    R.c = zeros(12), R.s = zeros(12);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 4; i++) {
            double ang = t * pow(10000.0, -2.0 * i / 8);
            R.c[t * 4 + i] = (float)cos(ang), R.s[t * 4 + i] = (float)sin(ang);
        }
    float *d = malloc(48 * 4);
    memcpy(d, R.dy, 48 * 4);
    pv_rope_backward(3, 2, 8, R.c, R.s, d);
    gradcheck("rope: dx", rope_probe, &R, R.x, 48, d);
}

/* ---- SwiGLU and GELU ---- */
struct elt { int n; float *g, *u, *dy; int gelu; };
static double elt_probe(void *c)
{
    struct elt *E = c;
    double s = 0;
    for (int i = 0; i < E->n; i++) {
        double g = E->g[i];
        double y = E->gelu ? 0.5 * g * (1 + erf(g / sqrt(2.0))) : g / (1 + exp(-g)) * E->u[i];
        s += y * E->dy[i];
    }
    return s;
}
static void test_elementwise(void)
{
    struct elt E = {.n = 16};
    E.g = randv(16, 3), E.u = randv(16, 2), E.dy = randv(16, 1);
    float *dg = zeros(16), *du = zeros(16), *dx = zeros(16);
    pv_swiglu_backward(16, E.g, E.u, E.dy, dg, du);
    gradcheck("swiglu: dgate", elt_probe, &E, E.g, 16, dg);
    gradcheck("swiglu: dup", elt_probe, &E, E.u, 16, du);
    E.gelu = 1;
    pv_gelu_backward(16, E.g, E.dy, dx);
    gradcheck("gelu: dx", elt_probe, &E, E.g, 16, dx);
}

/* ---- causal GQA attention ---- */
struct att { int T, hq, hkv, d; float scale; float *q, *k, *v, *dy; };
static double att_probe(void *c)
{
    struct att *A = c;
    double s = 0, p[16];
    for (int h = 0; h < A->hq; h++) {
        int kh = h / (A->hq / A->hkv);
        for (int t = 0; t < A->T; t++) {
            double mx = -1e300, sum = 0;
            for (int j = 0; j <= t; j++) {
                double a = 0;
                for (int i = 0; i < A->d; i++)
                    a += (double)A->q[(t * A->hq + h) * A->d + i] * A->k[(j * A->hkv + kh) * A->d + i];
                p[j] = a * A->scale;
                if (p[j] > mx)
                    mx = p[j];
            }
            for (int j = 0; j <= t; j++)
                sum += p[j] = exp(p[j] - mx);
            for (int i = 0; i < A->d; i++) {
                double o = 0;
                for (int j = 0; j <= t; j++)
                    o += p[j] / sum * A->v[(j * A->hkv + kh) * A->d + i];
                s += o * A->dy[(t * A->hq + h) * A->d + i];
            }
        }
    }
    return s;
}
static void test_attention(void)
{
    struct att A = {.T = 5, .hq = 4, .hkv = 2, .d = 4, .scale = 0.5f};
    size_t nq = 5 * 4 * 4, nk = 5 * 2 * 4;
    A.q = randv(nq, 1), A.k = randv(nk, 1), A.v = randv(nk, 1), A.dy = randv(nq, 1);
    float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
    pv_attention_backward(5, 4, 2, 4, 0.5f, A.q, A.k, A.v, A.dy, dq, dk, dv);
    gradcheck("attention: dq", att_probe, &A, A.q, nq, dq);
    gradcheck("attention: dk", att_probe, &A, A.k, nk, dk);
    gradcheck("attention: dv", att_probe, &A, A.v, nk, dv);
}

/* ---- log-prob of targets ---- */
struct lp { int T, V; float *z; int *tgt; float *coef; };
static double lp_probe(void *c)
{
    struct lp *L = c;
    double s = 0;
    for (int t = 0; t < L->T; t++) {
        double mx = -1e300, sum = 0;
        for (int i = 0; i < L->V; i++)
            mx = fmax(mx, L->z[t * L->V + i]);
        for (int i = 0; i < L->V; i++)
            sum += exp(L->z[t * L->V + i] - mx);
        s += L->coef[t] * (L->z[t * L->V + L->tgt[t]] - mx - log(sum));
    }
    return s;
}
static void test_logprob(void)
{
    struct lp L = {.T = 3, .V = 7};
    L.z = randv(21, 3);
    int tgt[3] = {2, 6, 0};
    float coef[3] = {1.0f, 0.0f, -0.5f};
    L.tgt = tgt, L.coef = coef;
    float lse[3], *dz = zeros(21);
    for (int t = 0; t < 3; t++) {
        double mx = -1e300, sum = 0;
        for (int i = 0; i < 7; i++)
            mx = fmax(mx, L.z[t * 7 + i]);
        for (int i = 0; i < 7; i++)
            sum += exp(L.z[t * 7 + i] - mx);
        lse[t] = (float)(mx + log(sum));
    }
    pv_logprob_backward(3, 7, L.z, lse, tgt, coef, dz);
    gradcheck("log-prob: dlogits", lp_probe, &L, L.z, 21, dz);
}

int main(void)
{
    test_linear();
    test_norms();
    test_rope();
    test_elementwise();
    test_attention();
    test_logprob();
    return check_done();
}
