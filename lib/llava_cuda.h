/* LLaVA-1.5 on an NVIDIA GPU: the weights on the device, a prefill/decode session
 * mirroring pv_lm_session (lib/llava_forward.h) with several sequences at once, and
 * batched generation. Compiles in every build: without CUDA (or without a GPU) every
 * constructor fails with a message saying so, and pv_cuda_available() tells first.
 *
 *   char err[256];
 *   if (pv_cuda_available(err, sizeof err) != 0) die(3, err);
 *   pv_cuda_model *g = pv_cuda_model_load(dir, PV_CUDA_BF16, err, sizeof err);
 *   pv_cuda_session *s = pv_cuda_session_new(g, batch, 2048, true, err, sizeof err);
 *   pv_cuda_image_features(g, pixels, features, err, sizeof err);   // CLIP + projector
 *   pv_cuda_generate(s, n, prompts, n_prompt, features, &params, out, n_out, err, ...);
 *
 * The computation is the operations of lib/ops.h in the order of lib/clip.c and
 * lib/llava_forward.c (see lib/cuda/ops_cuda.h for their device versions). Weights are
 * stored in the chosen type; activations, norms, the KV cache and logits are fp32. */
#ifndef PV_LLAVA_CUDA_H
#define PV_LLAVA_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "generate.h"
#include "llava_config.h"
#include "llava_model.h"

typedef enum pv_cuda_dtype { PV_CUDA_F32 = 0, PV_CUDA_BF16 = 1, PV_CUDA_F16 = 2 } pv_cuda_dtype;

/* 0 when this build has CUDA and a GPU answers; else -1 with the reason in err
 * ("this build has no CUDA support (nvcc was not found when it was built)", or the
 * driver's answer). Tools turn -1 into exit status 3. */
int pv_cuda_available(char *err, size_t errlen);
/* The GPU in words ("NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB, compute 9.0"), or why
 * there is none. */
void pv_cuda_describe(char *out, size_t outlen);
/* "bf16", "fp16" ("f16", "float16"), "fp32" ("f32", "float32"); 0, or -1. */
int pv_cuda_parse_dtype(const char *name, pv_cuda_dtype *out);
const char *pv_cuda_dtype_name(pv_cuda_dtype t);

typedef struct pv_cuda_model pv_cuda_model;

/* Reads config.json and the safetensors of a model folder straight to the device:
 * each tensor is converted to `dtype` through a bounded staging buffer, so the host
 * never holds an fp32 copy of the model. No LoRA (see pv_cuda_model_upload). */
pv_cuda_model *pv_cuda_model_load(const char *dir, pv_cuda_dtype dtype, char *err, size_t errlen);
/* Uploads a model loaded on the host (lib/llava_model.h), LoRA adapters included
 * (kept separate, in fp32, as on the CPU). */
pv_cuda_model *pv_cuda_model_upload(const pv_llava_model *m, pv_cuda_dtype dtype, char *err,
                                    size_t errlen);
/* Random weights of the configured shapes made on the device (no file): linear
 * weights uniform with standard deviation 0.02, norm weights near 1, biases small.
 * For benchmarks and for the check against the CPU (pv_cuda_model_to_host). */
pv_cuda_model *pv_cuda_model_random(const pv_llava_config *cfg, pv_cuda_dtype dtype,
                                    uint64_t seed, char *err, size_t errlen);
/* The language model's weights (embedding, the first text_layers decoder layers,
 * final norm, lm_head) widened to fp32 into a host model that lib/llava_forward.c can
 * run, with cfg.text.num_hidden_layers = text_layers; no vision tower. Free it with
 * pv_cuda_host_model_free. 0, or -1 with err. */
int pv_cuda_model_to_host(const pv_cuda_model *g, int text_layers, pv_llava_model *host,
                          char *err, size_t errlen);
void pv_cuda_host_model_free(pv_llava_model *host);
void pv_cuda_model_free(pv_cuda_model *g);
const pv_llava_config *pv_cuda_model_config(const pv_cuda_model *g);
pv_cuda_dtype pv_cuda_model_dtype(const pv_cuda_model *g);
/* Bytes of weights on the device. */
size_t pv_cuda_model_bytes(const pv_cuda_model *g);
/* Bytes of language-model weights one decoding step reads (every decoder layer and
 * lm_head): the memory-bandwidth floor of decoding. */
size_t pv_cuda_model_decode_bytes(const pv_cuda_model *g);

/* pixel_values_host [n_images][3][S][S] -> features_host [n_images][n_image_features]
 * [text hidden], as pv_llava_image_features (one image after another). 0 or -1. */
int pv_cuda_image_features(pv_cuda_model *g, const float *pixel_values_host, int n_images,
                           float *features_host, char *err, size_t errlen);

/* A session: `slots` sequences, each with a KV cache of max_tokens positions. */
typedef struct pv_cuda_session pv_cuda_session;
pv_cuda_session *pv_cuda_session_new(pv_cuda_model *g, int slots, int max_tokens,
                                     bool use_lora, char *err, size_t errlen);
void pv_cuda_session_free(pv_cuda_session *s);
/* Forgets the tokens of one slot (all slots: slot -1). */
void pv_cuda_session_reset(pv_cuda_session *s, int slot);
int pv_cuda_session_pos(const pv_cuda_session *s, int slot);
const char *pv_cuda_session_error(const pv_cuda_session *s);
/* Runs only the first n decoder layers (then the final norm and lm_head), for
 * comparing a large model with a CPU run of a few layers; n < 1 or too many: all. */
void pv_cuda_session_set_layers(pv_cuda_session *s, int n);
/* Decoding steps replay a CUDA graph per batch size (default; environment
 * PV_CUDA_GRAPHS=0 turns it off) or launch every operation (off): same results. */
void pv_cuda_session_set_graphs(pv_cuda_session *s, bool on);

/* pv_lm_prefill / pv_lm_prefill_all on one slot: appends n tokens (image-token ids
 * take consecutive rows of image_features_host, or NULL); writes the last position's
 * logits [vocab] (or every position's [n][vocab]) to host memory (NULL: none). */
int pv_cuda_prefill(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                    const float *image_features_host, float *last_logits_host);
int pv_cuda_prefill_all(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                        const float *image_features_host, float *all_logits_host);
/* One decoding step for `rows` sequences at once: appends ids[r] to slot slots[r]
 * (distinct slots) and writes logits_host [rows][vocab] (NULL: none) and the argmax
 * of each row to argmax_host [rows] (NULL: none). pv_lm_decode for several slots. */
int pv_cuda_decode(pv_cuda_session *s, int rows, const int *slots, const int32_t *ids,
                   float *logits_host, int32_t *argmax_host);

/* pv_generate for n_seqs <= slots sequences at once (slot i gets sequence i; every
 * slot is reset first): prompts of different lengths, each sequence stops at p->eos
 * or p->max_new_tokens on its own; finished ones leave the batch. Greedy decoding
 * takes the device's argmax; temperature > 0 samples each row on the host with
 * pv_sample (lib/generate.h) and the uniform stream of pv_generate (the k-th token of
 * a sequence uses counter k), so sampled output matches the CPU path's for the same
 * logits. image_features_host[i] may be NULL. n_out[i] receives the count written to
 * out[i] [max_new_tokens]. 0, or -1 with err. */
int pv_cuda_generate(pv_cuda_session *s, int n_seqs, const int32_t *const *prompts,
                     const int *n_prompt, const float *const *image_features_host,
                     const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                     size_t errlen);

#endif
