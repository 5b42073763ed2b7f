/* One preference pair through the model: policy and reference log-probabilities,
 * the DPO / POVID loss, and (when training) its gradients.
 *
 * Stage 1:  L = DPO(chosen, rejected)
 * Stage 2:  L = (1 - w) DPO(chosen, rejected) + w DPO(chosen, noise-own)    (w: --noise-weight)
 *   noise-own (POVID): run the chosen sequence teacher-forced with the NOISY image;
 *   at each response position take the token the model ranks first; score those
 *   tokens with the log-probabilities of the CLEAN-image forward of the chosen
 *   sequence. The policy uses its own noisy argmax, the reference its own. The
 *   argmax carries no gradient, so the noisy forwards need none.
 * SFT:      L = mean over the response tokens of -log p(chosen); --sft-weight adds
 *           that term to a DPO loss.
 * Log-probabilities are sums over response tokens (prompt and image tokens masked). */
#ifndef PV_DPO_PAIR_H
#define PV_DPO_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpo_loss.h"
#include "trainer.h"

typedef struct pv_dpo_opts {
    enum pv_pref_loss loss;
    bool sft;             /* --loss sft: NLL of chosen only */
    double beta;
    int stage;            /* 1 or 2 */
    double noise_weight;  /* w of stage 2 */
    double sft_weight;    /* extra NLL term on a DPO loss */
} pv_dpo_opts;

typedef struct pv_pair_input {
    const int32_t *chosen, *rejected;  /* full sequences: prompt + response + </s> */
    int n_chosen, n_rejected;
    int start_chosen, start_rejected;  /* index of the first response token */
    const float *selected;             /* clean image: CLIP selected features */
    const float *selected_noisy;       /* noisy image (stage 2), else NULL */
} pv_pair_input;

/* Reference values that cannot change during training (computed once per pair). */
typedef struct pv_ref_cache {
    bool valid;           /* chosen and rejected are known */
    double chosen, rejected;
    bool noise_valid;     /* noise is known (the noisy image is fixed, not redrawn) */
    double noise;
} pv_ref_cache;

typedef struct pv_pair_result {
    double policy_chosen, policy_rejected, policy_noise;  /* noise: noise-own (stage 2) */
    double ref_chosen, ref_rejected, ref_noise;
    double loss, loss_hallucinated, loss_noise, loss_sft;
    double reward_chosen, reward_rejected, reward_noise;
    long response_tokens;   /* tokens scored (chosen + rejected responses) */
} pv_pair_result;

/* Computes the pair's log-probabilities and loss. With grad_scale > 0, also adds
 * grad_scale * dL/dtheta to the trainer's gradients (grad_scale = 1 / (pairs per
 * optimiser step)); with 0 nothing is differentiated (--eval). ref is the
 * reference model (pv_trainer_reference() for LoRA; a frozen copy for full
 * fine-tuning), run with adapters off. cache (may be NULL) holds the reference's
 * chosen/rejected log-probabilities across epochs. train: LoRA dropout on.
 * 0, or -1 with err. */
int pv_dpo_pair(pv_trainer *t, const pv_llava_model *ref, const pv_dpo_opts *o,
                const pv_pair_input *in, double grad_scale, bool train, uint64_t dropout_key,
                pv_ref_cache *cache, pv_pair_result *res, char *err, size_t errlen);

/* Argmax of the logits of positions from..n-2 of ids (position t predicts t + 1)
 * under model m with the given image features, into argmax[t]; argmax[t] = 0 for
 * t < from (from = 0: every position). 0, or -1 with err. */
int pv_sequence_argmax(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                       const float *features, int from, int32_t *argmax, char *err,
                       size_t errlen);
/* sums[k] = sum over positions t + 1 >= start of log softmax(logits[t])[targets[k][t]],
 * from one forward. 0, or -1 with err. */
int pv_sequence_target_logps(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                             const float *features, int start, const int32_t *const *targets,
                             int ntargets, double *sums, char *err, size_t errlen);

#endif
