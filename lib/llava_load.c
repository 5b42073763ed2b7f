/* Loading a llava-hf model folder into pv_llava_model.
 *
 * Every tensor name in the files is first rewritten into the newer hub layout
 * (pv_llava_canonical_name), so that both layouts of DESIGN.md, and the
 * vision_tower.* spelling without "vision_model." that transformers 5 writes,
 * are one case. Then each weight the configuration implies is taken by name,
 * its shape checked, and either used in place (F32, aligned: zero-copy from the
 * private mapping) or converted into an owned fp32 buffer (F16, BF16, F64),
 * after which the source pages are dropped from memory so that the peak stays
 * near the fp32 weights. Tensors the configuration does not explain are errors:
 * they mean the config.json and the weights disagree. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "llava_model.h"
#include "llava_storage.h"

int pv_storage_own(pv_llava_storage *s, void *buf)
{
    if (s->nowned == s->owned_cap) {
        size_t cap = s->owned_cap ? 2 * s->owned_cap : 64;
        void **n = realloc(s->owned, cap * sizeof *n);
        if (!n) {
            free(buf);
            return -1;
        }
        s->owned = n;
        s->owned_cap = cap;
    }
    s->owned[s->nowned++] = buf;
    return 0;
}

static bool starts(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

int pv_llava_canonical_name(const char *name, char *out, size_t outlen)
{
    static const struct {
        const char *from, *to;
    } rules[] = {
        /* longest prefixes first */
        {"model.vision_tower.vision_model.", "model.vision_tower."},
        {"model.vision_tower.", "model.vision_tower."},
        {"vision_tower.vision_model.", "model.vision_tower."},
        {"vision_tower.", "model.vision_tower."},
        {"model.multi_modal_projector.", "model.multi_modal_projector."},
        {"multi_modal_projector.", "model.multi_modal_projector."},
        {"model.language_model.", "model.language_model."},
        {"language_model.model.", "model.language_model."},
        {"language_model.lm_head.", "lm_head."},
        {"lm_head.", "lm_head."},
    };
    const char *rest;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (starts(name, rules[i].from, &rest)) {
            int n = snprintf(out, outlen, "%s%s", rules[i].to, rest);
            return n >= 0 && (size_t)n < outlen && *rest ? 0 : -1;
        }
    return -1;
}

/* ---- the loader's working state ---- */

typedef struct file_tensor {
    char *name; /* canonical */
    const pv_st_tensor *t;
    size_t file;
    bool used;
} file_tensor;

typedef struct loader {
    pv_llava_model *m;
    pv_llava_storage *s;
    file_tensor *index; /* sorted by canonical name */
    size_t n;
    bool *file_in_place; /* per file: some weight points into its mapping */
    bool old_layout, vision_model_infix; /* for messages: names as the files spell them */
    char *err;
    size_t errlen;
    int failed;
} loader;

static void fail(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(loader *L, const char *fmt, ...)
{
    if (L->failed++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
}

/* The canonical name as the model's files spell it. */
static void file_name(const loader *L, const char *canon, char *out, size_t outlen)
{
    const char *rest;
    if (starts(canon, "model.vision_tower.", &rest))
        snprintf(out, outlen, "%svision_tower.%s%s", L->old_layout ? "" : "model.",
                 L->vision_model_infix ? "vision_model." : "", rest);
    else if (!L->old_layout)
        snprintf(out, outlen, "%s", canon);
    else if (starts(canon, "model.multi_modal_projector.", &rest))
        snprintf(out, outlen, "multi_modal_projector.%s", rest);
    else if (starts(canon, "model.language_model.", &rest))
        snprintf(out, outlen, "language_model.model.%s", rest);
    else if (starts(canon, "lm_head.", &rest))
        snprintf(out, outlen, "language_model.lm_head.%s", rest);
    else
        snprintf(out, outlen, "%s", canon);
}

static int cmp_ft(const void *a, const void *b)
{
    return strcmp(((const file_tensor *)a)->name, ((const file_tensor *)b)->name);
}

static int build_index(loader *L)
{
    const pv_st_set *set = &L->s->set;
    size_t total = 0;
    for (size_t f = 0; f < set->nfiles; f++)
        total += set->files[f].count;
    L->index = calloc(total ? total : 1, sizeof *L->index);
    L->file_in_place = calloc(set->nfiles ? set->nfiles : 1, sizeof *L->file_in_place);
    if (!L->index || !L->file_in_place) {
        fail(L, "out of memory");
        return -1;
    }
    char canon[512];
    for (size_t f = 0; f < set->nfiles; f++)
        for (size_t i = 0; i < set->files[f].count; i++) {
            const pv_st_tensor *t = &set->files[f].tensors[i];
            const char *rest;
            if (starts(t->name, "language_model.model.", &rest) || starts(t->name, "language_model.lm_head.", &rest))
                L->old_layout = true;
            if (strstr(t->name, "vision_tower.vision_model."))
                L->vision_model_infix = true;
            if (pv_llava_canonical_name(t->name, canon, sizeof canon) != 0) {
                fail(L, "%s: tensor \"%s\" is not part of a LLaVA model", set->files[f].path, t->name);
                return -1;
            }
            file_tensor *e = &L->index[L->n++];
            e->name = strdup(canon);
            e->t = t;
            e->file = f;
            if (!e->name) {
                fail(L, "out of memory");
                return -1;
            }
        }
    qsort(L->index, L->n, sizeof *L->index, cmp_ft);
    for (size_t i = 1; i < L->n; i++)
        if (strcmp(L->index[i - 1].name, L->index[i].name) == 0) {
            fail(L, "tensors \"%s\" and \"%s\" are the same weight under both naming layouts",
                 L->index[i - 1].t->name, L->index[i].t->name);
            return -1;
        }
    return 0;
}

static file_tensor *lookup(loader *L, const char *canon)
{
    file_tensor key = {.name = (char *)(uintptr_t)canon};
    return L->n ? bsearch(&key, L->index, L->n, sizeof key, cmp_ft) : NULL;
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, len - pos, "[");
    for (int d = 0; d < ndim && pos < len; d++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (pos < len)
        snprintf(buf + pos, len - pos, "]");
}

static int add_param(loader *L, const char *canon, float *data, int ndim, const int64_t *shape)
{
    pv_llava_storage *s = L->s;
    if (s->nparams == s->params_cap) {
        size_t cap = s->params_cap ? 2 * s->params_cap : 256;
        pv_llava_param *n = realloc(s->params, cap * sizeof *n);
        if (!n)
            return -1;
        s->params = n;
        s->params_cap = cap;
    }
    pv_llava_param *p = &s->params[s->nparams];
    memset(p, 0, sizeof *p);
    p->name = strdup(canon);
    if (!p->name)
        return -1;
    p->data = data;
    p->ndim = ndim;
    p->numel = 1;
    for (int d = 0; d < ndim; d++) {
        p->shape[d] = shape[d];
        p->numel *= shape[d];
    }
    s->nparams++;
    return 0;
}

/* Drops the pages wholly inside [p, p + n) of a private file mapping: they were
 * only needed for the conversion, and would otherwise count as resident. */
static void drop_pages(const void *p, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~((uintptr_t)pg - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

/* An fp32 buffer for a converted weight. Large ones are aligned to 2 MiB and
 * offered to transparent huge pages: filling a 7B model 4 KiB at a time costs
 * millions of page faults. */
static float *alloc_weights(size_t numel)
{
    size_t bytes = (numel ? numel : 1) * sizeof(float);
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge)
        return malloc(bytes);
    void *p = NULL;
    if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge) != 0)
        return NULL;
    madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
    return p;
}

/* The weight `canon` with exactly this shape, as fp32; NULL after fail(). */
static float *take_shape(loader *L, const char *canon, int ndim, const int64_t *shape)
{
    if (L->failed)
        return NULL;
    char fname[512], want[128], got[128];
    file_tensor *e = lookup(L, canon);
    if (!e) {
        file_name(L, canon, fname, sizeof fname);
        shape_text(want, sizeof want, ndim, shape);
        fail(L, "missing tensor \"%s\" (expected shape %s)", fname, want);
        return NULL;
    }
    const pv_st_tensor *t = e->t;
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        shape_text(want, sizeof want, ndim, shape);
        shape_text(got, sizeof got, t->ndim, t->shape);
        fail(L, "tensor \"%s\" has shape %s, expected %s", t->name, got, want);
        return NULL;
    }
    e->used = true;
    float *data;
    if (t->dtype == PV_ST_F32 && (uintptr_t)t->data % _Alignof(float) == 0) {
        data = (float *)(uintptr_t)t->data; /* the mapping is writable copy-on-write */
        L->file_in_place[e->file] = true;
    } else {
        data = alloc_weights((size_t)t->numel);
        if (!data || pv_storage_own(L->s, data) != 0) {
            fail(L, "out of memory loading \"%s\"", t->name);
            return NULL;
        }
        char msg[256];
        if (pv_st_to_f32(t, data, msg, sizeof msg) != 0) {
            fail(L, "%s: %s", L->s->set.files[e->file].path, msg);
            return NULL;
        }
        if (L->s->set.files[e->file].mapped)
            drop_pages(t->data, t->nbytes);
    }
    if (add_param(L, canon, data, ndim, shape) != 0) {
        fail(L, "out of memory");
        return NULL;
    }
    return data;
}

#define TAKE(L, name, ...) \
    take_shape((L), (name), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static void take_linear(loader *L, pv_linear *lin, const char *module, int in, int out, bool bias)
{
    char name[512];
    memset(lin, 0, sizeof *lin);
    lin->in = in;
    lin->out = out;
    snprintf(name, sizeof name, "%s.weight", module);
    lin->w = TAKE(L, name, out, in);
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", module);
        lin->b = TAKE(L, name, out);
    }
    if (L->failed)
        return;
    pv_llava_storage *s = L->s;
    if (s->nlinears == s->linears_cap) {
        size_t cap = s->linears_cap ? 2 * s->linears_cap : 256;
        pv_named_linear *n = realloc(s->linears, cap * sizeof *n);
        if (!n) {
            fail(L, "out of memory");
            return;
        }
        s->linears = n;
        s->linears_cap = cap;
    }
    s->linears[s->nlinears].name = strdup(module);
    s->linears[s->nlinears].lin = lin;
    if (!s->linears[s->nlinears].name)
        fail(L, "out of memory");
    else
        s->nlinears++;
}

static void take_layernorm(loader *L, pv_layernorm *ln, const char *module, int n)
{
    char name[512];
    snprintf(name, sizeof name, "%s.weight", module);
    ln->w = TAKE(L, name, n);
    snprintf(name, sizeof name, "%s.bias", module);
    ln->b = TAKE(L, name, n);
}

static void load_vision(loader *L)
{
    const pv_vision_config *v = &L->m->cfg.vision;
    pv_clip_weights *w = &L->m->vision;
    int h = v->hidden_size, side = v->image_size / v->patch_size;
    w->patch_embed = TAKE(L, "model.vision_tower.embeddings.patch_embedding.weight", h, v->num_channels,
                          v->patch_size, v->patch_size);
    w->class_embed = TAKE(L, "model.vision_tower.embeddings.class_embedding", h);
    w->pos_embed = TAKE(L, "model.vision_tower.embeddings.position_embedding.weight", side * side + 1, h);
    take_layernorm(L, &w->pre_ln, "model.vision_tower.pre_layrnorm", h);
    w->layers = calloc((size_t)v->num_hidden_layers, sizeof *w->layers);
    if (!w->layers) {
        fail(L, "out of memory");
        return;
    }
    char p[256], m[320];
    for (int i = 0; i < v->num_hidden_layers && !L->failed; i++) {
        pv_clip_layer *l = &w->layers[i];
        snprintf(p, sizeof p, "model.vision_tower.encoder.layers.%d", i);
        snprintf(m, sizeof m, "%s.layer_norm1", p);
        take_layernorm(L, &l->ln1, m, h);
        snprintf(m, sizeof m, "%s.layer_norm2", p);
        take_layernorm(L, &l->ln2, m, h);
        static const char *attn[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        pv_linear *lins[] = {&l->q, &l->k, &l->v, &l->o};
        for (int j = 0; j < 4; j++) {
            snprintf(m, sizeof m, "%s.self_attn.%s", p, attn[j]);
            take_linear(L, lins[j], m, h, h, true);
        }
        snprintf(m, sizeof m, "%s.mlp.fc1", p);
        take_linear(L, &l->fc1, m, h, v->intermediate_size, true);
        snprintf(m, sizeof m, "%s.mlp.fc2", p);
        take_linear(L, &l->fc2, m, v->intermediate_size, h, true);
    }
    take_layernorm(L, &w->post_ln, "model.vision_tower.post_layernorm", h);
}

static void load_text(loader *L)
{
    const pv_text_config *t = &L->m->cfg.text;
    pv_llama_weights *w = &L->m->text;
    int H = t->hidden_size, q = t->num_attention_heads * t->head_dim, kv = t->num_key_value_heads * t->head_dim;
    w->embed = TAKE(L, "model.language_model.embed_tokens.weight", t->vocab_size, H);
    w->layers = calloc((size_t)t->num_hidden_layers, sizeof *w->layers);
    if (!w->layers) {
        fail(L, "out of memory");
        return;
    }
    char p[256], m[320];
    for (int i = 0; i < t->num_hidden_layers && !L->failed; i++) {
        pv_llama_layer *l = &w->layers[i];
        snprintf(p, sizeof p, "model.language_model.layers.%d", i);
        snprintf(m, sizeof m, "%s.input_layernorm.weight", p);
        l->attn_norm = TAKE(L, m, H);
        snprintf(m, sizeof m, "%s.post_attention_layernorm.weight", p);
        l->mlp_norm = TAKE(L, m, H);
        snprintf(m, sizeof m, "%s.self_attn.q_proj", p);
        take_linear(L, &l->q, m, H, q, t->attention_bias);
        snprintf(m, sizeof m, "%s.self_attn.k_proj", p);
        take_linear(L, &l->k, m, H, kv, t->attention_bias);
        snprintf(m, sizeof m, "%s.self_attn.v_proj", p);
        take_linear(L, &l->v, m, H, kv, t->attention_bias);
        snprintf(m, sizeof m, "%s.self_attn.o_proj", p);
        take_linear(L, &l->o, m, q, H, t->attention_bias);
        snprintf(m, sizeof m, "%s.mlp.gate_proj", p);
        take_linear(L, &l->gate, m, H, t->intermediate_size, t->mlp_bias);
        snprintf(m, sizeof m, "%s.mlp.up_proj", p);
        take_linear(L, &l->up, m, H, t->intermediate_size, t->mlp_bias);
        snprintf(m, sizeof m, "%s.mlp.down_proj", p);
        take_linear(L, &l->down, m, t->intermediate_size, H, t->mlp_bias);
    }
    w->final_norm = TAKE(L, "model.language_model.norm.weight", H);
    if (t->tie_word_embeddings) {
        /* transformers ties lm_head to the embeddings whatever the file holds */
        file_tensor *e = lookup(L, "lm_head.weight");
        if (e)
            e->used = true;
        w->lm_head = (pv_linear){.in = H, .out = t->vocab_size, .w = w->embed};
    } else
        take_linear(L, &w->lm_head, "lm_head", H, t->vocab_size, false);
}

static void free_storage(pv_llava_storage *s)
{
    if (!s)
        return;
    pv_st_set_close(&s->set);
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    for (size_t i = 0; i < s->nparams; i++)
        free(s->params[i].name);
    free(s->params);
    for (size_t i = 0; i < s->nlinears; i++)
        free(s->linears[i].name);
    free(s->linears);
    free(s);
}

void pv_llava_free(pv_llava_model *m)
{
    if (!m)
        return;
    free(m->vision.layers);
    free(m->text.layers);
    free_storage(m->storage);
    memset(m, 0, sizeof *m);
}

int pv_llava_load(const char *dir, pv_llava_model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    size_t plen = strlen(dir) + 32;
    char *path = malloc(plen);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(path, plen, "%s/config.json", dir);
    int rc = pv_llava_config_load(path, &m->cfg, err, errlen);
    free(path);
    if (rc)
        return -1;
    pv_llava_storage *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->storage = s;
    if (pv_st_set_open_dir(dir, &s->set, err, errlen) != 0) {
        pv_llava_free(m);
        return -1;
    }
    char msg[1024];
    loader L = {.m = m, .s = s, .err = msg, .errlen = sizeof msg};
    if (build_index(&L) == 0) {
        load_vision(&L);
        int vh = m->cfg.vision.hidden_size, H = m->cfg.text.hidden_size;
        take_linear(&L, &m->proj1, "model.multi_modal_projector.linear_1", vh, H, m->cfg.multimodal_projector_bias);
        take_linear(&L, &m->proj2, "model.multi_modal_projector.linear_2", H, H, m->cfg.multimodal_projector_bias);
        load_text(&L);
    }
    for (size_t i = 0; i < L.n && !L.failed; i++) {
        /* buffers older checkpoints saved: recomputed here, never read */
        const char *n = L.index[i].name;
        if (!L.index[i].used && !strstr(n, ".rotary_emb.inv_freq") &&
            strcmp(n, "model.vision_tower.embeddings.position_ids") != 0)
            fail(&L, "tensor \"%s\" is not part of the model config.json describes (layer counts or names disagree)",
                 L.index[i].t->name);
    }
    if (!L.failed)
        /* Files that no weight points into (all converted) are unmapped now. */
        for (size_t f = 0; f < s->set.nfiles; f++)
            if (!L.file_in_place[f])
                pv_st_close(&s->set.files[f]);
    for (size_t i = 0; i < L.n; i++)
        free(L.index[i].name);
    free(L.index);
    free(L.file_in_place);
    if (L.failed) {
        if (strncmp(msg, dir, strlen(dir)) == 0) /* already names a file in the folder */
            snprintf(err, errlen, "%s", msg);
        else
            snprintf(err, errlen, "%s: %s", dir, msg);
        pv_llava_free(m);
        return -1;
    }
    return 0;
}

const pv_llava_param *pv_llava_params(const pv_llava_model *m, size_t *count)
{
    const pv_llava_storage *s = m->storage;
    *count = s ? s->nparams : 0;
    return s ? s->params : NULL;
}

size_t pv_llava_linear_count(const pv_llava_model *m)
{
    const pv_llava_storage *s = m->storage;
    return s ? s->nlinears : 0;
}

pv_linear *pv_llava_linear_at(const pv_llava_model *m, size_t i, const char **module_name)
{
    const pv_llava_storage *s = m->storage;
    if (!s || i >= s->nlinears)
        return NULL;
    if (module_name)
        *module_name = s->linears[i].name;
    return s->linears[i].lin;
}

pv_linear *pv_llava_find_linear(const pv_llava_model *m, const char *module_name)
{
    const pv_llava_storage *s = m->storage;
    char canon[512];
    if (!s || pv_llava_canonical_name(module_name, canon, sizeof canon) != 0)
        return NULL;
    for (size_t i = 0; i < s->nlinears; i++)
        if (strcmp(s->linears[i].name, canon) == 0)
            return s->linears[i].lin;
    return NULL;
}
