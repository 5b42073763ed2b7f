/* pv-caption's GPU path in one object: the model on the device, a session of `batch`
 * slots sized to the longest prompt seen, and batched generation. It lets
 * tools/pv-caption.c add --device cuda, --dtype and --batch with a few lines; every
 * build has it (without CUDA, pv_caption_gpu_open fails saying so).
 *
 *   pv_caption_gpu *g = pv_caption_gpu_open(dir, adapter, "bf16", 16, err, sizeof err);
 *   pv_caption_gpu_features(g, pixels, n, features, err, sizeof err);  // n images
 *   pv_caption_gpu_generate(g, n, prompts, lens, feats, &params, out, n_out, err, ...);
 */
#ifndef PV_CAPTION_CUDA_H
#define PV_CAPTION_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "generate.h"
#include "llava_config.h"

typedef struct pv_caption_gpu pv_caption_gpu;

/* Loads the model folder onto the GPU in dtype ("bf16", "fp16" or "fp32"; NULL:
 * bf16): straight from safetensors, or, with a LoRA adapter folder, through the host
 * model (adapters need the host loader). batch: sequences generated at once. NULL
 * with err (no CUDA in this build, no GPU, bad dtype, load errors): exit status 3. */
pv_caption_gpu *pv_caption_gpu_open(const char *model_dir, const char *adapter_dir,
                                    const char *dtype, int batch, char *err, size_t errlen);
void pv_caption_gpu_close(pv_caption_gpu *g);
const pv_llava_config *pv_caption_gpu_config(const pv_caption_gpu *g);
int pv_caption_gpu_batch(const pv_caption_gpu *g);

/* pixels [n][3][S][S] -> features [n][image tokens][hidden] (host memory). 0 or -1. */
int pv_caption_gpu_features(pv_caption_gpu *g, const float *pixels, int n, float *features,
                            char *err, size_t errlen);
/* n <= batch sequences at once, as pv_cuda_generate (lib/llava_cuda.h): out[i] holds
 * up to p->max_new_tokens tokens, n_out[i] the count; each stops at p->eos. The same
 * tokens pv_generate gives for each sequence alone (greedy or seeded sampling). */
int pv_caption_gpu_generate(pv_caption_gpu *g, int n, const int32_t *const *prompts,
                            const int *n_prompt, const float *const *features,
                            const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                            size_t errlen);

#endif
