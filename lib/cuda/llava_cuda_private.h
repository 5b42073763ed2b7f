/* The device model behind pv_cuda_model (lib/llava_cuda.h), shared by
 * lib/cuda/llava_cuda_model.c (weights) and lib/cuda/llava_cuda_forward.c (forward
 * pass). CUDA builds only; not for tools. Every pointer is device memory. */
#ifndef PV_LLAVA_CUDA_PRIVATE_H
#define PV_LLAVA_CUDA_PRIVATE_H

#include "cuda/ops_cuda.h"
#include "llava_cuda.h"

/* A linear layer: w [out][in] in the model's type; bias and LoRA in fp32. */
typedef struct pv_dlinear {
    int in, out;
    void *w;
    float *b;       /* or NULL */
    int r;          /* LoRA rank, 0: none */
    float scale;
    float *lora_a;  /* [r][in] */
    float *lora_b;  /* [out][r] */
} pv_dlinear;

typedef struct pv_dclip_layer {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    pv_dlinear q, k, v, o, fc1, fc2;
} pv_dclip_layer;

typedef struct pv_dllama_layer {
    float *attn_norm, *mlp_norm;
    pv_dlinear q, k, v, o, gate, up, down;
} pv_dllama_layer;

struct pv_cuda_model {
    pv_llava_config cfg;
    pv_cuda_dtype dtype;
    pv_cuda_ctx *ctx;
    int weight_bits;        /* of the checkpoint: RoPE's inv_freq rounding (ops.h) */
    /* vision tower, the layers up to the feature layer */
    void *patch_embed;      /* [hidden][C * P * P] */
    float *class_embed, *pos_embed, *pre_ln_w, *pre_ln_b;
    pv_dclip_layer *vision_layers;
    int vision_depth;
    pv_dlinear proj1, proj2;
    /* language model */
    void *embed;            /* [vocab][hidden], model type */
    pv_dllama_layer *text_layers;
    float *final_norm;
    pv_dlinear lm_head;     /* w == embed when tied */
    int max_lora_r;
    /* every device allocation, freed with the model */
    void **allocs;
    size_t n_allocs, allocs_cap, bytes;
};

/* A device allocation owned by the model (counted in bytes). NULL when out of memory. */
void *pv_cuda_model_alloc(pv_cuda_model *g, size_t bytes);

#endif
