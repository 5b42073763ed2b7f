/* Text generation on top of lib/llava_forward.h: greedy decoding and
 * temperature / top-p (nucleus) sampling, stopping at the end-of-sequence token.
 *
 *   pv_gen_params p = pv_gen_params_default(m);   // greedy, 512 tokens, eos from config
 *   p.temperature = 0.7f; p.top_p = 0.9f; p.seed = 42;
 *   int n = pv_generate(m, prompt, n_prompt, features, &p, out, err, sizeof err);
 *
 * Sampling is deterministic for a given seed: the uniform numbers come from a
 * counter-based generator keyed by the seed (the k-th token uses counter k). */
#ifndef PV_GENERATE_H
#define PV_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llava_model.h"

typedef struct pv_gen_params {
    int max_new_tokens;  /* stop after this many tokens */
    float temperature;   /* 0: greedy (argmax); > 0: sample from softmax(logits / T) */
    float top_p;         /* nucleus: keep the smallest set of tokens whose probability
                            reaches top_p (1: all tokens) */
    uint64_t seed;       /* sampling stream */
    int32_t eos;         /* stop token (not written to out); -1: none */
    bool adapters_off;   /* true: base model even when a LoRA adapter is loaded */
} pv_gen_params;

/* Greedy, 512 new tokens, top_p 1, seed 0, eos = config's eos_token_id, adapters on. */
pv_gen_params pv_gen_params_default(const pv_llava_model *m);

/* Runs the prompt (image-token ids take the rows of image_features, or NULL) and
 * generates up to p->max_new_tokens tokens into out [max_new_tokens], stopping at
 * p->eos, which is not written. Returns the number of tokens written, or -1 with err
 * (prompt + max_new_tokens longer than the context, bad ids, no memory). */
int pv_generate(const pv_llava_model *m, const int32_t *prompt, int n_prompt,
                const float *image_features, const pv_gen_params *p, int32_t *out,
                char *err, size_t errlen);

/* One token from logits [vocab] (modified in place: scaled and turned into
 * probabilities). temperature <= 0 gives the argmax. u is a uniform number in
 * [0, 1), the only randomness. scratch holds vocab pairs (pv_sample_scratch_size
 * bytes), so that no allocation happens per token. As in Hugging Face, the
 * temperature applies first, then the nucleus (tokens by descending probability,
 * the lower id first on ties) keeps the smallest prefix whose mass reaches top_p. */
size_t pv_sample_scratch_size(int vocab);

/* The k-th uniform number of a generation with this seed: pv_philox_uniform of
 * stream (seed, PV_GEN_STREAM), the "gen" word keeping it apart from pv-noise's
 * streams (keyed by record hashes). pv_generate draws number k for its k-th token. */
#define PV_GEN_STREAM 0x67656eu
double pv_gen_uniform(uint64_t seed, uint64_t k);
int32_t pv_sample(float *logits, int vocab, float temperature, float top_p, double u,
                  void *scratch);

#endif
