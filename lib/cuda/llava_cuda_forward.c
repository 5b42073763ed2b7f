/* The LLaVA forward pass on the GPU (lib/llava_cuda.h): lib/clip.c and
 * lib/llava_forward.c step for step, with the operations of lib/cuda/ops_cuda.h, and
 * a KV cache of several slots so that many sequences decode in one step. */
#ifdef PV_HAVE_CUDA

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "cuda/llava_cuda_private.h"
#include "ops.h"
#include "philox.h"

/* Rows of one prefill step: a 7B model's 625-token LLaVA prompt runs in one. */
#define GPU_PREFILL_CHUNK 1024

struct pv_cuda_session {
    pv_cuda_model *g;
    pv_cuda_ctx *c;
    bool use_lora;
    int slots, max_tokens, chunk, rows_cap; /* rows_cap = max(chunk, slots) */
    int n_layers;                           /* decoder layers run (all by default) */
    int *pos;                               /* host [slots]: tokens in each slot */
    float *k_cache, *v_cache;               /* [layers][slots][kv heads][max_tokens][hd] */
    size_t slot_stride, layer_stride;
    float *cos_tab, *sin_tab;               /* [max_tokens][hd / 2] */
    /* device scratch of rows_cap rows */
    float *h, *x, *q, *attn, *k, *v, *gate, *up, *lora, *logits, *features;
    int32_t *ids, *argmax;
    int *feature_row, *positions, *row_slots;
    int *host_rows;                         /* host [rows_cap] */
    float *host_logits;                     /* host [slots][vocab], for sampling */
    void *sample_scratch;
    /* CUDA graphs of a decoding step, one per number of rows (PV_CUDA_GRAPHS=0: none) */
    bool use_graphs;
    void **graphs;                          /* [slots] */
    unsigned graph_generation;              /* of the scratch buffer they point into */
    char err[256];
};

static int session_fail(pv_cuda_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int session_fail(pv_cuda_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reports (and clears) the context's first error. */
static int synced(pv_cuda_session *s)
{
    char why[256] = "unknown error";
    if (pv_cuda_sync(s->c, why, sizeof why) == 0)
        return 0;
    return session_fail(s, "CUDA: %s", why);
}

/* ops.h pv_op_linear on the device. */
static void linear(pv_cuda_ctx *c, pv_cuda_dtype dt, const pv_dlinear *l, const float *x, int n,
                   float *y, bool use_lora, float *lora_scratch)
{
    pv_cu_matmul_wt(c, x, n, l->in, l->w, dt, l->out, y, false, 1.0f);
    if (l->b)
        pv_cu_add_bias(c, y, l->b, n, l->out);
    if (use_lora && l->r > 0) {
        pv_cu_matmul_wt(c, x, n, l->in, l->lora_a, PV_CUDA_F32, l->r, lora_scratch, false, 1.0f);
        pv_cu_matmul_wt(c, lora_scratch, n, l->r, l->lora_b, PV_CUDA_F32, l->out, y, true,
                        l->scale);
    }
}

/* ---- vision tower and projector --------------------------------------------------------- */

/* clip.c's patch matrix: row = one patch's pixels in (channel, row, column) order. */
static void patch_rows(const pv_vision_config *vc, const float *pixels, float *rows)
{
    int P = vc->patch_size, S = vc->image_size, C = vc->num_channels, side = S / P;
    int patch_in = C * P * P;
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++) {
            float *row = rows + (size_t)(py * side + px) * patch_in;
            for (int ch = 0; ch < C; ch++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + (ch * P + ky) * P,
                           pixels + ((size_t)ch * S + py * P + ky) * S + px * P,
                           (size_t)P * sizeof *row);
        }
}

/* Attention on tensor cores (fp16 operands) for 16-bit models' prefill and CLIP;
 * PV_CUDA_TC_ATTENTION=0 keeps the fp32 kernel (the device script times both). */
static bool tc_attention(const pv_cuda_model *g)
{
    const char *env = getenv("PV_CUDA_TC_ATTENTION");
    return g->dtype != PV_CUDA_F32 && !(env && strcmp(env, "0") == 0);
}

int pv_cuda_image_features(pv_cuda_model *g, const float *pixel_values_host, int n_images,
                           float *features_host, char *err, size_t errlen)
{
    const pv_vision_config *vc = &g->cfg.vision;
    pv_cuda_ctx *c = g->ctx;
    int D = vc->hidden_size, heads = vc->num_attention_heads, hd = D / heads;
    int side = vc->image_size / vc->patch_size, patches = side * side, tokens = patches + 1;
    int patch_in = vc->num_channels * vc->patch_size * vc->patch_size;
    int I = vc->intermediate_size, H = g->cfg.text.hidden_size;
    int skip = g->cfg.vision_feature_full ? 0 : 1, n_sel = tokens - skip;
    size_t td = (size_t)tokens * D, pixels = (size_t)vc->num_channels * vc->image_size * vc->image_size;
    size_t floats = (size_t)patches * patch_in + 6 * td + (size_t)tokens * I + 2 * (size_t)n_sel * H;
    float *block = pv_cuda_malloc(floats * sizeof(float));
    float *rows = malloc((size_t)patches * patch_in * sizeof *rows);
    if (!block || !rows) {
        snprintf(err, errlen, "out of memory for the vision tower");
        pv_cuda_free(block);
        free(rows);
        return -1;
    }
    float *patch_d = block, *h = patch_d + (size_t)patches * patch_in, *x = h + td, *q = x + td;
    float *k = q + td, *v = k + td, *attn = v + td, *mlp = attn + td, *mid = mlp + (size_t)tokens * I;
    float *feat = mid + (size_t)n_sel * H;
    float eps = (float)vc->layer_norm_eps, scale = 1.0f / sqrtf((float)hd);
    bool quick = strcmp(vc->hidden_act, "gelu") != 0;
    int rc = 0;
    for (int img = 0; img < n_images && rc == 0; img++) {
        patch_rows(vc, pixel_values_host + img * pixels, rows);
        if (pv_cuda_upload(c, patch_d, rows, (size_t)patches * patch_in * sizeof *rows) < 0) {
            rc = -1;
            break;
        }
        /* Row 0 the class embedding, rows 1.. the patches; then positions; pre-LN. */
        pv_cu_matmul_wt(c, patch_d, patches, patch_in, g->patch_embed, g->dtype, D, h + D, false,
                        1.0f);
        pv_cuda_copy(c, h, g->class_embed, (size_t)D * sizeof(float));
        pv_cu_add(c, h, g->pos_embed, td);
        pv_cu_layernorm(c, h, tokens, D, g->pre_ln_w, g->pre_ln_b, eps, h);
        for (int l = 0; l < g->vision_depth; l++) {
            const pv_dclip_layer *L = &g->vision_layers[l];
            pv_cu_layernorm(c, h, tokens, D, L->ln1_w, L->ln1_b, eps, x);
            linear(c, g->dtype, &L->q, x, tokens, q, false, NULL);
            linear(c, g->dtype, &L->k, x, tokens, k, false, NULL);
            linear(c, g->dtype, &L->v, x, tokens, v, false, NULL);
            if (!tc_attention(g))
                pv_cu_attention(c, q, tokens, 0, NULL, NULL, k, v, tokens, 0, (size_t)hd,
                                (size_t)D, heads, heads, hd, false, scale, attn, 8);
            else
                pv_cu_attention_f16(c, q, tokens, 0, NULL, NULL, k, v, tokens, 0, (size_t)hd,
                                    (size_t)D, heads, heads, hd, false, scale, attn);
            linear(c, g->dtype, &L->o, attn, tokens, x, false, NULL);
            pv_cu_add(c, h, x, td);
            pv_cu_layernorm(c, h, tokens, D, L->ln2_w, L->ln2_b, eps, x);
            linear(c, g->dtype, &L->fc1, x, tokens, mlp, false, NULL);
            if (quick)
                pv_cu_quick_gelu(c, mlp, (size_t)tokens * I);
            else
                pv_cu_gelu(c, mlp, (size_t)tokens * I);
            linear(c, g->dtype, &L->fc2, mlp, tokens, x, false, NULL);
            pv_cu_add(c, h, x, td);
        }
        linear(c, g->dtype, &g->proj1, h + (size_t)skip * D, n_sel, mid, false, NULL);
        pv_cu_gelu(c, mid, (size_t)n_sel * H);
        linear(c, g->dtype, &g->proj2, mid, n_sel, feat, false, NULL);
        if (pv_cuda_download(c, features_host + (size_t)img * n_sel * H, feat,
                             (size_t)n_sel * H * sizeof(float)) < 0)
            rc = -1;
    }
    char why[256] = "transfer failed";
    if (pv_cuda_sync(c, why, sizeof why) < 0 || rc < 0) {
        snprintf(err, errlen, "CUDA: %s", why);
        rc = -1;
    }
    free(rows);
    pv_cuda_free(block);
    return rc;
}

/* ---- sessions -------------------------------------------------------------------------- */

pv_cuda_session *pv_cuda_session_new(pv_cuda_model *g, int slots, int max_tokens, bool use_lora,
                                     char *err, size_t errlen)
{
    const pv_text_config *t = &g->cfg.text;
    if (slots < 1 || max_tokens < 1) {
        snprintf(err, errlen, "a session needs at least one slot and one token");
        return NULL;
    }
    pv_cuda_session *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->g = g;
    s->c = g->ctx;
    s->use_lora = use_lora;
    s->slots = slots;
    s->max_tokens = max_tokens;
    s->n_layers = t->num_hidden_layers;
    s->chunk = max_tokens < GPU_PREFILL_CHUNK ? max_tokens : GPU_PREFILL_CHUNK;
    s->rows_cap = s->chunk > slots ? s->chunk : slots;
    int hd = t->head_dim, kvh = t->num_key_value_heads;
    size_t R = (size_t)s->rows_cap, H = t->hidden_size, I = t->intermediate_size;
    size_t qw = (size_t)t->num_attention_heads * hd, kvw = (size_t)kvh * hd;
    size_t V = t->vocab_size;
    s->slot_stride = kvw * max_tokens;
    s->layer_stride = s->slot_stride * slots;
    size_t cache = s->layer_stride * t->num_hidden_layers;
    size_t rope = (size_t)max_tokens * (hd / 2);
    int n_feat = pv_clip_n_selected(&g->cfg);
    s->pos = calloc(slots, sizeof *s->pos);
    s->host_rows = calloc(R, sizeof *s->host_rows);
    s->host_logits = malloc((size_t)slots * V * sizeof(float));
    s->sample_scratch = malloc(pv_sample_scratch_size((int)V));
    float *cos_h = malloc(rope * sizeof(float)), *sin_h = malloc(rope * sizeof(float));
    s->k_cache = pv_cuda_malloc(cache * sizeof(float));
    s->v_cache = pv_cuda_malloc(cache * sizeof(float));
    s->cos_tab = pv_cuda_malloc(rope * sizeof(float));
    s->sin_tab = pv_cuda_malloc(rope * sizeof(float));
    s->h = pv_cuda_malloc(R * H * sizeof(float));
    s->x = pv_cuda_malloc(R * H * sizeof(float));
    s->q = pv_cuda_malloc(R * qw * sizeof(float));
    s->attn = pv_cuda_malloc(R * qw * sizeof(float));
    s->k = pv_cuda_malloc(R * kvw * sizeof(float));
    s->v = pv_cuda_malloc(R * kvw * sizeof(float));
    s->gate = pv_cuda_malloc(R * I * sizeof(float));
    s->up = pv_cuda_malloc(R * I * sizeof(float));
    s->lora = pv_cuda_malloc((R * g->max_lora_r + 1) * sizeof(float));
    s->logits = pv_cuda_malloc(R * V * sizeof(float));
    s->features = pv_cuda_malloc((size_t)n_feat * H * sizeof(float));
    s->ids = pv_cuda_malloc(R * sizeof(int32_t));
    s->argmax = pv_cuda_malloc(R * sizeof(int32_t));
    s->feature_row = pv_cuda_malloc(R * sizeof(int));
    s->positions = pv_cuda_malloc(R * sizeof(int));
    s->row_slots = pv_cuda_malloc(R * sizeof(int));
    s->graphs = calloc(slots, sizeof *s->graphs);
    const char *graphs_env = getenv("PV_CUDA_GRAPHS");
    s->use_graphs = !(graphs_env && strcmp(graphs_env, "0") == 0);
    /* The scratch buffer at its largest now, so that it never moves under a graph:
     * the activations of the widest product, or the 64 MiB of a weight conversion. */
    size_t widest = H > I ? H : I;
    if (qw > widest)
        widest = qw;
    size_t scratch = R * widest * 2 > ((size_t)64 << 20) ? R * widest * 2 : ((size_t)64 << 20);
    bool ok = s->graphs && pv_cuda_reserve_scratch(s->c, scratch) == 0 && s->pos &&
              s->host_rows && s->host_logits && s->sample_scratch && cos_h && sin_h && s->k_cache && s->v_cache && s->cos_tab && s->sin_tab && s->h && s->x && s->q &&
              s->attn && s->k && s->v && s->gate && s->up && s->lora && s->logits &&
              s->features && s->ids && s->argmax && s->feature_row && s->positions &&
              s->row_slots;
    if (ok) {
        pv_op_rope_tables(max_tokens, hd, t->rope_theta, g->weight_bits, cos_h, sin_h);
        ok = pv_cuda_upload(s->c, s->cos_tab, cos_h, rope * sizeof(float)) == 0 &&
             pv_cuda_upload(s->c, s->sin_tab, sin_h, rope * sizeof(float)) == 0;
    }
    free(cos_h);
    free(sin_h);
    if (!ok) {
        snprintf(err, errlen, "out of GPU memory for a session of %d x %d tokens (KV cache %.2f GiB)",
                 slots, max_tokens, 2.0 * cache * sizeof(float) / (1u << 30));
        pv_cuda_session_free(s);
        return NULL;
    }
    return s;
}

/* Forgets the recorded decoding steps (they are recorded again when next needed). */
static void drop_graphs(pv_cuda_session *s)
{
    for (int i = 0; s->graphs && i < s->slots; i++) {
        pv_cuda_graph_free(s->graphs[i]);
        s->graphs[i] = NULL;
    }
}

void pv_cuda_session_free(pv_cuda_session *s)
{
    if (!s)
        return;
    pv_cuda_sync(s->c, NULL, 0);
    drop_graphs(s);
    free(s->graphs);
    void *dev[] = {s->k_cache, s->v_cache, s->cos_tab, s->sin_tab, s->h, s->x, s->q, s->attn,
                   s->k, s->v, s->gate, s->up, s->lora, s->logits, s->features, s->ids,
                   s->argmax, s->feature_row, s->positions, s->row_slots};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        pv_cuda_free(dev[i]);
    free(s->pos);
    free(s->host_rows);
    free(s->host_logits);
    free(s->sample_scratch);
    free(s);
}

void pv_cuda_session_reset(pv_cuda_session *s, int slot)
{
    for (int i = 0; i < s->slots; i++)
        if (slot < 0 || slot == i)
            s->pos[i] = 0;
    s->err[0] = '\0';
}

int pv_cuda_session_pos(const pv_cuda_session *s, int slot)
{
    return slot >= 0 && slot < s->slots ? s->pos[slot] : -1;
}

const char *pv_cuda_session_error(const pv_cuda_session *s)
{
    return s->err;
}

void pv_cuda_session_set_layers(pv_cuda_session *s, int n)
{
    int all = s->g->cfg.text.num_hidden_layers;
    s->n_layers = n < 1 || n > all ? all : n;
    drop_graphs(s); /* they were recorded with the old count */
}

void pv_cuda_session_set_graphs(pv_cuda_session *s, bool on)
{
    drop_graphs(s);
    s->use_graphs = on;
}

/* The rows of one step: one slot's n consecutive tokens from pos0 (prefill), or one
 * token in each of n slots at positions s->positions, slots s->row_slots (batched). */
typedef struct step {
    int n, slot, pos0;
    bool batched;
} step;

static void text_linear(pv_cuda_session *s, const pv_dlinear *l, const float *x, int n, float *y)
{
    linear(s->c, s->g->dtype, l, x, n, y, s->use_lora, s->lora);
}

/* llava_forward.c decoder_layer on the step's rows of s->h. */
static void decoder_layer(pv_cuda_session *s, int l, const step *st)
{
    const pv_text_config *t = &s->g->cfg.text;
    const pv_dllama_layer *L = &s->g->text_layers[l];
    pv_cuda_ctx *c = s->c;
    int n = st->n, H = t->hidden_size, hd = t->head_dim;
    int heads = t->num_attention_heads, kvh = t->num_key_value_heads;
    float eps = (float)t->rms_norm_eps, scale = 1.0f / sqrtf((float)hd);
    const int *positions = st->batched ? s->positions : NULL;
    float *kc = s->k_cache + l * s->layer_stride, *vc = s->v_cache + l * s->layer_stride;
    size_t head_stride = (size_t)s->max_tokens * hd;

    pv_cu_rmsnorm(c, s->h, n, H, L->attn_norm, eps, s->x);
    text_linear(s, &L->q, s->x, n, s->q);
    text_linear(s, &L->k, s->x, n, s->k);
    text_linear(s, &L->v, s->x, n, s->v);
    pv_cu_rope(c, s->q, n, heads, hd, st->pos0, positions, s->cos_tab, s->sin_tab);
    pv_cu_rope(c, s->k, n, kvh, hd, st->pos0, positions, s->cos_tab, s->sin_tab);
    if (st->batched) {
        pv_cu_kv_store(c, s->k, s->v, n, kvh, hd, kc, vc, s->slot_stride, s->max_tokens, 0,
                       s->row_slots, s->positions);
        pv_cu_attention(c, s->q, n, 0, s->positions, s->row_slots, kc, vc, s->max_tokens,
                        s->slot_stride, head_stride, (size_t)hd, heads, kvh, hd, true, scale,
                        s->attn, 1);
    } else {
        kc += st->slot * s->slot_stride;
        vc += st->slot * s->slot_stride;
        pv_cu_kv_store(c, s->k, s->v, n, kvh, hd, kc, vc, 0, s->max_tokens, st->pos0, NULL, NULL);
        if (n > 1 && tc_attention(s->g)) /* prefill */
            pv_cu_attention_f16(c, s->q, n, st->pos0, NULL, NULL, kc, vc, st->pos0 + n, 0,
                                head_stride, (size_t)hd, heads, kvh, hd, true, scale, s->attn);
        else
            pv_cu_attention(c, s->q, n, st->pos0, NULL, NULL, kc, vc, st->pos0 + n, 0,
                            head_stride, (size_t)hd, heads, kvh, hd, true, scale, s->attn,
                            n == 1 ? 1 : 8);
    }
    text_linear(s, &L->o, s->attn, n, s->x);
    pv_cu_add(c, s->h, s->x, (size_t)n * H);

    pv_cu_rmsnorm(c, s->h, n, H, L->mlp_norm, eps, s->x);
    text_linear(s, &L->gate, s->x, n, s->gate);
    text_linear(s, &L->up, s->x, n, s->up);
    pv_cu_silu_mul(c, s->gate, s->up, (size_t)n * t->intermediate_size);
    text_linear(s, &L->down, s->gate, n, s->x);
    pv_cu_add(c, s->h, s->x, (size_t)n * H);
}

/* Embeddings (s->ids, s->feature_row already uploaded) through the final norm into s->x. */
static void forward_rows(pv_cuda_session *s, const step *st, bool with_features)
{
    const pv_text_config *t = &s->g->cfg.text;
    pv_cu_embed(s->c, s->g->embed, s->g->dtype, t->hidden_size, s->ids,
                with_features ? s->feature_row : NULL, s->features, st->n, s->h);
    for (int l = 0; l < s->n_layers; l++)
        decoder_layer(s, l, st);
    pv_cu_rmsnorm(s->c, s->h, st->n, t->hidden_size, s->g->final_norm, (float)t->rms_norm_eps,
                  s->x);
}

/* The checks of llava_forward.c's check_tokens, before anything runs. */
static int check_tokens(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                        const float *image_features)
{
    const pv_llava_config *cfg = &s->g->cfg;
    if (slot < 0 || slot >= s->slots)
        return session_fail(s, "slot %d outside the session's %d", slot, s->slots);
    if (n < 1)
        return session_fail(s, "no tokens to process");
    if (n > s->max_tokens - s->pos[slot])
        return session_fail(s, "context full: %d tokens after %d exceed the session's %d", n,
                            s->pos[slot], s->max_tokens);
    int images = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= cfg->text.vocab_size)
            return session_fail(s, "token id %d outside the vocabulary (%d)", (int)ids[i],
                                cfg->text.vocab_size);
        images += ids[i] == cfg->image_token_index;
    }
    if (images && !image_features)
        return session_fail(s, "%d image tokens but no image features", images);
    if (images > pv_clip_n_selected(cfg))
        return session_fail(s, "%d image tokens for an image of %d features", images,
                            pv_clip_n_selected(cfg));
    return 0;
}

/* Runs n tokens of one slot; leaves the last position's logits in s->logits row 0
 * (want_last), or copies every position's to all_logits_host. */
static int prefill(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                   const float *image_features, bool want_last, float *all_logits_host)
{
    const pv_llava_config *cfg = &s->g->cfg;
    if (check_tokens(s, slot, ids, n, image_features) < 0)
        return -1;
    size_t H = cfg->text.hidden_size, V = cfg->text.vocab_size;
    if (image_features &&
        pv_cuda_upload(s->c, s->features, image_features,
                       (size_t)pv_clip_n_selected(cfg) * H * sizeof(float)) < 0)
        return synced(s) < 0 ? -1 : session_fail(s, "image feature upload failed");
    int image_row = 0;
    for (int c0 = 0; c0 < n; c0 += s->chunk) {
        int nc = n - c0 < s->chunk ? n - c0 : s->chunk;
        for (int i = 0; i < nc; i++)
            s->host_rows[i] = image_features && ids[c0 + i] == cfg->image_token_index
                                  ? image_row++ : -1;
        if (pv_cuda_upload(s->c, s->ids, ids + c0, (size_t)nc * sizeof(int32_t)) < 0 ||
            pv_cuda_upload(s->c, s->feature_row, s->host_rows, (size_t)nc * sizeof(int)) < 0)
            return synced(s) < 0 ? -1 : session_fail(s, "upload failed");
        step st = {.n = nc, .slot = slot, .pos0 = s->pos[slot], .batched = false};
        forward_rows(s, &st, image_features != NULL);
        s->pos[slot] += nc;
        if (all_logits_host) {
            text_linear(s, &s->g->lm_head, s->x, nc, s->logits);
            if (pv_cuda_download(s->c, all_logits_host + (size_t)c0 * V, s->logits,
                                 (size_t)nc * V * sizeof(float)) < 0)
                return synced(s) < 0 ? -1 : session_fail(s, "download failed");
        } else if (want_last && c0 + nc == n) {
            text_linear(s, &s->g->lm_head, s->x + (size_t)(nc - 1) * H, 1, s->logits);
        }
    }
    return synced(s);
}

int pv_cuda_prefill(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                    const float *image_features_host, float *last_logits_host)
{
    if (prefill(s, slot, ids, n, image_features_host, last_logits_host != NULL, NULL) < 0)
        return -1;
    if (last_logits_host &&
        pv_cuda_download(s->c, last_logits_host, s->logits,
                         (size_t)s->g->cfg.text.vocab_size * sizeof(float)) < 0)
        return synced(s) < 0 ? -1 : session_fail(s, "download failed");
    return 0;
}

int pv_cuda_prefill_all(pv_cuda_session *s, int slot, const int32_t *ids, int n,
                        const float *image_features_host, float *all_logits_host)
{
    return prefill(s, slot, ids, n, image_features_host, false, all_logits_host);
}

/* The device work of a decoding step of st->n rows (ids, positions and slots already
 * uploaded): replays its CUDA graph, recording it first if needed. false when graphs
 * are off or recording failed (then graphs stay off): the caller runs it directly. */
static bool run_captured(pv_cuda_session *s, const step *st)
{
    if (!s->use_graphs)
        return false;
    unsigned generation = pv_cuda_scratch_generation(s->c);
    if (generation != s->graph_generation) {
        drop_graphs(s);
        s->graph_generation = generation;
    }
    void **graph = &s->graphs[st->n - 1];
    if (!*graph) {
        if (pv_cuda_capture_begin(s->c) != 0) {
            pv_cuda_sync(s->c, NULL, 0); /* clears the error: run directly instead */
            s->use_graphs = false;
            return false;
        }
        forward_rows(s, st, false);
        text_linear(s, &s->g->lm_head, s->x, st->n, s->logits);
        *graph = pv_cuda_capture_end(s->c);
        if (!*graph) {
            s->use_graphs = false;
            return false;
        }
    }
    pv_cuda_graph_launch(s->c, *graph); /* an error shows at the next sync */
    return true;
}

/* One token for each of rows slots; logits left in s->logits [rows][vocab]. */
static int decode(pv_cuda_session *s, int rows, const int *slots, const int32_t *ids)
{
    const pv_text_config *t = &s->g->cfg.text;
    if (rows < 1 || rows > s->slots)
        return session_fail(s, "%d rows for a session of %d slots", rows, s->slots);
    int *positions = s->host_rows; /* rows <= slots <= rows_cap */
    for (int r = 0; r < rows; r++) {
        int sl = slots[r];
        if (sl < 0 || sl >= s->slots)
            return session_fail(s, "slot %d outside the session's %d", sl, s->slots);
        for (int q = 0; q < r; q++)
            if (slots[q] == sl)
                return session_fail(s, "slot %d twice in one decoding step", sl);
        if (s->pos[sl] >= s->max_tokens)
            return session_fail(s, "context full: slot %d holds %d tokens", sl, s->max_tokens);
        if (ids[r] < 0 || ids[r] >= t->vocab_size)
            return session_fail(s, "token id %d outside the vocabulary (%d)", (int)ids[r],
                                t->vocab_size);
        positions[r] = s->pos[sl];
    }
    if (pv_cuda_upload(s->c, s->ids, ids, (size_t)rows * sizeof(int32_t)) < 0 ||
        pv_cuda_upload(s->c, s->positions, positions, (size_t)rows * sizeof(int)) < 0 ||
        pv_cuda_upload(s->c, s->row_slots, slots, (size_t)rows * sizeof(int)) < 0)
        return synced(s) < 0 ? -1 : session_fail(s, "upload failed");
    step st = {.n = rows, .batched = true};
    if (!run_captured(s, &st)) {
        forward_rows(s, &st, false);
        text_linear(s, &s->g->lm_head, s->x, rows, s->logits);
    }
    for (int r = 0; r < rows; r++)
        s->pos[slots[r]]++;
    return 0;
}

int pv_cuda_decode(pv_cuda_session *s, int rows, const int *slots, const int32_t *ids,
                   float *logits_host, int32_t *argmax_host)
{
    if (decode(s, rows, slots, ids) < 0)
        return -1;
    size_t V = s->g->cfg.text.vocab_size;
    if (argmax_host) {
        pv_cu_argmax_rows(s->c, s->logits, rows, (int)V, s->argmax);
        if (pv_cuda_download(s->c, argmax_host, s->argmax, (size_t)rows * sizeof(int32_t)) < 0)
            return synced(s) < 0 ? -1 : session_fail(s, "download failed");
    }
    if (logits_host &&
        pv_cuda_download(s->c, logits_host, s->logits, (size_t)rows * V * sizeof(float)) < 0)
        return synced(s) < 0 ? -1 : session_fail(s, "download failed");
    return synced(s);
}

/* ---- generation -------------------------------------------------------------------------- */

/* The k-th uniform number of a generation: pv_generate's stream (lib/generate.c). */
static double gen_uniform(uint64_t seed, uint64_t k)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)k, (uint32_t)(k >> 32), 0x67656e, 0};
    uint32_t x[4];
    pv_philox4x32_10(ctr, key, x);
    uint64_t bits = ((uint64_t)x[0] << 21) ^ (x[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) / (double)(1ull << 53);
}

/* Tokens for the rows of s->logits: argmax on the device, or pv_sample on the host. */
static int choose(pv_cuda_session *s, int rows, const int *counts, const pv_gen_params *p,
                  int32_t *tok)
{
    int V = s->g->cfg.text.vocab_size;
    if (p->temperature <= 0) {
        pv_cu_argmax_rows(s->c, s->logits, rows, V, s->argmax);
        if (pv_cuda_download(s->c, tok, s->argmax, (size_t)rows * sizeof(int32_t)) < 0)
            return synced(s) < 0 ? -1 : session_fail(s, "download failed");
        return synced(s);
    }
    if (pv_cuda_download(s->c, s->host_logits, s->logits, (size_t)rows * V * sizeof(float)) < 0)
        return synced(s) < 0 ? -1 : session_fail(s, "download failed");
    for (int r = 0; r < rows; r++)
        tok[r] = pv_sample(s->host_logits + (size_t)r * V, V, p->temperature, p->top_p,
                           gen_uniform(p->seed, (uint64_t)counts[r]), s->sample_scratch);
    return 0;
}

static int gen_run(pv_cuda_session *s, int n_seqs, const int32_t *const *prompts,
                   const int *n_prompt, const float *const *image_features_host,
                   const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                   size_t errlen, int *limit, int *slots, int *counts, int32_t *tok, int32_t *ids);

int pv_cuda_generate(pv_cuda_session *s, int n_seqs, const int32_t *const *prompts,
                     const int *n_prompt, const float *const *image_features_host,
                     const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                     size_t errlen)
{
    if (n_seqs < 1 || n_seqs > s->slots) {
        snprintf(err, errlen, "%d sequences for a session of %d slots", n_seqs, s->slots);
        return -1;
    }
    /* Per-sequence bookkeeping, one allocation: limit, slots, counts, tokens, ids. */
    int *limit = malloc((size_t)n_seqs * 5 * sizeof(int));
    if (!limit) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int *slots = limit + n_seqs, *counts = slots + n_seqs;
    int32_t *tok = (int32_t *)(counts + n_seqs), *ids = tok + n_seqs;
    int rc = gen_run(s, n_seqs, prompts, n_prompt, image_features_host, p, out, n_out, err,
                     errlen, limit, slots, counts, tok, ids);
    free(limit);
    return rc;
}

static int gen_run(pv_cuda_session *s, int n_seqs, const int32_t *const *prompts,
                   const int *n_prompt, const float *const *image_features_host,
                   const pv_gen_params *p, int32_t *const *out, int *n_out, char *err,
                   size_t errlen, int *limit, int *slots, int *counts, int32_t *tok, int32_t *ids)
{
    int context = s->g->cfg.text.max_position_embeddings;
    for (int i = 0; i < n_seqs; i++) {
        n_out[i] = 0;
        if (n_prompt[i] < 1 || n_prompt[i] > context || n_prompt[i] > s->max_tokens) {
            snprintf(err, errlen, "sequence %d: prompt of %d tokens does not fit the context of %d",
                     i, n_prompt[i], context < s->max_tokens ? context : s->max_tokens);
            return -1;
        }
        /* As pv_generate: the last token is never fed back; the context caps it. */
        limit[i] = n_prompt[i] + p->max_new_tokens - 1;
        if (limit[i] > context)
            limit[i] = context;
        if (limit[i] > s->max_tokens)
            limit[i] = s->max_tokens;
    }
    if (p->max_new_tokens < 1)
        return 0;
    pv_cuda_session_reset(s, -1);
    /* Each prompt's first token, one prefill at a time (prompts differ in length). */
    for (int i = 0; i < n_seqs; i++) {
        int zero = 0;
        if (prefill(s, i, prompts[i], n_prompt[i], image_features_host[i], true, NULL) < 0 ||
            choose(s, 1, &zero, p, &tok[i]) < 0) {
            snprintf(err, errlen, "sequence %d: %s", i, s->err);
            return -1;
        }
    }
    /* Then decoding steps over the sequences still running. */
    int active = 0;
    for (int i = 0; i < n_seqs; i++) {
        if (tok[i] == p->eos)
            continue;
        out[i][n_out[i]++] = tok[i];
        if (n_out[i] < p->max_new_tokens && s->pos[i] < limit[i])
            slots[active++] = i;
    }
    while (active > 0) {
        for (int r = 0; r < active; r++) {
            ids[r] = out[slots[r]][n_out[slots[r]] - 1];
            counts[r] = n_out[slots[r]];
        }
        if (decode(s, active, slots, ids) < 0 || choose(s, active, counts, p, tok) < 0) {
            snprintf(err, errlen, "%s", s->err);
            return -1;
        }
        int still = 0;
        for (int r = 0; r < active; r++) {
            int i = slots[r];
            if (tok[r] == p->eos)
                continue;
            out[i][n_out[i]++] = tok[r];
            if (n_out[i] < p->max_new_tokens && s->pos[i] < limit[i])
                slots[still++] = i;
        }
        active = still;
    }
    return 0;
}

#endif /* PV_HAVE_CUDA */
