#include "dpo_pair.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "llava_forward.h"
#include "ops.h"

/* Logits of positions from..n-2 of ids (row r is position from + r, which predicts
 * ids[from + r + 1]), [n - 1 - from][vocab] malloc'd; NULL with err. The positions
 * before `from` run through the KV cache without the vocabulary projection; all
 * image tokens must be among them (or from == 0). */
static float *logits_from(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                          const float *features, int from, char *err, size_t errlen)
{
    size_t V = (size_t)m->cfg.text.vocab_size;
    int rows = n - 1 - from;
    pv_lm_session *s = pv_lm_session_new(m, n, use_lora);
    float *logits = malloc((size_t)(rows > 0 ? rows : 1) * V * sizeof *logits);
    if (!s || !logits || rows < 1) {
        pv_set_err(err, errlen, rows < 1 ? "no response to score" : "out of memory for %d rows of logits",
             rows);
        free(logits);
        pv_lm_session_free(s);
        return NULL;
    }
    int rc = 0;
    if (from > 0)
        rc = pv_lm_prefill(s, ids, from, features, NULL);
    if (rc == 0)
        rc = pv_lm_prefill_all(s, ids + from, rows, from > 0 ? NULL : features, logits);
    if (rc != 0) {
        pv_set_err(err, errlen, "%s", pv_lm_session_error(s));
        free(logits);
        logits = NULL;
    }
    pv_lm_session_free(s);
    return logits;
}

int pv_sequence_argmax(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                       const float *features, int from, int32_t *argmax, char *err,
                       size_t errlen)
{
    float *logits = logits_from(m, use_lora, ids, n, features, from, err, errlen);
    if (!logits)
        return -1;
    int V = m->cfg.text.vocab_size;
    for (int t = 0; t < from; t++)
        argmax[t] = 0;
    for (int t = from; t < n - 1; t++)
        argmax[t] = pv_op_argmax(logits + (size_t)(t - from) * V, V);
    free(logits);
    return 0;
}

int pv_sequence_target_logps(const pv_llava_model *m, bool use_lora, const int32_t *ids, int n,
                             const float *features, int start, const int32_t *const *targets,
                             int ntargets, double *sums, char *err, size_t errlen)
{
    float *logits = logits_from(m, use_lora, ids, n, features, start - 1, err, errlen);
    if (!logits)
        return -1;
    int V = m->cfg.text.vocab_size;
    for (int k = 0; k < ntargets; k++)
        sums[k] = 0;
    for (int t = start - 1; t < n - 1; t++) {
        const float *z = logits + (size_t)(t - start + 1) * V;
        double lse = pv_op_logsumexp(z, V);
        for (int k = 0; k < ntargets; k++)
            sums[k] += z[targets[k][t]] - lse;
    }
    free(logits);
    return 0;
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
        return pv_set_err(err, errlen, "stage 2 needs the noisy image");
    img = pv_train_image(t, in->selected);
    ref_feat = malloc(feat_elems * sizeof *ref_feat);
    noisy_feat = malloc(feat_elems * sizeof *noisy_feat);
    targets_c = malloc((size_t)nc * sizeof *targets_c);
    targets_r = malloc((size_t)(in->n_rejected > 0 ? in->n_rejected : 1) * sizeof *targets_r);
    policy_arg = malloc((size_t)nc * sizeof *policy_arg);
    ref_arg = malloc((size_t)nc * sizeof *ref_arg);
    if (!ref_feat || !noisy_feat || !targets_c || !targets_r || !policy_arg || !ref_arg) {
        pv_set_err(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i + 1 < nc; i++)
        targets_c[i] = in->chosen[i + 1];
    for (int i = 0; i + 1 < in->n_rejected; i++)
        targets_r[i] = in->rejected[i + 1];

    /* Reference log-probabilities (no gradients). What cannot change comes from the
     * cache; the chosen sequence is scored once for both its target sets. */
    if (!o->sft) {
        bool need_pair = !(cache && cache->valid);
        bool need_noise = stage2 && !(cache && cache->noise_valid);
        if (pv_llava_project(ref, in->selected, n_img, ref_feat) != 0) {
            pv_set_err(err, errlen, "out of memory for image features");
            goto out;
        }
        if (need_noise) {
            if (pv_llava_project(ref, in->selected_noisy, n_img, noisy_feat) != 0) {
                pv_set_err(err, errlen, "out of memory for image features");
                goto out;
            }
            if (pv_sequence_argmax(ref, false, in->chosen, nc, noisy_feat, sc - 1, ref_arg, err,
                                   errlen) != 0)
                goto out;
        }
        if (need_pair || need_noise) {
            const int32_t *tl[2] = {targets_c, ref_arg};
            double sums[2];
            int first = need_pair ? 0 : 1;
            if (pv_sequence_target_logps(ref, false, in->chosen, nc, ref_feat, sc, tl + first,
                                         need_noise ? 2 - first : 1, sums, err, errlen) != 0)
                goto out;
            if (need_pair)
                res->ref_chosen = sums[0];
            if (need_noise)
                res->ref_noise = sums[1 - first];
        }
        if (need_pair) {
            const int32_t *tl[1] = {targets_r};
            double sums[1];
            if (pv_sequence_target_logps(ref, false, in->rejected, in->n_rejected, ref_feat,
                                         in->start_rejected, tl, 1, sums, err, errlen) != 0)
                goto out;
            res->ref_rejected = sums[0];
        }
        if (cache) {
            if (need_pair) {
                cache->valid = true;
                cache->chosen = res->ref_chosen;
                cache->rejected = res->ref_rejected;
            }
            if (need_noise) {
                cache->noise_valid = true;
                cache->noise = res->ref_noise;
            }
        }
        if (!need_pair) {
            res->ref_chosen = cache->chosen;
            res->ref_rejected = cache->rejected;
        }
        if (stage2 && !need_noise)
            res->ref_noise = cache->noise;
    }
    /* Stage 2: the policy's own argmax under the noisy image. */
    if (stage2) {
        const pv_llava_model *pm = pv_trainer_model(t);
        if (pv_llava_project(pm, in->selected_noisy, n_img, noisy_feat) != 0) {
            pv_set_err(err, errlen, "out of memory for image features");
            goto out;
        }
        if (pv_sequence_argmax(pm, true, in->chosen, nc, noisy_feat, sc - 1, policy_arg, err,
                               errlen) != 0)
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
