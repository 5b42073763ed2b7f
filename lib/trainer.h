/* Training the language model and the projector of a LLaVA model (pv-dpo).
 *
 * A trainer owns what the optimiser needs: the trainable tensors (LoRA A and B of
 * the targeted language-model linears, or every language-model weight for full
 * fine-tuning; the projector in both cases), their gradients and AdamW moments.
 * The vision tower is frozen: callers compute its selected features once per
 * image (pv_clip_features) and hand them to every forward that uses the image.
 *
 * A training forward keeps the activations of one sequence so that its backward
 * can run later, after the loss, which depends on several sequences (DPO), is known:
 *
 *   pv_image_act *img = pv_train_image(t, selected);                 projector
 *   pv_seq_act *c = pv_train_seq_forward(t, ids, n, img, start, targets, 1, sums, key, ...);
 *   ...loss from sums...
 *   pv_train_seq_backward(t, c, dloss_dsums);      gradients of the LM, d(features)
 *   pv_train_image_backward(t, img);               gradients of the projector
 *
 * Targets: a sequence's log-probability "sum k" is sum over response positions
 * (t + 1 >= response_start) of log softmax(logits[t])[targets[k][t]]. With
 * targets = ids + 1 it is the usual log p(response); POVID's noise-own term uses
 * the noisy-image argmax as targets on the same clean logits.
 *
 * The reference model for DPO: with LoRA, the same weights with adapters off and
 * the projector as it was when the trainer was made (pv_trainer_reference());
 * for full fine-tuning, a second copy of the model the caller loads. */
#ifndef PV_TRAINER_H
#define PV_TRAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llava_model.h"

/* LoRA target modules of each decoder layer. */
enum {
    PV_LORA_Q = 1 << 0, PV_LORA_K = 1 << 1, PV_LORA_V = 1 << 2, PV_LORA_O = 1 << 3,
    PV_LORA_GATE = 1 << 4, PV_LORA_UP = 1 << 5, PV_LORA_DOWN = 1 << 6,
    PV_LORA_ALL = (1 << 7) - 1,
};
/* Parses "q,k,v,o,gate,up,down" (also the *_proj spellings, and "all"); -1 if bad. */
int pv_lora_targets_parse(const char *list);

typedef struct pv_trainer_opts {
    int lora_r;           /* 0: full fine-tuning */
    double lora_alpha;    /* scale = alpha / r */
    double lora_dropout;  /* on the LoRA branch's input, while training */
    unsigned lora_targets;
    uint64_t seed;        /* initialisation of new adapters and dropout masks */
} pv_trainer_opts;

typedef struct pv_train_param {
    char *name;           /* PEFT's name without ".default" (LoRA), the hub name (full),
                             "base_model.model.model.multi_modal_projector.*" (LoRA projector) */
    float *data, *grad, *m, *v;
    size_t n;
    int ndim;
    long long shape[2];
    bool projector;       /* learning-rate group of the projector */
} pv_train_param;

typedef struct pv_trainer pv_trainer;

/* Makes the model trainable. LoRA: layers that already carry an adapter (from
 * --adapter) keep it and train it; targeted layers without one get A ~ U(+-1/sqrt(in))
 * (PEFT's Kaiming-uniform default) and B = 0. NULL with err. */
pv_trainer *pv_trainer_new(pv_llava_model *m, const pv_trainer_opts *o, char *err, size_t errlen);
void pv_trainer_free(pv_trainer *t);
pv_train_param *pv_trainer_params(pv_trainer *t, size_t *count);
void pv_trainer_zero_grad(pv_trainer *t);
/* The reference model of LoRA training (adapters must be turned off when it is run:
 * use_lora = false); NULL for full fine-tuning. Valid while the trainer lives. */
const pv_llava_model *pv_trainer_reference(const pv_trainer *t);
/* The model being trained (the policy). */
const pv_llava_model *pv_trainer_model(const pv_trainer *t);
/* The trainer's options, with the LoRA alpha/r of a loaded adapter filled in. */
const pv_trainer_opts *pv_trainer_options(const pv_trainer *t);

typedef struct pv_image_act pv_image_act;
/* The policy's projector on an image's selected features [n_image_tokens][vision hidden]. */
pv_image_act *pv_train_image(pv_trainer *t, const float *selected);
const float *pv_image_features(const pv_image_act *a);
/* Adds the projector's gradients from the feature gradients the sequences left. */
void pv_train_image_backward(pv_trainer *t, pv_image_act *a);
void pv_image_act_free(pv_image_act *a);

typedef struct pv_seq_act pv_seq_act;
/* Forward of ids[0..n) with the image's features at the image tokens (img may be
 * NULL for a text-only sequence). sums[k] receives log-prob sum k (see above);
 * targets[k] has n - 1 entries. train: apply LoRA dropout (keyed by dropout_key).
 * NULL with err (no memory, bad ids). */
pv_seq_act *pv_train_seq_forward(pv_trainer *t, const int32_t *ids, int n, pv_image_act *img,
                                 int response_start, const int32_t *const *targets,
                                 int ntargets, double *sums, bool train, uint64_t dropout_key,
                                 char *err, size_t errlen);
/* Backward with dLoss/dsum_k = coefs[k]: accumulates parameter gradients and the
 * image's feature gradients. */
void pv_train_seq_backward(pv_trainer *t, pv_seq_act *a, const double *coefs);
void pv_seq_act_free(pv_seq_act *a);

#endif
