#include "dpo_pair.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "llava_forward.h"
#include "ops.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Logits of every position of ids [n][vocab] (malloc'd), or NULL with err. */
static float *all_logits(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                         const float *features, char *err, size_t errlen)
{
    size_t V = (size_t)m->cfg.text.vocab_size;
    pv_lm_session *s = pv_lm_session_new(m, n, use_lora);
    float *logits = malloc((size_t)n * V * sizeof *logits);
    if (!s || !logits) {
        fail(err, errlen, "out of memory for the logits of %d tokens", n);
        free(logits);
        pv_lm_session_free(s);
        return NULL;
    }
    if (pv_lm_prefill_all(s, ids, n, features, logits) != 0) {
        fail(err, errlen, "%s", pv_lm_session_error(s));
        free(logits);
        logits = NULL;
    }
    pv_lm_session_free(s);
    return logits;
}

int pv_sequence_argmax(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                       const float *features, int32_t *argmax, char *err, size_t errlen)
{
    float *logits = all_logits(m, use_lora, ids, n, features, err, errlen);
    if (!logits)
        return -1;
    int V = m->cfg.text.vocab_size;
    for (int t = 0; t < n - 1; t++)
        argmax[t] = pv_op_argmax(logits + (size_t)t * V, V);
    free(logits);
    return 0;
}

double pv_sequence_target_logp(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                               const float *features, int start, const int32_t *targets,
                               char *err, size_t errlen)
{
    float *logits = all_logits(m, use_lora, ids, n, features, err, errlen);
    if (!logits)
        return NAN;
    int V = m->cfg.text.vocab_size;
    double sum = 0;
    for (int t = start - 1; t < n - 1; t++) {
        const float *z = logits + (size_t)t * V;
        sum += z[targets[t]] - pv_op_logsumexp(z, V);
    }
    free(logits);
    return sum;
}

int pv_dpo_pair(pv_trainer *t, const pv_llava_model *ref, const pv_dpo_opts *o,
                const pv_pair_input *in, double grad_scale, bool train, uint64_t dropout_key,
                pv_ref_cache *cache, pv_pair_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    int rc = -1;
    bool stage2 = o->stage == 2 && !o->sft;
    int nc = in->n_chosen, sc = in->start_chosen;
    int n_img = pv_llava_config_image_tokens(&ref->cfg);
    size_t feat_elems = (size_t)n_img * ref->cfg.text.hidden_size;
    float *ref_feat = NULL, *noisy_feat = NULL;
    int32_t *targets_c = NULL, *targets_r = NULL, *policy_arg = NULL, *ref_arg = NULL;
    pv_image_act *img = NULL;
    pv_seq_act *ac = NULL, *ar = NULL;

    if (stage2 && !in->selected_noisy)
        return fail(err, errlen, "stage 2 needs the noisy image");
    img = pv_train_image(t, in->selected);
    ref_feat = malloc(feat_elems * sizeof *ref_feat);
    noisy_feat = malloc(feat_elems * sizeof *noisy_feat);
    targets_c = malloc((size_t)nc * sizeof *targets_c);
    targets_r = malloc((size_t)(in->n_rejected > 0 ? in->n_rejected : 1) * sizeof *targets_r);
    policy_arg = malloc((size_t)nc * sizeof *policy_arg);
    ref_arg = malloc((size_t)nc * sizeof *ref_arg);
    if (!ref_feat || !noisy_feat || !targets_c || !targets_r || !policy_arg || !ref_arg) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i + 1 < nc; i++)
        targets_c[i] = in->chosen[i + 1];
    for (int i = 0; i + 1 < in->n_rejected; i++)
        targets_r[i] = in->rejected[i + 1];

    /* Reference log-probabilities (no gradients). */
    if (!o->sft) {
        pv_project_features(ref, in->selected, n_img, ref_feat);
        if (cache && cache->valid) {
            res->ref_chosen = cache->chosen;
            res->ref_rejected = cache->rejected;
        } else {
            res->ref_chosen = pv_llava_sequence_logp_err(ref, in->chosen, nc, ref_feat, sc, false,
                                                         NULL, err, errlen);
            res->ref_rejected = pv_llava_sequence_logp_err(ref, in->rejected, in->n_rejected,
                                                           ref_feat, in->start_rejected, false,
                                                           NULL, err, errlen);
            if (isnan(res->ref_chosen) || isnan(res->ref_rejected))
                goto out;
            if (cache) {
                cache->valid = true;
                cache->chosen = res->ref_chosen;
                cache->rejected = res->ref_rejected;
            }
        }
    }
    /* Stage 2: each model's own argmax under the noisy image. */
    if (stage2) {
        if (cache && cache->noise_valid) {
            res->ref_noise = cache->noise;
        } else {
            pv_project_features(ref, in->selected_noisy, n_img, noisy_feat);
            if (pv_sequence_argmax(ref, false, in->chosen, nc, noisy_feat, ref_arg, err, errlen) != 0)
                goto out;
            res->ref_noise = pv_sequence_target_logp(ref, false, in->chosen, nc, ref_feat, sc,
                                                     ref_arg, err, errlen);
            if (isnan(res->ref_noise))
                goto out;
            if (cache) {
                cache->noise_valid = true;
                cache->noise = res->ref_noise;
            }
        }
        const pv_llava_model *pm = pv_trainer_model(t);
        pv_project_features(pm, in->selected_noisy, n_img, noisy_feat);
        if (pv_sequence_argmax(pm, true, in->chosen, nc, noisy_feat, policy_arg, err, errlen) != 0)
            goto out;
    }

    /* Policy forwards, with activations kept for the backward. */
    const int32_t *tl_c[2] = {targets_c, policy_arg};
    double sums[2] = {0, 0};
    ac = pv_train_seq_forward(t, in->chosen, nc, img, sc, tl_c, stage2 ? 2 : 1, sums, train,
                              dropout_key, err, errlen);
    if (!ac)
        goto out;
    res->policy_chosen = sums[0];
    res->policy_noise = sums[1];
    if (!o->sft) {
        const int32_t *tl_r[1] = {targets_r};
        ar = pv_train_seq_forward(t, in->rejected, in->n_rejected, img, in->start_rejected, tl_r,
                                  1, sums, train, dropout_key ^ 0x5245554a45435445ULL, err, errlen);
        if (!ar)
            goto out;
        res->policy_rejected = sums[0];
    }

    /* Loss and its derivatives with respect to the three policy log-probabilities. */
    double d_pc = 0, d_pr = 0, d_pn = 0;
    int n_resp = nc - sc;
    res->response_tokens = n_resp + (o->sft ? 0 : in->n_rejected - in->start_rejected);
    if (o->sft) {
        res->loss_sft = -res->policy_chosen / n_resp;
        res->loss = res->loss_sft;
        d_pc = -1.0 / n_resp;
    } else {
        pv_pref_terms h1 = pv_pref_loss(o->loss, o->beta, res->policy_chosen, res->policy_rejected,
                                        res->ref_chosen, res->ref_rejected);
        res->loss_hallucinated = h1.loss;
        res->reward_chosen = h1.reward_chosen;
        res->reward_rejected = h1.reward_rejected;
        if (stage2) {
            double w = o->noise_weight;
            pv_pref_terms h2 = pv_pref_loss(o->loss, o->beta, res->policy_chosen, res->policy_noise,
                                            res->ref_chosen, res->ref_noise);
            res->loss_noise = h2.loss;
            res->reward_noise = h2.reward_rejected;
            res->loss = (1 - w) * h1.loss + w * h2.loss;
            d_pc = (1 - w) * h1.dloss_dh + w * h2.dloss_dh;
            d_pr = -(1 - w) * h1.dloss_dh;
            d_pn = -w * h2.dloss_dh;
        } else {
            res->loss = h1.loss;
            d_pc = h1.dloss_dh;
            d_pr = -h1.dloss_dh;
        }
        if (o->sft_weight > 0) {
            res->loss_sft = -res->policy_chosen / n_resp;
            res->loss += o->sft_weight * res->loss_sft;
            d_pc += -o->sft_weight / n_resp;
        }
    }

    if (grad_scale > 0) {
        double coefs_c[2] = {d_pc * grad_scale, d_pn * grad_scale};
        pv_train_seq_backward(t, ac, coefs_c);
        if (ar) {
            double coefs_r[1] = {d_pr * grad_scale};
            pv_train_seq_backward(t, ar, coefs_r);
        }
        pv_train_image_backward(t, img);
    }
    rc = 0;
out:
    pv_seq_act_free(ac);
    pv_seq_act_free(ar);
    pv_image_act_free(img);
    free(ref_feat);
    free(noisy_feat);
    free(targets_c);
    free(targets_r);
    free(policy_arg);
    free(ref_arg);
    return rc;
}
