/* CLIP ViT forward pass (see clip.h), HF CLIPVisionTransformer's order of operations. */
#include "clip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

int pv_clip_n_selected(const pv_llava_config *cfg)
{
    int side = cfg->vision.image_size / cfg->vision.patch_size;
    return side * side + (cfg->vision_feature_full ? 1 : 0);
}

int pv_clip_layers_needed(const pv_llava_config *cfg)
{
    int layers = cfg->vision.num_hidden_layers, idx = cfg->vision_feature_layer;
    if (idx < 0)
        idx += layers + 1;
    return idx >= 0 && idx <= layers ? idx : -1;
}

/* Working memory of one image, in one allocation. */
typedef struct clip_buffers {
    float *h;       /* [tokens][hidden] the residual stream */
    float *x;       /* [tokens][hidden] normalised input of a block */
    float *q, *k, *v, *attn; /* [tokens][hidden] */
    float *mlp;     /* [tokens][intermediate]; also holds the patch matrix */
    float *scores;  /* attention scratch */
    float *block;
} clip_buffers;

static int clip_buffers_alloc(clip_buffers *b, int tokens, int hidden, int inter, int patch_in)
{
    size_t th = (size_t)tokens * hidden;
    size_t mlp = (size_t)tokens * (size_t)(inter > patch_in ? inter : patch_in);
    size_t scores = pv_op_attention_scratch(tokens, tokens);
    b->block = malloc((6 * th + mlp + scores) * sizeof(float));
    if (!b->block)
        return -1;
    b->h = b->block;
    b->x = b->h + th;
    b->q = b->x + th;
    b->k = b->q + th;
    b->v = b->k + th;
    b->attn = b->v + th;
    b->mlp = b->attn + th;
    b->scores = b->mlp + mlp;
    return 0;
}

/* The stride-P convolution without bias as [patches][C*P*P] x W^T: each row is one
 * patch's pixels in the weight's (channel, row, column) order. */
static void patch_embedding(const pv_llava_model *m, const float *pixels, float *patches,
                            float *out)
{
    const pv_vision_config *vc = &m->cfg.vision;
    int P = vc->patch_size, S = vc->image_size, C = vc->num_channels, side = S / P;
    int patch_in = C * P * P;
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++) {
            float *row = patches + (size_t)(py * side + px) * patch_in;
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + (c * P + ky) * P,
                           pixels + ((size_t)c * S + py * P + ky) * S + px * P,
                           (size_t)P * sizeof *row);
        }
    pv_op_matmul_wt(patches, side * side, patch_in, m->vision.patch_embed, vc->hidden_size, out,
                    false);
}

/* h = h + out_proj(attention(ln1(h))); h = h + fc2(quick_gelu(fc1(ln2(h)))). */
static void encoder_layer(const pv_llava_model *m, const pv_clip_layer *L, int tokens,
                          clip_buffers *b)
{
    const pv_vision_config *vc = &m->cfg.vision;
    int D = vc->hidden_size, heads = vc->num_attention_heads, hd = D / heads;
    float eps = (float)vc->layer_norm_eps;
    size_t th = (size_t)tokens * D;

    pv_op_layernorm(b->h, tokens, D, L->ln1.w, L->ln1.b, eps, b->x);
    pv_op_linear(&L->q, b->x, tokens, b->q, false, NULL);
    pv_op_linear(&L->k, b->x, tokens, b->k, false, NULL);
    pv_op_linear(&L->v, b->x, tokens, b->v, false, NULL);
    /* k, v are [tokens][heads][hd]: head stride hd, position stride D. */
    pv_op_attention(b->q, tokens, 0, b->k, b->v, tokens, (size_t)hd, (size_t)D, heads, heads,
                    hd, false, 1.0f / sqrtf((float)hd), b->attn, b->scores);
    pv_op_linear(&L->o, b->attn, tokens, b->x, false, NULL);
    pv_op_add(b->h, b->x, th);

    pv_op_layernorm(b->h, tokens, D, L->ln2.w, L->ln2.b, eps, b->x);
    pv_op_linear(&L->fc1, b->x, tokens, b->mlp, false, NULL);
    /* OpenAI's CLIP (LLaVA's tower) uses quick_gelu; other CLIP configs say "gelu". */
    if (strcmp(vc->hidden_act, "gelu") == 0)
        pv_op_gelu(b->mlp, (size_t)tokens * vc->intermediate_size);
    else
        pv_op_quick_gelu(b->mlp, (size_t)tokens * vc->intermediate_size);
    pv_op_linear(&L->fc2, b->mlp, tokens, b->x, false, NULL);
    pv_op_add(b->h, b->x, th);
}

int pv_clip_features(const pv_llava_model *m, const float *pixel_values, float *selected,
                     float *embeddings)
{
    const pv_vision_config *vc = &m->cfg.vision;
    int depth = pv_clip_layers_needed(&m->cfg);
    if (depth < 0)
        return -1;
    int D = vc->hidden_size, side = vc->image_size / vc->patch_size;
    int patches = side * side, tokens = patches + 1;
    clip_buffers b;
    if (clip_buffers_alloc(&b, tokens, D, vc->intermediate_size,
                           vc->num_channels * vc->patch_size * vc->patch_size) < 0)
        return -1;

    /* Row 0 is the class embedding, rows 1.. the patches; then positions 0..patches. */
    memcpy(b.h, m->vision.class_embed, (size_t)D * sizeof *b.h);
    patch_embedding(m, pixel_values, b.mlp, b.h + D);
    pv_op_add(b.h, m->vision.pos_embed, (size_t)tokens * D);
    pv_op_layernorm(b.h, tokens, D, m->vision.pre_ln.w, m->vision.pre_ln.b,
                    (float)vc->layer_norm_eps, b.h);
    if (embeddings)
        memcpy(embeddings, b.h, (size_t)tokens * D * sizeof *b.h);

    for (int l = 0; l < depth; l++)
        encoder_layer(m, &m->vision.layers[l], tokens, &b);

    int skip = m->cfg.vision_feature_full ? 0 : 1;
    memcpy(selected, b.h + (size_t)skip * D, (size_t)(tokens - skip) * D * sizeof *b.h);
    free(b.block);
    return 0;
}
