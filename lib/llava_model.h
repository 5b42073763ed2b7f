/* LLaVA-1.5 weights in memory, fp32, in Hugging Face's layouts.
 *
 * A linear layer stores its weight as HF does, [out][in] row-major, so y = x W^T + b.
 * F32 tensors are used straight from the mmapped safetensors file; F16/BF16 (and
 * F64, which PEFT writes for adapters) are converted once into owned fp32 buffers. A LoRA adapter (PEFT) is kept beside the
 * base weight, not merged, so that the same model serves as policy (adapters on)
 * and reference (adapters off) for DPO:
 *     y = x W^T + b + scale * (x A^T) B^T,  A [r][in], B [out][r], scale = alpha / r.
 *
 * Loading (lib/llava_load.c) accepts both tensor-name layouts of DESIGN.md:
 *   vision_tower.vision_model.*, multi_modal_projector.linear_{1,2}.*,
 *   language_model.model.*, language_model.lm_head.weight
 * and the newer model.vision_tower.*, model.multi_modal_projector.*,
 *   model.language_model.*, lm_head.*
 * A missing or mis-shaped tensor is an error naming it and the expected shape. */
#ifndef PV_LLAVA_MODEL_H
#define PV_LLAVA_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "llava_config.h"

typedef struct pv_linear {
    int in, out;
    float *w;       /* [out][in] */
    float *b;       /* [out], or NULL */
    /* LoRA, present when r > 0 */
    int r;
    float scale;    /* alpha / r */
    float *lora_a;  /* [r][in] */
    float *lora_b;  /* [out][r] */
} pv_linear;

typedef struct pv_layernorm {
    float *w, *b;   /* [hidden] */
} pv_layernorm;

typedef struct pv_clip_layer {
    pv_layernorm ln1, ln2;
    pv_linear q, k, v, o;   /* self_attn.{q,k,v,out}_proj, with bias */
    pv_linear fc1, fc2;     /* mlp.fc1, mlp.fc2 */
} pv_clip_layer;

typedef struct pv_clip_weights {
    float *patch_embed;     /* conv weight [hidden][channels][patch][patch], no bias */
    float *class_embed;     /* [hidden] */
    float *pos_embed;       /* [num_patches + 1][hidden] */
    pv_layernorm pre_ln;    /* pre_layrnorm (sic, HF's name) */
    pv_layernorm post_ln;   /* post_layernorm: loaded if present, unused by LLaVA */
    pv_clip_layer *layers;  /* [num_hidden_layers]; only those up to the feature layer are needed */
} pv_clip_weights;

typedef struct pv_llama_layer {
    float *attn_norm;       /* input_layernorm [hidden] */
    float *mlp_norm;        /* post_attention_layernorm [hidden] */
    pv_linear q, k, v, o;   /* self_attn.{q,k,v,o}_proj */
    pv_linear gate, up, down; /* mlp.{gate,up,down}_proj */
} pv_llama_layer;

typedef struct pv_llama_weights {
    float *embed;           /* embed_tokens [vocab][hidden] */
    pv_llama_layer *layers; /* [num_hidden_layers] */
    float *final_norm;      /* norm [hidden] */
    pv_linear lm_head;      /* [vocab][hidden]; shares embed when tied */
} pv_llama_weights;

typedef struct pv_llava_model {
    pv_llava_config cfg;
    pv_clip_weights vision;
    pv_linear proj1, proj2; /* multi_modal_projector.linear_1, linear_2 */
    pv_llama_weights text;
    void *storage;          /* loader-private: mmaps and owned buffers */
} pv_llava_model;

/* Loads config.json and the safetensors weights of a model folder (sharded via
 * model.safetensors.index.json or a single model.safetensors). 0, or -1 with err. */
int pv_llava_load(const char *dir, pv_llava_model *m, char *err, size_t errlen);
/* Attaches a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
 * to the matching linear layers. 0, or -1 with err. */
int pv_llava_load_adapter(pv_llava_model *m, const char *adapter_dir, char *err, size_t errlen);
void pv_llava_free(pv_llava_model *m);

/* Notes on the layout after loading:
 * - the model must not be moved or copied after pv_llava_load (the loader keeps
 *   pointers to its pv_linear members);
 * - weights are writable: F32 tensors live in a private (copy-on-write) mapping of
 *   the file, others in owned buffers; writes never reach the files;
 * - every layer of the vision tower is loaded, and post_layernorm, although LLaVA
 *   only needs the layers up to vision_feature_layer;
 * - with tie_word_embeddings, text.lm_head.w == text.embed. */

/* One weight of the model, named in the newer hub layout
 * ("model.language_model.layers.0.self_attn.q_proj.weight", "lm_head.weight",
 * "model.multi_modal_projector.linear_1.bias"). Vision tower names carry no
 * "vision_model." ("model.vision_tower.encoder.layers.0.mlp.fc1.bias"), as the
 * fixture written by transformers 5.17 spells them; files that transformers
 * itself must read are safest in the fixture's older layout. */
typedef struct pv_llava_param {
    char *name;
    float *data;
    int ndim;
    long long shape[4];
    long long numel;
} pv_llava_param;

/* Every loaded weight (a tied lm_head is not listed twice); *count set. */
const pv_llava_param *pv_llava_params(const pv_llava_model *m, size_t *count);
/* Number of linear layers, and the i-th with its module path in the newer layout
 * ("model.language_model.layers.0.self_attn.q_proj": PEFT's name after "base_model.model."). */
size_t pv_llava_linear_count(const pv_llava_model *m);
pv_linear *pv_llava_linear_at(const pv_llava_model *m, size_t i, const char **module_name);
/* A linear layer by module path in either layout; NULL when there is none. */
pv_linear *pv_llava_find_linear(const pv_llava_model *m, const char *module_name);
/* Folds every attached LoRA into its base weight (W += scale * B A) and detaches
 * it, as peft's merge_and_unload does. 0, or -1 with err. (lib/lora.c) */
int pv_llava_merge_lora(pv_llava_model *m, char *err, size_t errlen);

#endif
