/* The LLaVA-1.5 forward pass, fp32 on the CPU: image -> image features, and a
 * LLaMA decoding session with a KV cache.
 *
 *   float *feat = malloc(n_image_tokens * hidden * sizeof *feat);
 *   pv_llava_image_features(m, pixel_values, feat);     // CLIP + projector
 *   pv_lm_session *s = pv_lm_session_new(m, 2048, true);
 *   pv_lm_prefill(s, prompt_ids, n, feat, logits);      // logits of the last position
 *   pv_lm_decode(s, next_id, logits);                   // one token at a time
 *   pv_lm_session_free(s);
 *
 * The model is used read-only: several sessions may share one model (one session
 * per thread). Every function returns 0 (or a value) on success and -1 on error;
 * the session's last error is in pv_lm_session_error(). The computation is a
 * sequence of the operations of lib/ops.h (the CUDA backend mirrors those). */
#ifndef PV_LLAVA_FORWARD_H
#define PV_LLAVA_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "llava_model.h"

/* Optional capture of intermediate tensors, for golden tests and debugging.
 * Every pointer may be NULL (not captured); the normal path pays one branch. */
typedef struct pv_forward_probe {
    /* pv_llava_image_features_probe(): */
    float *vision_embeddings;   /* [patches + 1][vision hidden]: after pre_layrnorm, CLS first */
    float *vision_selected;     /* [image tokens][vision hidden]: the feature layer, CLS dropped
                                   unless the strategy is "full" */
    /* pv_lm_session_set_probe(), for the tokens of the next prefill call (row 0 = its
       first token): */
    float *text_layer0_out;     /* [n][text hidden]: output of decoder layer 0 */
    float *text_final_norm_out; /* [n][text hidden]: after the final RMSNorm */
} pv_forward_probe;

/* Whether this forward pass computes the configured model: activations (vision
 * quick_gelu or gelu, projector gelu, text silu), heads divisible by KV heads, an even
 * head_dim, the feature layer inside the tower. 0, or -1 with the reason in err.
 * Call it once after loading (m->cfg); the functions below assume it passed. */
int pv_llava_check_supported(const pv_llava_config *cfg, char *err, size_t errlen);

/* Number of rows pv_llava_image_features() writes (image tokens per image). */
int pv_llava_n_image_features(const pv_llava_model *m);

/* pixel_values [3][S][S] (CLIP-normalised) -> features [n_image_features][text hidden]:
 * CLIP ViT up to config's vision_feature_layer, strategy, projector. 0 or -1 (no memory). */
int pv_llava_image_features(const pv_llava_model *m, const float *pixel_values, float *features);
/* The projector alone: selected CLIP features [n][vision hidden] -> features
 * [n][text hidden] (linear_1, exact GELU, linear_2). 0, or -1 (no memory). */
int pv_llava_project(const pv_llava_model *m, const float *selected, int n, float *features);
int pv_llava_image_features_probe(const pv_llava_model *m, const float *pixel_values,
                                  float *features, const pv_forward_probe *probe);

/* Significant bits of the floating type the checkpoint stores (24 float32, 11
 * float16, 8 bfloat16), recognised from the values (embedding and a projection's
 * first rows all exact in the narrower type). transformers loads a model in that
 * type by default and casts RoPE's inv_freq buffer to it, which changes the angles
 * by up to ~5e-4 relative: sessions build their rotary tables with it (lib/ops.h). */
int pv_llava_weight_bits(const pv_llava_model *m);

/* A decoding session: a KV cache for up to max_tokens positions, sized once.
 * use_lora=false runs the base model (adapters off: the DPO reference). NULL if out
 * of memory. */
typedef struct pv_lm_session pv_lm_session;
pv_lm_session *pv_lm_session_new(const pv_llava_model *m, int max_tokens, bool use_lora);
void pv_lm_session_free(pv_lm_session *s);
/* Forgets every token (the cache is kept allocated): a new sequence starts. */
void pv_lm_session_reset(pv_lm_session *s);
/* Number of tokens in the cache so far. */
int pv_lm_session_pos(const pv_lm_session *s);
/* The message of the last error (empty string if none). */
const char *pv_lm_session_error(const pv_lm_session *s);
/* Rows per prefill step (default 256, the most the scratch space holds): long
 * prompts run in steps of this many tokens; smaller steps use less cache-friendly
 * products. Values outside 1..default are clamped. */
void pv_lm_session_set_chunk(pv_lm_session *s, int rows);
/* Tensors the next prefill calls capture (NULL: none). The probe is not copied. */
void pv_lm_session_set_probe(pv_lm_session *s, const pv_forward_probe *probe);

/* Appends n tokens. Ids equal to the config's image_token_index take consecutive
 * rows of image_features (NULL if there are none; at most pv_llava_n_image_features
 * of them per call). Writes the logits of the last position [vocab] to last_logits
 * (NULL: not computed). Errors: context full, id outside the vocabulary, image token
 * without features. */
int pv_lm_prefill(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                  float *last_logits);
/* The same, writing the logits of every one of the n positions [n][vocab]. */
int pv_lm_prefill_all(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                      float *all_logits);
/* Appends one token and writes its logits [vocab]; an image token id gets its own
 * embedding row, as in transformers' decoding steps. Allocates nothing. */
int pv_lm_decode(pv_lm_session *s, int32_t id, float *logits);

/* Sum over response_start <= t < n of log p(ids[t] | ids[<t]): how --score and the DPO
 * log-probabilities are computed. token_logps (NULL or [n-1]) receives
 * log p(ids[t+1] | ids[<=t]) for every t. Returns NAN on error (err filled if non-NULL). */
double pv_llava_sequence_logp(const pv_llava_model *m, const int32_t *ids, int n,
                              const float *image_features, int response_start, bool use_lora,
                              float *token_logps);
double pv_llava_sequence_logp_err(const pv_llava_model *m, const int32_t *ids, int n,
                                  const float *image_features, int response_start,
                                  bool use_lora, float *token_logps, char *err, size_t errlen);

#endif
