/* The device model (lib/llava_cuda.h): built from a safetensors folder, from a model
 * loaded on the host, or from random numbers, by one walk over the model's tensors
 * by their names in the newer hub layout (lib/llava_model.h). */
#ifdef PV_HAVE_CUDA

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "cuda/llava_cuda_private.h"
#include "llava_forward.h"
#include "llava_storage.h"
#include "safetensors.h"

/* Where tensor values come from. */
typedef enum source_kind { FROM_FILE, FROM_HOST, FROM_RANDOM } source_kind;

/* What a tensor is, for the random source's scale. */
typedef enum role { MATRIX, BIAS, NORM_W, NORM_B } role;

typedef struct named_tensor {
    char *canon;
    const pv_st_tensor *t;
} named_tensor;

typedef struct builder {
    pv_cuda_model *g;
    source_kind kind;
    pv_st_set set;                  /* FROM_FILE */
    named_tensor *index;
    size_t n_index;
    const pv_llava_model *host;     /* FROM_HOST */
    const pv_llava_param *params;
    size_t n_params;
    uint64_t seed, counter;         /* FROM_RANDOM */
    bool failed;
    char *err;
    size_t errlen;
} builder;

static void build_fail(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void build_fail(builder *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    b->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
}

void *pv_cuda_model_alloc(pv_cuda_model *g, size_t bytes)
{
    if (g->n_allocs == g->allocs_cap) {
        size_t cap = g->allocs_cap ? 2 * g->allocs_cap : 256;
        void **a = realloc(g->allocs, cap * sizeof *a);
        if (!a)
            return NULL;
        g->allocs = a;
        g->allocs_cap = cap;
    }
    void *p = pv_cuda_malloc(bytes);
    if (p) {
        g->allocs[g->n_allocs++] = p;
        g->bytes += bytes;
    }
    return p;
}

static const pv_st_tensor *file_find(const builder *b, const char *canon)
{
    for (size_t i = 0; i < b->n_index; i++)
        if (strcmp(b->index[i].canon, canon) == 0)
            return b->index[i].t;
    return NULL;
}

static const float *host_find(const builder *b, const char *canon, long long *numel)
{
    for (size_t i = 0; i < b->n_params; i++)
        if (strcmp(b->params[i].name, canon) == 0) {
            *numel = b->params[i].numel;
            return b->params[i].data;
        }
    return NULL;
}

/* A tensor of numel values on the device, in the model's type (in_model_type) or
 * fp32. NULL after build_fail. */
static void *take(builder *b, const char *name, size_t numel, bool in_model_type, role r)
{
    if (b->failed)
        return NULL;
    pv_cuda_dtype t = in_model_type ? b->g->dtype : PV_CUDA_F32;
    void *dst = pv_cuda_model_alloc(b->g, numel * pv_cuda_dtype_size(t));
    if (!dst) {
        build_fail(b, "out of GPU memory for %s (%zu values; %.2f GiB already)", name, numel,
                   (double)b->g->bytes / (1u << 30));
        return NULL;
    }
    pv_cuda_ctx *c = b->g->ctx;
    int rc = 0;
    if (b->kind == FROM_RANDOM) {
        /* uniform on [-a, a) has standard deviation a / sqrt(3): 0.02 for matrices */
        static const float scale[] = {0.0346f, 0.01f, 0.1f, 0.01f};
        static const float shift[] = {0.0f, 0.0f, 1.0f, 0.0f};
        pv_cu_fill_random(c, dst, t, numel, b->seed * 1000003u + b->counter++, scale[r],
                          shift[r]);
    } else if (b->kind == FROM_HOST) {
        long long have = 0;
        const float *src = host_find(b, name, &have);
        if (!src || (size_t)have != numel) {
            build_fail(b, "%s: %s", name, src ? "unexpected size" : "missing in the host model");
            return NULL;
        }
        rc = pv_cuda_upload_f32_as(c, dst, t, src, numel);
    } else {
        const pv_st_tensor *st = file_find(b, name);
        if (!st) {
            build_fail(b, "tensor %s is missing", name);
            return NULL;
        }
        if ((size_t)st->numel != numel) {
            build_fail(b, "tensor %s has %lld values, expected %zu", st->name,
                       (long long)st->numel, numel);
            return NULL;
        }
        if (st->dtype == PV_ST_F32)
            rc = pv_cuda_upload_f32_as(c, dst, t, (const float *)(const void *)st->data, numel);
        else if (st->dtype == PV_ST_BF16 || st->dtype == PV_ST_F16)
            rc = pv_cuda_upload_16_as(c, dst, t, (const uint16_t *)(const void *)st->data,
                                      st->dtype == PV_ST_BF16 ? PV_CUDA_BF16 : PV_CUDA_F16,
                                      numel);
        else {
            build_fail(b, "tensor %s: dtype %s is not supported on the GPU", st->name,
                       pv_st_dtype_name(st->dtype));
            return NULL;
        }
    }
    char why[256] = "transfer failed";
    if (rc < 0 || pv_cuda_sync(c, why, sizeof why) < 0) {
        if (rc < 0)
            pv_cuda_sync(c, why, sizeof why);
        build_fail(b, "%s: %s", name, why);
        return NULL;
    }
    return dst;
}

/* A linear layer "module" (module.weight [out][in], module.bias if has_bias) and,
 * from a host model, its LoRA adapter. */
static void take_linear(builder *b, pv_dlinear *l, const char *module, int in, int out,
                        bool has_bias)
{
    char name[320];
    l->in = in;
    l->out = out;
    snprintf(name, sizeof name, "%s.weight", module);
    l->w = take(b, name, (size_t)in * out, true, MATRIX);
    if (has_bias) {
        snprintf(name, sizeof name, "%s.bias", module);
        l->b = take(b, name, (size_t)out, false, BIAS);
    }
    if (b->kind == FROM_HOST && !b->failed) {
        const pv_linear *hl = pv_llava_find_linear(b->host, module);
        if (hl && hl->r > 0) {
            pv_cuda_ctx *c = b->g->ctx;
            l->r = hl->r;
            l->scale = hl->scale;
            l->lora_a = pv_cuda_model_alloc(b->g, (size_t)hl->r * in * sizeof(float));
            l->lora_b = pv_cuda_model_alloc(b->g, (size_t)out * hl->r * sizeof(float));
            if (!l->lora_a || !l->lora_b ||
                pv_cuda_upload(c, l->lora_a, hl->lora_a, (size_t)hl->r * in * sizeof(float)) ||
                pv_cuda_upload(c, l->lora_b, hl->lora_b, (size_t)out * hl->r * sizeof(float)))
                build_fail(b, "%s: cannot upload the LoRA adapter", module);
            if (l->r > b->g->max_lora_r)
                b->g->max_lora_r = l->r;
        }
    }
}

static void build_vision(builder *b)
{
    pv_cuda_model *g = b->g;
    const pv_vision_config *vc = &g->cfg.vision;
    int D = vc->hidden_size, side = vc->image_size / vc->patch_size;
    int patch_in = vc->num_channels * vc->patch_size * vc->patch_size;
    g->patch_embed = take(b, "model.vision_tower.embeddings.patch_embedding.weight",
                          (size_t)D * patch_in, true, MATRIX);
    g->class_embed = take(b, "model.vision_tower.embeddings.class_embedding", D, false, BIAS);
    g->pos_embed = take(b, "model.vision_tower.embeddings.position_embedding.weight",
                        (size_t)(side * side + 1) * D, false, BIAS);
    g->pre_ln_w = take(b, "model.vision_tower.pre_layrnorm.weight", D, false, NORM_W);
    g->pre_ln_b = take(b, "model.vision_tower.pre_layrnorm.bias", D, false, NORM_B);
    g->vision_depth = pv_clip_layers_needed(&g->cfg);
    g->vision_layers = calloc(g->vision_depth > 0 ? g->vision_depth : 1, sizeof *g->vision_layers);
    if (!g->vision_layers) {
        build_fail(b, "out of memory");
        return;
    }
    for (int i = 0; i < g->vision_depth && !b->failed; i++) {
        pv_dclip_layer *L = &g->vision_layers[i];
        char p[128], m[192];
        snprintf(p, sizeof p, "model.vision_tower.encoder.layers.%d", i);
        snprintf(m, sizeof m, "%s.layer_norm1.weight", p);
        L->ln1_w = take(b, m, D, false, NORM_W);
        snprintf(m, sizeof m, "%s.layer_norm1.bias", p);
        L->ln1_b = take(b, m, D, false, NORM_B);
        snprintf(m, sizeof m, "%s.layer_norm2.weight", p);
        L->ln2_w = take(b, m, D, false, NORM_W);
        snprintf(m, sizeof m, "%s.layer_norm2.bias", p);
        L->ln2_b = take(b, m, D, false, NORM_B);
        pv_dlinear *attn[] = {&L->q, &L->k, &L->v, &L->o};
        static const char *names[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int j = 0; j < 4; j++) {
            snprintf(m, sizeof m, "%s.self_attn.%s", p, names[j]);
            take_linear(b, attn[j], m, D, D, true);
        }
        snprintf(m, sizeof m, "%s.mlp.fc1", p);
        take_linear(b, &L->fc1, m, D, vc->intermediate_size, true);
        snprintf(m, sizeof m, "%s.mlp.fc2", p);
        take_linear(b, &L->fc2, m, vc->intermediate_size, D, true);
    }
    int H = g->cfg.text.hidden_size;
    bool pb = g->cfg.multimodal_projector_bias;
    take_linear(b, &g->proj1, "model.multi_modal_projector.linear_1", D, H, pb);
    take_linear(b, &g->proj2, "model.multi_modal_projector.linear_2", H, H, pb);
}

static void build_text(builder *b)
{
    pv_cuda_model *g = b->g;
    const pv_text_config *t = &g->cfg.text;
    int H = t->hidden_size, I = t->intermediate_size, hd = t->head_dim;
    int qw = t->num_attention_heads * hd, kvw = t->num_key_value_heads * hd;
    g->embed = take(b, "model.language_model.embed_tokens.weight", (size_t)t->vocab_size * H,
                    true, MATRIX);
    g->text_layers = calloc(t->num_hidden_layers > 0 ? t->num_hidden_layers : 1,
                            sizeof *g->text_layers);
    if (!g->text_layers) {
        build_fail(b, "out of memory");
        return;
    }
    for (int i = 0; i < t->num_hidden_layers && !b->failed; i++) {
        pv_dllama_layer *L = &g->text_layers[i];
        char p[128], m[192];
        snprintf(p, sizeof p, "model.language_model.layers.%d", i);
        snprintf(m, sizeof m, "%s.input_layernorm.weight", p);
        L->attn_norm = take(b, m, H, false, NORM_W);
        snprintf(m, sizeof m, "%s.post_attention_layernorm.weight", p);
        L->mlp_norm = take(b, m, H, false, NORM_W);
        bool ab = t->attention_bias, mb = t->mlp_bias;
        snprintf(m, sizeof m, "%s.self_attn.q_proj", p);
        take_linear(b, &L->q, m, H, qw, ab);
        snprintf(m, sizeof m, "%s.self_attn.k_proj", p);
        take_linear(b, &L->k, m, H, kvw, ab);
        snprintf(m, sizeof m, "%s.self_attn.v_proj", p);
        take_linear(b, &L->v, m, H, kvw, ab);
        snprintf(m, sizeof m, "%s.self_attn.o_proj", p);
        take_linear(b, &L->o, m, qw, H, ab);
        snprintf(m, sizeof m, "%s.mlp.gate_proj", p);
        take_linear(b, &L->gate, m, H, I, mb);
        snprintf(m, sizeof m, "%s.mlp.up_proj", p);
        take_linear(b, &L->up, m, H, I, mb);
        snprintf(m, sizeof m, "%s.mlp.down_proj", p);
        take_linear(b, &L->down, m, I, H, mb);
    }
    g->final_norm = take(b, "model.language_model.norm.weight", H, false, NORM_W);
    if (t->tie_word_embeddings) {
        g->lm_head.in = H;
        g->lm_head.out = t->vocab_size;
        g->lm_head.w = g->embed;
    } else {
        take_linear(b, &g->lm_head, "lm_head", H, t->vocab_size, false);
    }
}

static pv_cuda_model *model_new(const pv_llava_config *cfg, pv_cuda_dtype dtype, char *err,
                                size_t errlen)
{
    if (pv_cuda_available(err, errlen) != 0)
        return NULL;
    if (pv_llava_check_supported(cfg, err, errlen) != 0)
        return NULL;
    if (cfg->text.head_dim > 256 || cfg->vision.hidden_size / cfg->vision.num_attention_heads > 256) {
        snprintf(err, errlen, "unsupported model: head_dim over 256 (the GPU attention's limit)");
        return NULL;
    }
    pv_cuda_model *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    g->dtype = dtype;
    g->weight_bits = 24;
    g->ctx = pv_cuda_ctx_new(err, errlen);
    if (!g->ctx) {
        free(g);
        return NULL;
    }
    return g;
}

static pv_cuda_model *build(builder *b)
{
    build_vision(b);
    build_text(b);
    if (b->failed) {
        pv_cuda_model_free(b->g);
        return NULL;
    }
    return b->g;
}

pv_cuda_model *pv_cuda_model_load(const char *dir, pv_cuda_dtype dtype, char *err, size_t errlen)
{
    char path[4096];
    pv_llava_config cfg;
    if (pv_cuda_available(err, errlen) != 0) /* first: the reason a user must see */
        return NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (pv_llava_config_load(path, &cfg, err, errlen) != 0)
        return NULL;
    builder b = {.kind = FROM_FILE, .err = err, .errlen = errlen};
    b.g = model_new(&cfg, dtype, err, errlen);
    if (!b.g)
        return NULL;
    if (pv_st_set_open_dir(dir, &b.set, err, errlen) != 0) {
        pv_cuda_model_free(b.g);
        return NULL;
    }
    size_t total = 0;
    for (size_t f = 0; f < b.set.nfiles; f++)
        total += b.set.files[f].count;
    b.index = calloc(total ? total : 1, sizeof *b.index);
    for (size_t f = 0; b.index && f < b.set.nfiles; f++)
        for (size_t i = 0; i < b.set.files[f].count; i++) {
            const pv_st_tensor *t = &b.set.files[f].tensors[i];
            char canon[512];
            if (pv_llava_canonical_name(t->name, canon, sizeof canon) != 0)
                continue; /* not part of the model (e.g. extra heads): ignored as on the CPU */
            b.index[b.n_index].canon = strdup(canon);
            b.index[b.n_index++].t = t;
        }
    pv_cuda_model *g = NULL;
    if (!b.index) {
        snprintf(err, errlen, "out of memory");
        pv_cuda_model_free(b.g);
    } else {
        const pv_st_tensor *e = file_find(&b, "model.language_model.embed_tokens.weight");
        if (e)
            b.g->weight_bits = e->dtype == PV_ST_BF16 ? 8 : e->dtype == PV_ST_F16 ? 11 : 24;
        g = build(&b);
    }
    for (size_t i = 0; i < b.n_index; i++)
        free(b.index[i].canon);
    free(b.index);
    pv_st_set_close(&b.set);
    return g;
}

pv_cuda_model *pv_cuda_model_upload(const pv_llava_model *m, pv_cuda_dtype dtype, char *err,
                                    size_t errlen)
{
    builder b = {.kind = FROM_HOST, .host = m, .err = err, .errlen = errlen};
    b.params = pv_llava_params(m, &b.n_params);
    b.g = model_new(&m->cfg, dtype, err, errlen);
    if (!b.g)
        return NULL;
    b.g->weight_bits = pv_llava_weight_bits(m);
    return build(&b);
}

pv_cuda_model *pv_cuda_model_random(const pv_llava_config *cfg, pv_cuda_dtype dtype,
                                    uint64_t seed, char *err, size_t errlen)
{
    builder b = {.kind = FROM_RANDOM, .seed = seed, .err = err, .errlen = errlen};
    b.g = model_new(cfg, dtype, err, errlen);
    if (!b.g)
        return NULL;
    b.g->weight_bits = dtype == PV_CUDA_BF16 ? 8 : dtype == PV_CUDA_F16 ? 11 : 24;
    return build(&b);
}

void pv_cuda_model_free(pv_cuda_model *g)
{
    if (!g)
        return;
    if (g->ctx)
        pv_cuda_sync(g->ctx, NULL, 0);
    for (size_t i = 0; i < g->n_allocs; i++)
        pv_cuda_free(g->allocs[i]);
    free(g->allocs);
    free(g->vision_layers);
    free(g->text_layers);
    pv_cuda_ctx_free(g->ctx);
    free(g);
}

const pv_llava_config *pv_cuda_model_config(const pv_cuda_model *g)
{
    return &g->cfg;
}

pv_cuda_dtype pv_cuda_model_dtype(const pv_cuda_model *g)
{
    return g->dtype;
}

size_t pv_cuda_model_bytes(const pv_cuda_model *g)
{
    return g->bytes;
}

size_t pv_cuda_model_decode_bytes(const pv_cuda_model *g)
{
    const pv_text_config *t = &g->cfg.text;
    size_t es = pv_cuda_dtype_size(g->dtype), H = t->hidden_size, I = t->intermediate_size;
    size_t qw = (size_t)t->num_attention_heads * t->head_dim;
    size_t kvw = (size_t)t->num_key_value_heads * t->head_dim;
    size_t layer = (H * qw + 2 * H * kvw + qw * H + 3 * H * I) * es + 2 * H * 4;
    return layer * t->num_hidden_layers + (size_t)t->vocab_size * H * es + H * 4;
}

/* ---- back to the host, for the CPU comparison -------------------------------------- */

static float *fetch(pv_cuda_model *g, const void *src, pv_cuda_dtype t, size_t n, bool *ok)
{
    float *dst = malloc(n * sizeof *dst);
    if (!dst || pv_cuda_download_as_f32(g->ctx, dst, src, t, n) < 0) {
        *ok = false;
        free(dst);
        return NULL;
    }
    return dst;
}

static void fetch_linear(pv_cuda_model *g, const pv_dlinear *d, pv_linear *h, bool *ok)
{
    h->in = d->in;
    h->out = d->out;
    h->w = fetch(g, d->w, g->dtype, (size_t)d->in * d->out, ok);
    if (d->b)
        h->b = fetch(g, d->b, PV_CUDA_F32, (size_t)d->out, ok);
}

int pv_cuda_model_to_host(const pv_cuda_model *gc, int text_layers, pv_llava_model *host,
                          char *err, size_t errlen)
{
    pv_cuda_model *g = (pv_cuda_model *)gc; /* downloads use its stream */
    const pv_text_config *t = &g->cfg.text;
    if (text_layers < 1 || text_layers > t->num_hidden_layers) {
        snprintf(err, errlen, "text_layers must be 1..%d", t->num_hidden_layers);
        return -1;
    }
    memset(host, 0, sizeof *host);
    host->cfg = g->cfg;
    host->cfg.text.num_hidden_layers = text_layers;
    host->cfg.text.tie_word_embeddings = false;
    bool ok = true;
    size_t H = t->hidden_size;
    host->text.embed = fetch(g, g->embed, g->dtype, (size_t)t->vocab_size * H, &ok);
    host->text.layers = calloc(text_layers, sizeof *host->text.layers);
    ok = ok && host->text.layers;
    for (int i = 0; ok && i < text_layers; i++) {
        const pv_dllama_layer *d = &g->text_layers[i];
        pv_llama_layer *L = &host->text.layers[i];
        L->attn_norm = fetch(g, d->attn_norm, PV_CUDA_F32, H, &ok);
        L->mlp_norm = fetch(g, d->mlp_norm, PV_CUDA_F32, H, &ok);
        fetch_linear(g, &d->q, &L->q, &ok);
        fetch_linear(g, &d->k, &L->k, &ok);
        fetch_linear(g, &d->v, &L->v, &ok);
        fetch_linear(g, &d->o, &L->o, &ok);
        fetch_linear(g, &d->gate, &L->gate, &ok);
        fetch_linear(g, &d->up, &L->up, &ok);
        fetch_linear(g, &d->down, &L->down, &ok);
    }
    if (ok)
        host->text.final_norm = fetch(g, g->final_norm, PV_CUDA_F32, H, &ok);
    if (ok)
        fetch_linear(g, &g->lm_head, &host->text.lm_head, &ok);
    if (!ok) {
        snprintf(err, errlen, "out of host memory or a failed download");
        pv_cuda_host_model_free(host);
        return -1;
    }
    return 0;
}

static void free_linear(pv_linear *l)
{
    free(l->w);
    free(l->b);
}

void pv_cuda_host_model_free(pv_llava_model *host)
{
    if (host->text.layers)
        for (int i = 0; i < host->cfg.text.num_hidden_layers; i++) {
            pv_llama_layer *L = &host->text.layers[i];
            free(L->attn_norm);
            free(L->mlp_norm);
            pv_linear *lin[] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
            for (size_t j = 0; j < sizeof lin / sizeof *lin; j++)
                free_linear(lin[j]);
        }
    free(host->text.layers);
    free(host->text.embed);
    free(host->text.final_norm);
    free_linear(&host->text.lm_head);
    memset(host, 0, sizeof *host);
}

#endif /* PV_HAVE_CUDA */
