/* LLaVA-1.5 forward pass (see llava_forward.h): CLIP features through the projector,
 * then LLaMA with a KV cache, written as a sequence of lib/ops.h operations. */
#include "llava_forward.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "ops.h"

/* Rows of one prefill step: long prompts are processed in chunks of this many
 * tokens (the KV cache makes chunks equivalent to one pass), which bounds the
 * scratch memory whatever the prompt length while keeping matrix products large. */
#define PV_PREFILL_CHUNK 256
/* Rows of logits held at once when scoring a sequence. */
#define PV_LOGITS_CHUNK 32

int pv_llava_check_supported(const pv_llava_config *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (strcmp(c->vision.hidden_act, "quick_gelu") != 0 && strcmp(c->vision.hidden_act, "gelu") != 0)
        why = "vision_config.hidden_act must be quick_gelu or gelu";
    else if (strcmp(c->projector_hidden_act, "gelu") != 0)
        why = "projector_hidden_act must be gelu";
    else if (strcmp(c->text.hidden_act, "silu") != 0)
        why = "text_config.hidden_act must be silu";
    else if (c->vision.hidden_size % c->vision.num_attention_heads != 0)
        why = "vision hidden_size is not a multiple of num_attention_heads";
    else if (c->text.num_attention_heads % c->text.num_key_value_heads != 0)
        why = "num_attention_heads is not a multiple of num_key_value_heads";
    else if (c->text.head_dim % 2 != 0)
        why = "head_dim is odd (rotary embeddings need pairs)";
    else if (pv_clip_layers_needed(c) < 0)
        why = "vision_feature_layer is outside the vision tower";
    if (why && err && errlen)
        snprintf(err, errlen, "unsupported model: %s", why);
    return why ? -1 : 0;
}

int pv_llava_n_image_features(const pv_llava_model *m)
{
    return pv_clip_n_selected(&m->cfg);
}

int pv_llava_project(const pv_llava_model *m, const float *selected, int n, float *features)
{
    /* Projector: linear_1 -> GELU (exact) -> linear_2. */
    float *mid = malloc((size_t)n * m->proj1.out * sizeof *mid);
    if (!mid)
        return -1;
    pv_op_linear(&m->proj1, selected, n, mid, false, NULL);
    pv_op_gelu(mid, (size_t)n * m->proj1.out);
    pv_op_linear(&m->proj2, mid, n, features, false, NULL);
    free(mid);
    return 0;
}

int pv_llava_image_features_probe(const pv_llava_model *m, const float *pixel_values,
                                  float *features, const pv_forward_probe *probe)
{
    int n = pv_clip_n_selected(&m->cfg);
    size_t vision_elems = (size_t)n * m->cfg.vision.hidden_size;
    float *selected = probe && probe->vision_selected ? probe->vision_selected
                                                      : malloc(vision_elems * sizeof *selected);
    int rc = -1;
    if (selected &&
        pv_clip_features(m, pixel_values, selected, probe ? probe->vision_embeddings : NULL) == 0)
        rc = pv_llava_project(m, selected, n, features);
    if (!(probe && probe->vision_selected))
        free(selected);
    return rc;
}

int pv_llava_image_features(const pv_llava_model *m, const float *pixel_values, float *features)
{
    return pv_llava_image_features_probe(m, pixel_values, features, NULL);
}

struct pv_lm_session {
    const pv_llava_model *m;
    bool use_lora;
    int max_tokens, pos, max_lora_r;
    int chunk, chunk_capacity;  /* rows per prefill step; rows the scratch holds */
    float *k_cache, *v_cache;   /* [layers][kv heads][max_tokens][head_dim] */
    float *cos_tab, *sin_tab;   /* [max_tokens][head_dim / 2] */
    /* Scratch of one chunk of rows. */
    float *h;                   /* [chunk][hidden] residual stream */
    float *x;                   /* [chunk][hidden] normalised / projected */
    float *q, *attn;            /* [chunk][heads * head_dim] */
    float *k, *v;               /* [chunk][kv heads * head_dim] */
    float *gate, *up;           /* [chunk][intermediate] */
    float *lora;                /* [chunk][max lora r] */
    float *scores;              /* attention scratch (pv_op_attention_scratch) */
    const pv_forward_probe *probe;
    char err[256];
};

static int session_fail(pv_lm_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int session_fail(pv_lm_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int max_lora_rank(const pv_llama_weights *t, int layers)
{
    int r = t->lm_head.r;
    for (int l = 0; l < layers; l++) {
        const pv_llama_layer *L = &t->layers[l];
        const pv_linear *lin[] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        for (size_t i = 0; i < sizeof lin / sizeof *lin; i++)
            if (lin[i]->r > r)
                r = lin[i]->r;
    }
    return r;
}

/* True when every one of the n values survives rounding to `bits` significant bits. */
static bool all_representable(const float *x, size_t n, int bits)
{
    for (size_t i = 0; i < n; i++) {
        int e;
        frexp(x[i], &e);
        if (x[i] != 0 && ldexp(rint(ldexp(x[i], bits - e)), e - bits) != x[i])
            return false;
    }
    return true;
}

int pv_llava_weight_bits(const pv_llava_model *m)
{
    /* The first 16 rows of the embedding and of layer 0's q projection: values of a
     * trained or random model fill their type's significand, so a float32 value is
     * exact in float16 about once in 8192 and thousands of them never all are. */
    const pv_text_config *tc = &m->cfg.text;
    size_t n_embed = (size_t)tc->hidden_size * (tc->vocab_size < 16 ? tc->vocab_size : 16);
    const pv_linear *q = &m->text.layers[0].q;
    size_t n_q = (size_t)q->in * (q->out < 16 ? q->out : 16);
    static const int candidates[] = {8, 11};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
        if (all_representable(m->text.embed, n_embed, candidates[i]) &&
            all_representable(q->w, n_q, candidates[i]))
            return candidates[i];
    return 24;
}

pv_lm_session *pv_lm_session_new(const pv_llava_model *m, int max_tokens, bool use_lora)
{
    const pv_text_config *tc = &m->cfg.text;
    if (max_tokens < 1)
        return NULL;
    pv_lm_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->m = m;
    s->use_lora = use_lora;
    s->max_tokens = max_tokens;
    s->chunk = max_tokens < PV_PREFILL_CHUNK ? max_tokens : PV_PREFILL_CHUNK;
    s->chunk_capacity = s->chunk;
    s->max_lora_r = max_lora_rank(&m->text, tc->num_hidden_layers);

    int hd = tc->head_dim, D = tc->hidden_size, I = tc->intermediate_size;
    size_t qw = (size_t)tc->num_attention_heads * hd, kvw = (size_t)tc->num_key_value_heads * hd;
    size_t cache = (size_t)tc->num_hidden_layers * kvw * max_tokens, c = (size_t)s->chunk;
    size_t rope = (size_t)max_tokens * (hd / 2);
    s->k_cache = malloc(cache * sizeof(float));
    s->v_cache = malloc(cache * sizeof(float));
    s->cos_tab = malloc(rope * sizeof(float));
    s->sin_tab = malloc(rope * sizeof(float));
    s->h = malloc(c * D * sizeof(float));
    s->x = malloc(c * D * sizeof(float));
    s->q = malloc(c * qw * sizeof(float));
    s->attn = malloc(c * qw * sizeof(float));
    s->k = malloc(c * kvw * sizeof(float));
    s->v = malloc(c * kvw * sizeof(float));
    s->gate = malloc(c * I * sizeof(float));
    s->up = malloc(c * I * sizeof(float));
    s->lora = malloc((c * s->max_lora_r + 1) * sizeof(float));
    /* Attention scratch for the largest call: a full step, or one decode row. */
    size_t scores = pv_op_attention_scratch(s->chunk, max_tokens);
    if (pv_op_attention_scratch(1, max_tokens) > scores)
        scores = pv_op_attention_scratch(1, max_tokens);
    s->scores = malloc(scores * sizeof(float));
    if (!s->k_cache || !s->v_cache || !s->cos_tab || !s->sin_tab || !s->h || !s->x || !s->q ||
        !s->attn || !s->k || !s->v || !s->gate || !s->up || !s->lora || !s->scores) {
        pv_lm_session_free(s);
        return NULL;
    }
    pv_op_rope_tables(max_tokens, hd, tc->rope_theta, pv_llava_weight_bits(m), s->cos_tab,
                      s->sin_tab);
    return s;
}

void pv_lm_session_free(pv_lm_session *s)
{
    if (!s)
        return;
    float *bufs[] = {s->k_cache, s->v_cache, s->cos_tab, s->sin_tab, s->h,    s->x,    s->q,
                     s->attn,    s->k,       s->v,       s->gate,    s->up,   s->lora, s->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    free(s);
}

void pv_lm_session_reset(pv_lm_session *s)
{
    s->pos = 0;
    s->err[0] = '\0';
}

int pv_lm_session_pos(const pv_lm_session *s)
{
    return s->pos;
}

const char *pv_lm_session_error(const pv_lm_session *s)
{
    return s->err;
}

void pv_lm_session_set_chunk(pv_lm_session *s, int rows)
{
    s->chunk = rows < 1 ? 1 : rows > s->chunk_capacity ? s->chunk_capacity : rows;
}

void pv_lm_session_set_probe(pv_lm_session *s, const pv_forward_probe *probe)
{
    s->probe = probe;
}

/* A LoRA-aware linear layer of the language model. */
static void text_linear(pv_lm_session *s, const pv_linear *l, const float *x, int n, float *y)
{
    pv_op_linear(l, x, n, y, s->use_lora, s->lora);
}

/* Copies the chunk's new keys and values, [n][kv heads][hd], into the cache at
 * positions pos.. of layer l ([kv heads][max_tokens][hd]). */
static void cache_store(pv_lm_session *s, int l, int n)
{
    const pv_text_config *tc = &s->m->cfg.text;
    int kvh = tc->num_key_value_heads, hd = tc->head_dim;
    size_t layer = (size_t)l * kvh * s->max_tokens * hd;
    for (int t = 0; t < n; t++)
        for (int h = 0; h < kvh; h++) {
            size_t dst = layer + ((size_t)h * s->max_tokens + s->pos + t) * hd;
            size_t src = ((size_t)t * kvh + h) * hd;
            memcpy(s->k_cache + dst, s->k + src, (size_t)hd * sizeof(float));
            memcpy(s->v_cache + dst, s->v + src, (size_t)hd * sizeof(float));
        }
}

/* One LLaMA decoder layer on the chunk's n rows of s->h (positions pos..pos+n-1):
 *   h += o(attention(rope(q(norm h)), rope(k(norm h)), v(norm h)))
 *   h += down(silu(gate(norm h)) * up(norm h)) */
static void decoder_layer(pv_lm_session *s, int l, int n)
{
    const pv_text_config *tc = &s->m->cfg.text;
    const pv_llama_layer *L = &s->m->text.layers[l];
    int D = tc->hidden_size, hd = tc->head_dim;
    int heads = tc->num_attention_heads, kvh = tc->num_key_value_heads;
    float eps = (float)tc->rms_norm_eps;

    pv_op_rmsnorm(s->h, n, D, L->attn_norm, eps, s->x);
    text_linear(s, &L->q, s->x, n, s->q);
    text_linear(s, &L->k, s->x, n, s->k);
    text_linear(s, &L->v, s->x, n, s->v);
    pv_op_rope(s->q, n, heads, hd, s->pos, s->cos_tab, s->sin_tab);
    pv_op_rope(s->k, n, kvh, hd, s->pos, s->cos_tab, s->sin_tab);
    cache_store(s, l, n);
    size_t layer = (size_t)l * kvh * s->max_tokens * hd;
    pv_op_attention(s->q, n, s->pos, s->k_cache + layer, s->v_cache + layer, s->pos + n,
                    (size_t)s->max_tokens * hd, (size_t)hd, heads, kvh, hd, true,
                    1.0f / sqrtf((float)hd), s->attn, s->scores);
    text_linear(s, &L->o, s->attn, n, s->x);
    pv_op_add(s->h, s->x, (size_t)n * D);

    pv_op_rmsnorm(s->h, n, D, L->mlp_norm, eps, s->x);
    text_linear(s, &L->gate, s->x, n, s->gate);
    text_linear(s, &L->up, s->x, n, s->up);
    pv_op_silu_mul(s->gate, s->up, (size_t)n * tc->intermediate_size);
    text_linear(s, &L->down, s->gate, n, s->x);
    pv_op_add(s->h, s->x, (size_t)n * D);
}

/* Checks ids and counts image tokens before anything is computed, so that a bad
 * call leaves the session as it was. */
static int check_tokens(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                        bool text_only)
{
    const pv_llava_config *cfg = &s->m->cfg;
    if (n < 1)
        return session_fail(s, "no tokens to process");
    if (s->use_lora && max_lora_rank(&s->m->text, cfg->text.num_hidden_layers) > s->max_lora_r)
        return session_fail(s, "a LoRA adapter was attached after the session was created");
    if (n > s->max_tokens - s->pos)
        return session_fail(s, "context full: %d tokens after %d exceed the session's %d", n,
                            s->pos, s->max_tokens);
    int images = 0;
    for (int t = 0; t < n; t++) {
        if (ids[t] < 0 || ids[t] >= cfg->text.vocab_size)
            return session_fail(s, "token id %d outside the vocabulary (%d)", (int)ids[t],
                                cfg->text.vocab_size);
        images += ids[t] == cfg->image_token_index;
    }
    if (images && !image_features && !text_only)
        return session_fail(s, "%d image tokens but no image features", images);
    if (images > pv_clip_n_selected(cfg))
        return session_fail(s, "%d image tokens for an image of %d features", images,
                            pv_clip_n_selected(cfg));
    return 0;
}

/* Embeddings of one chunk into s->h: image tokens take the next image feature row
 * (without features, the token's own embedding row, as transformers does when
 * decoding). */
static void embed_chunk(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                        int *image_row)
{
    const pv_llava_config *cfg = &s->m->cfg;
    size_t D = (size_t)cfg->text.hidden_size;
    for (int t = 0; t < n; t++) {
        const float *src = image_features && ids[t] == cfg->image_token_index
                               ? image_features + (size_t)(*image_row)++ * D
                               : s->m->text.embed + (size_t)ids[t] * D;
        memcpy(s->h + t * D, src, D * sizeof(float));
    }
}

/* Runs one chunk of n <= s->chunk tokens, first_row the index of its first token
 * in the caller's call (for probes). Leaves the final-normed states in s->x. */
static void forward_chunk(pv_lm_session *s, const int32_t *ids, int n,
                          const float *image_features, int *image_row, int first_row)
{
    const pv_text_config *tc = &s->m->cfg.text;
    size_t D = (size_t)tc->hidden_size;
    const pv_forward_probe *probe = s->probe;
    embed_chunk(s, ids, n, image_features, image_row);
    for (int l = 0; l < tc->num_hidden_layers; l++) {
        decoder_layer(s, l, n);
        if (l == 0 && probe && probe->text_layer0_out)
            memcpy(probe->text_layer0_out + first_row * D, s->h, n * D * sizeof(float));
    }
    s->pos += n;
    pv_op_rmsnorm(s->h, n, (int)D, s->m->text.final_norm, (float)tc->rms_norm_eps, s->x);
    if (probe && probe->text_final_norm_out)
        memcpy(probe->text_final_norm_out + first_row * D, s->x, n * D * sizeof(float));
}

/* Logits of rows [from, n) of the chunk's final states s->x into out [n - from][vocab]. */
static void chunk_logits(pv_lm_session *s, int from, int n, float *out)
{
    const pv_text_config *tc = &s->m->cfg.text;
    text_linear(s, &s->m->text.lm_head, s->x + (size_t)from * tc->hidden_size, n - from, out);
}

static int prefill(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                   float *logits, bool all, bool text_only)
{
    if (check_tokens(s, ids, n, image_features, text_only) < 0)
        return -1;
    int image_row = 0;
    size_t V = (size_t)s->m->cfg.text.vocab_size;
    for (int c0 = 0; c0 < n; c0 += s->chunk) {
        int nc = n - c0 < s->chunk ? n - c0 : s->chunk;
        forward_chunk(s, ids + c0, nc, image_features, &image_row, c0);
        if (logits && all)
            chunk_logits(s, 0, nc, logits + c0 * V);
        else if (logits && c0 + nc == n)
            chunk_logits(s, nc - 1, nc, logits);
    }
    return 0;
}

int pv_lm_prefill(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                  float *last_logits)
{
    return prefill(s, ids, n, image_features, last_logits, false, false);
}

int pv_lm_prefill_all(pv_lm_session *s, const int32_t *ids, int n, const float *image_features,
                      float *all_logits)
{
    return prefill(s, ids, n, image_features, all_logits, true, false);
}

int pv_lm_decode(pv_lm_session *s, int32_t id, float *logits)
{
    return prefill(s, &id, 1, NULL, logits, false, true);
}

double pv_llava_sequence_logp_err(const pv_llava_model *m, const int32_t *ids, int n,
                                  const float *image_features, int response_start,
                                  bool use_lora, float *token_logps, char *err, size_t errlen)
{
    pv_lm_session *s = pv_lm_session_new(m, n > 0 ? n : 1, use_lora);
    size_t V = (size_t)m->cfg.text.vocab_size;
    float *logits = malloc(PV_LOGITS_CHUNK * V * sizeof *logits);
    double sum = NAN;
    if (!s || !logits) {
        if (err)
            snprintf(err, errlen, "out of memory for a sequence of %d tokens", n);
        goto out;
    }
    if (check_tokens(s, ids, n, image_features, false) < 0) {
        if (err)
            snprintf(err, errlen, "%s", s->err);
        goto out;
    }
    /* Position t's logits predict ids[t + 1]: only positions from response_start - 1
     * (or all, for token_logps) need the vocabulary projection. */
    int first = token_logps ? 0 : (response_start > 1 ? response_start - 1 : 0);
    int image_row = 0;
    sum = 0;
    for (int c0 = 0; c0 < n; c0 += s->chunk) {
        int nc = n - c0 < s->chunk ? n - c0 : s->chunk;
        forward_chunk(s, ids + c0, nc, image_features, &image_row, c0);
        int lo = first > c0 ? first - c0 : 0, hi = n - 1 - c0 < nc ? n - 1 - c0 : nc;
        for (int r0 = lo; r0 < hi; r0 += PV_LOGITS_CHUNK) {
            int r1 = hi - r0 < PV_LOGITS_CHUNK ? hi : r0 + PV_LOGITS_CHUNK;
            chunk_logits(s, r0, r1, logits);
            for (int r = r0; r < r1; r++) {
                int t = c0 + r; /* predicts ids[t + 1] */
                const float *row = logits + (size_t)(r - r0) * V;
                double lp = row[ids[t + 1]] - pv_op_logsumexp(row, (int)V);
                if (token_logps)
                    token_logps[t] = (float)lp;
                if (t + 1 >= response_start)
                    sum += lp;
            }
        }
    }
out:
    free(logits);
    pv_lm_session_free(s);
    return sum;
}

double pv_llava_sequence_logp(const pv_llava_model *m, const int32_t *ids, int n,
                              const float *image_features, int response_start, bool use_lora,
                              float *token_logps)
{
    return pv_llava_sequence_logp_err(m, ids, n, image_features, response_start, use_lora,
                                      token_logps, NULL, 0);
}
