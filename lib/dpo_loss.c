#include "dpo_loss.h"

#include <math.h>

const char *const pv_pref_loss_names[] = {"sigmoid", "hinge", "ipo", 0};

double pv_log_sigmoid(double x)
{
    /* log sigmoid(x) = -log(1 + e^-x) = min(x, 0) - log1p(e^-|x|) */
    return fmin(x, 0.0) - log1p(exp(-fabs(x)));
}

static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

pv_pref_terms pv_pref_loss(enum pv_pref_loss kind, double beta, double policy_chosen,
                           double policy_rejected, double ref_chosen, double ref_rejected)
{
    pv_pref_terms t;
    double chosen_ratio = policy_chosen - ref_chosen;
    double rejected_ratio = policy_rejected - ref_rejected;
    double h = chosen_ratio - rejected_ratio;
    t.reward_chosen = beta * chosen_ratio;
    t.reward_rejected = beta * rejected_ratio;
    switch (kind) {
    case PV_LOSS_HINGE:
        t.loss = fmax(0.0, 1.0 - beta * h);
        t.dloss_dh = beta * h < 1.0 ? -beta : 0.0;
        break;
    case PV_LOSS_IPO: {
        double d = h - 1.0 / (2.0 * beta);
        t.loss = d * d;
        t.dloss_dh = 2.0 * d;
        break;
    }
    case PV_LOSS_SIGMOID:
    default:
        t.loss = -pv_log_sigmoid(beta * h);
        t.dloss_dh = -beta * sigmoid(-beta * h);
        break;
    }
    return t;
}
