#include "optim.h"

#include <math.h>

const char *const pv_lr_schedule_names[] = {"cosine", "linear", "constant", 0};

void pv_adamw_update(const pv_adamw *opt, double lr, long t, float *param, const float *grad,
                     float *m, float *v, size_t n)
{
    const double b1 = opt->beta1, b2 = opt->beta2;
    const double bc1 = 1.0 - pow(b1, (double)t);
    const double bc2 = 1.0 - pow(b2, (double)t);
    const double decay = 1.0 - lr * opt->weight_decay;
    const double step_size = lr / bc1;
    const double bc2_sqrt = sqrt(bc2);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        double mi = b1 * m[i] + (1.0 - b1) * g;
        double vi = b2 * v[i] + (1.0 - b2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        double p = param[i] * decay;
        /* PyTorch: denom = sqrt(v) / sqrt(bc2) + eps; p -= (lr / bc1) * m / denom */
        double denom = sqrt(vi) / bc2_sqrt + opt->eps;
        param[i] = (float)(p - step_size * mi / denom);
    }
}

double pv_sum_squares(const float *g, size_t n)
{
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

double pv_clip_factor(double total_norm, double max_norm)
{
    if (max_norm <= 0)
        return 1.0;
    double f = max_norm / (total_norm + 1e-6);
    return f < 1.0 ? f : 1.0;
}

long pv_warmup_steps(double warmup_ratio, long total_steps)
{
    return (long)ceil(warmup_ratio * (double)total_steps);
}

double pv_lr_at(enum pv_lr_schedule kind, double base_lr, long step, long warmup, long total)
{
    if (step < warmup)
        return base_lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    double span = (double)(total - warmup > 1 ? total - warmup : 1);
    double progress = (double)(step - warmup) / span;
    switch (kind) {
    case PV_LR_LINEAR: {
        double f = (double)(total - step) / span;
        return base_lr * (f > 0 ? f : 0);
    }
    case PV_LR_CONSTANT:
        return base_lr;
    case PV_LR_COSINE:
    default: {
        double f = 0.5 * (1.0 + cos(M_PI * progress));
        return base_lr * (f > 0 ? f : 0);
    }
    }
}
