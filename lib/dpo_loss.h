/* Preference losses on summed response log-probabilities (Rafailov et al. 2023).
 *
 * With h = (log pi(w) - log ref(w)) - (log pi(l) - log ref(l)):
 *   sigmoid (DPO):  L = -log sigmoid(beta h)
 *   hinge (SLiC):   L = max(0, 1 - beta h)
 *   ipo:            L = (h - 1/(2 beta))^2
 * Each also returns dL/dh, from which the gradient flows into the policy's
 * log-probabilities: dL/dlog pi(w) = dL/dh, dL/dlog pi(l) = -dL/dh.
 * Rewards in TRL's sense: reward(w) = beta (log pi(w) - log ref(w)). */
#ifndef PV_DPO_LOSS_H
#define PV_DPO_LOSS_H

enum pv_pref_loss { PV_LOSS_SIGMOID, PV_LOSS_HINGE, PV_LOSS_IPO };

typedef struct pv_pref_terms {
    double loss;
    double dloss_dh;         /* derivative of loss with respect to h */
    double reward_chosen;    /* beta (pi_w - ref_w) */
    double reward_rejected;  /* beta (pi_l - ref_l) */
} pv_pref_terms;

/* Names accepted by --loss; NULL-terminated, in enum order. */
extern const char *const pv_pref_loss_names[];

pv_pref_terms pv_pref_loss(enum pv_pref_loss kind, double beta, double policy_chosen,
                           double policy_rejected, double ref_chosen, double ref_rejected);

/* log(sigmoid(x)) without overflow for large |x|. */
double pv_log_sigmoid(double x);

#endif
