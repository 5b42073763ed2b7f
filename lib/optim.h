/* Optimisation: AdamW as PyTorch's torch.optim.AdamW computes it, gradient-norm
 * clipping as torch.nn.utils.clip_grad_norm_, and the learning-rate schedules of
 * transformers (get_{cosine,linear,constant}_schedule_with_warmup). */
#ifndef PV_OPTIM_H
#define PV_OPTIM_H

#include <stddef.h>

typedef struct pv_adamw {
    double beta1, beta2, eps, weight_decay;
    long step;     /* optimiser steps taken (bias correction uses step after increment) */
} pv_adamw;

/* One AdamW update of n parameters with their first/second moments:
 *   p -= lr * wd * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * `t` is the 1-based step count (the caller increments pv_adamw.step once per
 * optimiser step, before updating its parameter groups). */
void pv_adamw_update(const pv_adamw *opt, double lr, long t, float *param, const float *grad,
                     float *m, float *v, size_t n);

/* Sum of squares of a gradient buffer (accumulated in double). */
double pv_sum_squares(const float *g, size_t n);
/* clip_grad_norm_'s factor for a total norm: min(1, max_norm / (norm + 1e-6)). */
double pv_clip_factor(double total_norm, double max_norm);

enum pv_lr_schedule { PV_LR_COSINE, PV_LR_LINEAR, PV_LR_CONSTANT };
extern const char *const pv_lr_schedule_names[];

/* Warmup steps as TRL/transformers compute them: ceil(ratio * total). */
long pv_warmup_steps(double warmup_ratio, long total_steps);
/* Learning rate at optimiser step `step` (0-based, the step about to be taken). */
double pv_lr_at(enum pv_lr_schedule kind, double base_lr, long step, long warmup, long total);

#endif
