/* Backward passes of the language-model operations, for pv-dpo.
 *
 * Each function takes what its forward op saw (inputs, sometimes a saved
 * intermediate) and the gradient of the loss with respect to the op's output,
 * and ACCUMULATES (+=) the gradients of its inputs and trainable weights, so
 * that contributions from several sequences or terms add up without copies.
 * Pass NULL for a gradient that is not needed (a frozen weight, an input that
 * needs no gradient). Shapes use T rows (tokens); matrices are row-major in
 * Hugging Face's layouts ([out][in] for linear weights). */
#ifndef PV_GRAD_OPS_H
#define PV_GRAD_OPS_H

#include <stddef.h>

/* y = x W^T + b, W [out][in]. */
void pv_linear_backward(int T, int in, int out, const float *x, const float *dy, const float *w,
                        float *dx, float *dw, float *db);

/* The LoRA branch y += scale (x A^T) B^T, A [r][in], B [out][r]; x is the branch's
 * input (after LoRA dropout, if any) and xa = x A^T [T][r] saved by the forward.
 * dx receives the gradient of the branch's input (the caller applies the dropout
 * mask). scratch: T * r floats. */
void pv_lora_backward(int T, int in, int out, const float *x, const float *dy, int r, float scale,
                      const float *lora_a, const float *lora_b, const float *xa, float *dx,
                      float *dlora_a, float *dlora_b, float *scratch);

/* y = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps), per row of n. */
void pv_rmsnorm_backward(int T, int n, float eps, const float *x, const float *w, const float *dy,
                         float *dx, float *dw);

/* y = (x - mean) * rstd * w + b per row of n (CLIP's LayerNorm). */
void pv_layernorm_backward(int T, int n, float eps, const float *x, const float *w,
                           const float *dy, float *dx, float *dw, float *db);

/* Rotary embedding in HF's rotate-half convention on [T][heads][head_dim]:
 * the backward is the rotation by the opposite angle. cos/sin are [T][head_dim/2]
 * (the angles of position t and frequency i). In place on d. */
void pv_rope_backward(int T, int heads, int head_dim, const float *cos_t, const float *sin_t,
                      float *d);

/* h = silu(g) * u elementwise (SwiGLU). */
void pv_swiglu_backward(size_t n, const float *g, const float *u, const float *dh, float *dg,
                        float *du);

/* y = gelu(x) with the exact erf form. */
void pv_gelu_backward(size_t n, const float *x, const float *dy, float *dx);

/* Causal grouped-query attention, softmax(q k^T * scale) v, per head:
 * q [T][hq][d], k and v [T][hkv][d] (query head h uses kv head h / (hq/hkv)),
 * dout [T][hq][d]. Recomputes the probabilities (no T x T matrix is kept
 * between forward and backward); works in 2 T x T buffers of its own. */
void pv_attention_backward(int T, int hq, int hkv, int d, float scale, const float *q,
                           const float *k, const float *v, const float *dout, float *dq,
                           float *dk, float *dv);

/* Log-probability of chosen targets: for rows t of logits [T][V], the loss term
 * coef[t] * log_softmax(logits[t])[target[t]] has gradient
 * coef[t] * (onehot(target[t]) - softmax(logits[t])). Rows with coef 0 are skipped.
 * lse[t] is the row's logsumexp (saved by the forward). */
void pv_logprob_backward(int T, int V, const float *logits, const float *lse, const int *target,
                         const float *coef, float *dlogits);

#endif
