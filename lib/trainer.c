/* Training forward and backward of the LLaVA language model and projector
 * (see trainer.h). The forward mirrors lib/llava_forward.c op for op, keeping
 * what each backward needs; the backward is lib/grad_ops.h in reverse order. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "grad_ops.h"
#include "llava_forward.h"
#include "ops.h"
#include "philox.h"

#define LOGIT_ROWS 32 /* rows of logits held at once */

enum { LIN_Q, LIN_K, LIN_V, LIN_O, LIN_GATE, LIN_UP, LIN_DOWN, LIN_PER_LAYER };
static const char *const lin_names[LIN_PER_LAYER] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

typedef struct lin_grad {
    float *dw, *db;     /* base weight and bias (full fine-tuning, projector) */
    float *da, *dlb;    /* LoRA A and B */
} lin_grad;

struct pv_trainer {
    pv_llava_model *m;
    pv_trainer_opts opts;
    int L;
    lin_grad *lg;            /* [7L + 3]: layer linears, lm_head, proj1, proj2 */
    float **dnorm;           /* [2L + 1]: attn/mlp norms per layer, final norm (full) */
    float *dembed;           /* full fine-tuning */
    bool *created;           /* [7L]: adapters this trainer attached */
    pv_train_param *params;
    size_t nparams, params_cap;
    void **owned;
    size_t nowned, owned_cap;
    pv_llava_model ref;      /* LoRA: shares the weights, with the initial projector */
    bool has_ref;
};

struct pv_image_act {
    pv_trainer *t;
    int n;                   /* image tokens */
    float *selected;         /* [n][vision hidden] (copy) */
    float *mid;              /* linear_1 output before GELU [n][P] */
    float *act;              /* after GELU [n][P] */
    float *features;         /* [n][text hidden] */
    float *dfeatures;        /* [n][text hidden] accumulated by sequences */
};

typedef struct layer_act {
    float *h_in, *x1, *q, *k, *v, *attn, *h_mid, *x2, *gate, *up, *act;
    float *xa[LIN_PER_LAYER];   /* LoRA: x A^T */
    float *xin[LIN_PER_LAYER];  /* LoRA input after dropout (NULL: the base input) */
    uint8_t *mask[LIN_PER_LAYER];
} layer_act;

struct pv_seq_act {
    pv_trainer *t;
    pv_image_act *img;
    int n, start, ntargets;
    int32_t *ids, *targets;     /* [n], [ntargets][n - 1] */
    layer_act *la;
    float *h_final, *x_final, *lse;
    float *cos_tab, *sin_tab;
    bool dropout;
    void **bufs;
    size_t nbufs, bufs_cap;
};

/* ---------- small helpers ---------- */

static void *zalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory (%zu bytes for training)", n);
    return p;
}

static float *trainer_floats(pv_trainer *t, size_t n)
{
    if (t->nowned == t->owned_cap) {
        t->owned_cap = t->owned_cap ? 2 * t->owned_cap : 64;
        t->owned = realloc(t->owned, t->owned_cap * sizeof *t->owned);
        if (!t->owned)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
    }
    float *p = zalloc(n * sizeof(float));
    t->owned[t->nowned++] = p;
    return p;
}

static float *seq_floats(pv_seq_act *a, size_t n)
{
    if (a->nbufs == a->bufs_cap) {
        a->bufs_cap = a->bufs_cap ? 2 * a->bufs_cap : 64;
        a->bufs = realloc(a->bufs, a->bufs_cap * sizeof *a->bufs);
        if (!a->bufs)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
    }
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory (%zu floats of activations)", n);
    a->bufs[a->nbufs++] = p;
    return p;
}

static pv_linear *lin_at(pv_llava_model *m, int L, int idx)
{
    if (idx == 7 * L)
        return &m->text.lm_head;
    if (idx == 7 * L + 1)
        return &m->proj1;
    if (idx == 7 * L + 2)
        return &m->proj2;
    pv_llama_layer *ly = &m->text.layers[idx / LIN_PER_LAYER];
    pv_linear *per[LIN_PER_LAYER] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
    return per[idx % LIN_PER_LAYER];
}

static void add_param(pv_trainer *t, const char *name, float *data, float *grad, size_t n,
                      int ndim, long long d0, long long d1, bool projector)
{
    if (t->nparams == t->params_cap) {
        t->params_cap = t->params_cap ? 2 * t->params_cap : 64;
        t->params = realloc(t->params, t->params_cap * sizeof *t->params);
        if (!t->params)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
    }
    pv_train_param *p = &t->params[t->nparams++];
    p->name = strdup(name);
    p->data = data;
    p->grad = grad;
    p->n = n;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->projector = projector;
    p->m = trainer_floats(t, n);
    p->v = trainer_floats(t, n);
}

int pv_lora_targets_parse(const char *list)
{
    static const struct { const char *name; int bit; } names[] = {
        {"q", PV_LORA_Q},       {"k", PV_LORA_K},         {"v", PV_LORA_V},
        {"o", PV_LORA_O},       {"gate", PV_LORA_GATE},   {"up", PV_LORA_UP},
        {"down", PV_LORA_DOWN}, {"q_proj", PV_LORA_Q},    {"k_proj", PV_LORA_K},
        {"v_proj", PV_LORA_V},  {"o_proj", PV_LORA_O},    {"gate_proj", PV_LORA_GATE},
        {"up_proj", PV_LORA_UP}, {"down_proj", PV_LORA_DOWN}, {"all", PV_LORA_ALL}};
    int mask = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int bit = 0;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (strlen(names[i].name) == len && strncmp(names[i].name, p, len) == 0)
                bit = names[i].bit;
        if (!bit)
            return -1;
        mask |= bit;
        p += len;
        if (*p == ',')
            p++;
    }
    return mask ? mask : -1;
}

/* ---------- the trainer ---------- */

static int attach_new_lora(pv_trainer *t, pv_linear *l, int idx)
{
    int r = t->opts.lora_r;
    l->r = r;
    l->scale = (float)(t->opts.lora_alpha / r);
    l->lora_a = trainer_floats(t, (size_t)r * l->in);
    l->lora_b = trainer_floats(t, (size_t)l->out * r);
    /* PEFT: kaiming_uniform_(A, a=sqrt(5)) -> U(-1/sqrt(in), 1/sqrt(in)); B = 0. */
    double bound = 1.0 / sqrt((double)l->in);
    uint64_t key = 0x4c6f5241ULL ^ ((uint64_t)idx << 32);
    for (size_t i = 0; i < (size_t)r * l->in; i++)
        l->lora_a[i] = (float)((2.0 * pv_philox_uniform(t->opts.seed, key, i) - 1.0) * bound);
    t->created[idx] = true;
    return 0;
}

static void copy_linear(pv_trainer *t, const pv_linear *src, pv_linear *dst)
{
    *dst = *src;
    dst->r = 0;
    dst->lora_a = dst->lora_b = NULL;
    dst->w = trainer_floats(t, (size_t)src->out * src->in);
    memcpy(dst->w, src->w, (size_t)src->out * src->in * sizeof(float));
    if (src->b) {
        dst->b = trainer_floats(t, (size_t)src->out);
        memcpy(dst->b, src->b, (size_t)src->out * sizeof(float));
    }
}

static void register_linear(pv_trainer *t, pv_linear *l, int idx, const char *module, bool full,
                            bool projector, bool peft_names)
{
    char name[512];
    lin_grad *g = &t->lg[idx];
    if (full || projector) {
        g->dw = trainer_floats(t, (size_t)l->out * l->in);
        snprintf(name, sizeof name, "%s%s.weight", peft_names ? "base_model.model." : "", module);
        add_param(t, name, l->w, g->dw, (size_t)l->out * l->in, 2, l->out, l->in, projector);
        if (l->b) {
            g->db = trainer_floats(t, (size_t)l->out);
            snprintf(name, sizeof name, "%s%s.bias", peft_names ? "base_model.model." : "", module);
            add_param(t, name, l->b, g->db, (size_t)l->out, 1, l->out, 0, projector);
        }
    }
    if (!full && !projector && l->r > 0) {
        g->da = trainer_floats(t, (size_t)l->r * l->in);
        g->dlb = trainer_floats(t, (size_t)l->out * l->r);
        snprintf(name, sizeof name, "base_model.model.%s.lora_A.weight", module);
        add_param(t, name, l->lora_a, g->da, (size_t)l->r * l->in, 2, l->r, l->in, false);
        snprintf(name, sizeof name, "base_model.model.%s.lora_B.weight", module);
        add_param(t, name, l->lora_b, g->dlb, (size_t)l->out * l->r, 2, l->out, l->r, false);
    }
}

pv_trainer *pv_trainer_new(pv_llava_model *m, const pv_trainer_opts *o, char *err, size_t errlen)
{
    const pv_text_config *tc = &m->cfg.text;
    int L = tc->num_hidden_layers;
    bool full = o->lora_r <= 0;
    if (m->text.lm_head.r > 0) {
        pv_set_err(err, errlen, "a LoRA adapter on lm_head cannot be trained (PEFT's LLaVA default "
                          "targets only the decoder layers)");
        return NULL;
    }
    pv_trainer *t = zalloc(sizeof *t);
    t->m = m;
    t->opts = *o;
    t->L = L;
    t->lg = zalloc((size_t)(7 * L + 3) * sizeof *t->lg);
    t->created = zalloc((size_t)(7 * L) * sizeof *t->created);
    char module[256];

    if (full) {
        bool tied = m->text.lm_head.w == m->text.embed;
        t->dembed = trainer_floats(t, (size_t)tc->vocab_size * tc->hidden_size);
        add_param(t, "model.language_model.embed_tokens.weight", m->text.embed, t->dembed,
                  (size_t)tc->vocab_size * tc->hidden_size, 2, tc->vocab_size, tc->hidden_size,
                  false);
        t->dnorm = zalloc((size_t)(2 * L + 1) * sizeof *t->dnorm);
        for (int l = 0; l < L; l++) {
            pv_llama_layer *ly = &m->text.layers[l];
            if (ly->q.r || ly->k.r || ly->v.r || ly->o.r || ly->gate.r || ly->up.r || ly->down.r) {
                pv_set_err(err, errlen, "full fine-tuning of a model with a LoRA adapter: merge it first");
                pv_trainer_free(t);
                return NULL;
            }
            for (int j = 0; j < LIN_PER_LAYER; j++) {
                snprintf(module, sizeof module, "model.language_model.layers.%d.%s", l, lin_names[j]);
                register_linear(t, lin_at(m, L, 7 * l + j), 7 * l + j, module, true, false, false);
            }
            t->dnorm[2 * l] = trainer_floats(t, (size_t)tc->hidden_size);
            snprintf(module, sizeof module, "model.language_model.layers.%d.input_layernorm.weight", l);
            add_param(t, module, ly->attn_norm, t->dnorm[2 * l], (size_t)tc->hidden_size, 1,
                      tc->hidden_size, 0, false);
            t->dnorm[2 * l + 1] = trainer_floats(t, (size_t)tc->hidden_size);
            snprintf(module, sizeof module,
                     "model.language_model.layers.%d.post_attention_layernorm.weight", l);
            add_param(t, module, ly->mlp_norm, t->dnorm[2 * l + 1], (size_t)tc->hidden_size, 1,
                      tc->hidden_size, 0, false);
        }
        t->dnorm[2 * L] = trainer_floats(t, (size_t)tc->hidden_size);
        add_param(t, "model.language_model.norm.weight", m->text.final_norm, t->dnorm[2 * L],
                  (size_t)tc->hidden_size, 1, tc->hidden_size, 0, false);
        if (tied)
            t->lg[7 * L].dw = t->dembed; /* lm_head shares the embedding and its gradient */
        else
            register_linear(t, &m->text.lm_head, 7 * L, "lm_head", true, false, false);
        register_linear(t, &m->proj1, 7 * L + 1, "model.multi_modal_projector.linear_1", true,
                        true, false);
        register_linear(t, &m->proj2, 7 * L + 2, "model.multi_modal_projector.linear_2", true,
                        true, false);
        return t;
    }

    /* LoRA: the reference is these weights with adapters off and the projector
     * frozen as it is now. */
    t->ref = *m;
    copy_linear(t, &m->proj1, &t->ref.proj1);
    copy_linear(t, &m->proj2, &t->ref.proj2);
    t->has_ref = true;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < LIN_PER_LAYER; j++) {
            pv_linear *lin = lin_at(m, L, 7 * l + j);
            if (lin->r == 0 && (o->lora_targets & (1u << j)))
                attach_new_lora(t, lin, 7 * l + j);
            else if (lin->r > 0 && l == 0 && j == 0) {
                /* A loaded adapter sets the scale; report its alpha/r back. */
                t->opts.lora_r = lin->r;
                t->opts.lora_alpha = lin->scale * lin->r;
            }
            snprintf(module, sizeof module, "model.language_model.layers.%d.%s", l, lin_names[j]);
            register_linear(t, lin, 7 * l + j, module, false, false, true);
        }
    register_linear(t, &m->proj1, 7 * L + 1, "model.multi_modal_projector.linear_1", false, true,
                    true);
    register_linear(t, &m->proj2, 7 * L + 2, "model.multi_modal_projector.linear_2", false, true,
                    true);
    return t;
}

void pv_trainer_free(pv_trainer *t)
{
    if (!t)
        return;
    for (int idx = 0; idx < 7 * t->L; idx++)
        if (t->created[idx]) {
            pv_linear *l = lin_at(t->m, t->L, idx);
            l->r = 0;
            l->lora_a = l->lora_b = NULL;
        }
    for (size_t i = 0; i < t->nparams; i++)
        free(t->params[i].name);
    for (size_t i = 0; i < t->nowned; i++)
        free(t->owned[i]);
    free(t->owned);
    free(t->params);
    free(t->lg);
    free(t->dnorm);
    free(t->created);
    free(t);
}

pv_train_param *pv_trainer_params(pv_trainer *t, size_t *count)
{
    *count = t->nparams;
    return t->params;
}

void pv_trainer_zero_grad(pv_trainer *t)
{
    for (size_t i = 0; i < t->nparams; i++) {
        /* A tied lm_head is registered once, through the embedding. */
        memset(t->params[i].grad, 0, t->params[i].n * sizeof(float));
    }
}

const pv_llava_model *pv_trainer_reference(const pv_trainer *t)
{
    return t->has_ref ? &t->ref : NULL;
}

const pv_llava_model *pv_trainer_model(const pv_trainer *t)
{
    return t->m;
}

const pv_trainer_opts *pv_trainer_options(const pv_trainer *t)
{
    return &t->opts;
}

/* ---------- projector ---------- */

pv_image_act *pv_train_image(pv_trainer *t, const float *selected)
{
    const pv_llava_model *m = t->m;
    int n = pv_llava_config_image_tokens(&m->cfg);
    int P = m->proj1.out, Dv = m->proj1.in, D = m->proj2.out;
    pv_image_act *a = zalloc(sizeof *a);
    a->t = t;
    a->n = n;
    a->selected = zalloc((size_t)n * Dv * sizeof(float));
    memcpy(a->selected, selected, (size_t)n * Dv * sizeof(float));
    a->mid = zalloc((size_t)n * P * sizeof(float));
    a->act = zalloc((size_t)n * P * sizeof(float));
    a->features = zalloc((size_t)n * D * sizeof(float));
    a->dfeatures = zalloc((size_t)n * D * sizeof(float));
    pv_op_linear(&m->proj1, a->selected, n, a->mid, false, NULL);
    memcpy(a->act, a->mid, (size_t)n * P * sizeof(float));
    pv_op_gelu(a->act, (size_t)n * P);
    pv_op_linear(&m->proj2, a->act, n, a->features, false, NULL);
    return a;
}

const float *pv_image_features(const pv_image_act *a)
{
    return a->features;
}

void pv_train_image_backward(pv_trainer *t, pv_image_act *a)
{
    const pv_llava_model *m = t->m;
    int n = a->n, P = m->proj1.out, Dv = m->proj1.in, D = m->proj2.out;
    lin_grad *g1 = &t->lg[7 * t->L + 1], *g2 = &t->lg[7 * t->L + 2];
    float *dact = zalloc((size_t)n * P * sizeof(float));
    float *dmid = zalloc((size_t)n * P * sizeof(float));
    pv_linear_backward(n, P, D, a->act, a->dfeatures, m->proj2.w, dact, g2->dw, g2->db);
    pv_gelu_backward((size_t)n * P, a->mid, dact, dmid);
    pv_linear_backward(n, Dv, P, a->selected, dmid, m->proj1.w, NULL, g1->dw, g1->db);
    memset(a->dfeatures, 0, (size_t)n * D * sizeof(float));
    free(dact);
    free(dmid);
}

void pv_image_act_free(pv_image_act *a)
{
    if (!a)
        return;
    free(a->selected);
    free(a->mid);
    free(a->act);
    free(a->features);
    free(a->dfeatures);
    free(a);
}

/* ---------- sequence forward ---------- */

/* y = x W^T + b (+ LoRA on the possibly dropped-out input), saving what the
 * backward needs in the layer's activation slots j. */
static void train_linear(pv_seq_act *a, layer_act *la, int j, const pv_linear *l, const float *x,
                         float *y, uint64_t dropout_key, int layer)
{
    int n = a->n;
    pv_op_linear(l, x, n, y, false, NULL);
    if (l->r <= 0)
        return;
    const float *xin = x;
    double p = a->t->opts.lora_dropout;
    if (a->dropout && p > 0) {
        float *xd = seq_floats(a, (size_t)n * l->in);
        uint8_t *mask = (uint8_t *)seq_floats(a, ((size_t)n * l->in + 3) / 4);
        float keep_scale = (float)(1.0 / (1.0 - p));
        uint64_t key = dropout_key ^ ((uint64_t)(layer * LIN_PER_LAYER + j + 1) << 40);
        for (size_t i = 0; i < (size_t)n * l->in; i++) {
            mask[i] = pv_philox_uniform(a->t->opts.seed, key, i) >= p;
            xd[i] = mask[i] ? x[i] * keep_scale : 0.0f;
        }
        la->xin[j] = xd;
        la->mask[j] = mask;
        xin = xd;
    }
    float *xa = seq_floats(a, (size_t)n * l->r);
    float *tmp = malloc((size_t)n * l->r * sizeof *tmp);
    if (!tmp)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    pv_op_matmul_wt(xin, n, l->in, l->lora_a, l->r, xa, false);
    for (size_t i = 0; i < (size_t)n * l->r; i++)
        tmp[i] = xa[i] * l->scale;
    pv_op_matmul_wt(tmp, n, l->r, l->lora_b, l->out, y, true);
    free(tmp);
    la->xa[j] = xa;
}

pv_seq_act *pv_train_seq_forward(pv_trainer *t, const int32_t *ids, int n, pv_image_act *img,
                                 int response_start, const int32_t *const *targets,
                                 int ntargets, double *sums, bool train, uint64_t dropout_key,
                                 char *err, size_t errlen)
{
    const pv_llava_model *m = t->m;
    const pv_text_config *tc = &m->cfg.text;
    int D = tc->hidden_size, hd = tc->head_dim, H = tc->num_attention_heads;
    int KV = tc->num_key_value_heads, I = tc->intermediate_size, V = tc->vocab_size;
    int L = t->L;
    float eps = (float)tc->rms_norm_eps;

    if (n < 2 || response_start < 1 || response_start >= n) {
        pv_set_err(err, errlen, "sequence of %d tokens with response start %d: nothing to score", n,
             response_start);
        return NULL;
    }
    int images = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) {
            pv_set_err(err, errlen, "token id %d outside the vocabulary (%d)", (int)ids[i], V);
            return NULL;
        }
        images += ids[i] == m->cfg.image_token_index;
    }
    for (int k = 0; k < ntargets; k++)
        for (int i = 0; i < n - 1; i++)
            if (targets[k][i] < 0 || targets[k][i] >= V) {
                pv_set_err(err, errlen, "target id %d outside the vocabulary", (int)targets[k][i]);
                return NULL;
            }
    if (images && (!img || images > img->n)) {
        pv_set_err(err, errlen, "%d image tokens but %d image features", images, img ? img->n : 0);
        return NULL;
    }

    pv_seq_act *a = zalloc(sizeof *a);
    a->t = t;
    a->img = img;
    a->n = n;
    a->start = response_start;
    a->ntargets = ntargets;
    a->dropout = train;
    a->ids = (int32_t *)seq_floats(a, (size_t)n);
    memcpy(a->ids, ids, (size_t)n * sizeof *ids);
    a->targets = (int32_t *)seq_floats(a, (size_t)(ntargets ? ntargets : 1) * (n - 1));
    for (int k = 0; k < ntargets; k++)
        memcpy(a->targets + (size_t)k * (n - 1), targets[k], (size_t)(n - 1) * sizeof(int32_t));
    a->cos_tab = seq_floats(a, (size_t)n * (hd / 2));
    a->sin_tab = seq_floats(a, (size_t)n * (hd / 2));
    pv_op_rope_tables(n, hd, tc->rope_theta, pv_llava_weight_bits(m), a->cos_tab, a->sin_tab);
    a->la = zalloc((size_t)L * sizeof *a->la);

    size_t nD = (size_t)n * D, nQ = (size_t)n * H * hd, nK = (size_t)n * KV * hd, nI = (size_t)n * I;
    float *h = seq_floats(a, nD), *tmp = malloc(nD * sizeof *tmp);
    float *scratch = malloc(pv_op_attention_scratch(n, n) * sizeof *scratch);
    if (!tmp || !scratch)
        pv_die(PV_EXIT_SYSTEM, "out of memory");

    /* Embeddings, image tokens replaced by the image features in order. */
    int row = 0;
    for (int i = 0; i < n; i++) {
        const float *src = ids[i] == m->cfg.image_token_index ? img->features + (size_t)row++ * D
                                                              : m->text.embed + (size_t)ids[i] * D;
        memcpy(h + (size_t)i * D, src, (size_t)D * sizeof(float));
    }

    for (int l = 0; l < L; l++) {
        const pv_llama_layer *ly = &m->text.layers[l];
        layer_act *la = &a->la[l];
        la->h_in = h;
        la->x1 = seq_floats(a, nD);
        pv_op_rmsnorm(h, n, D, ly->attn_norm, eps, la->x1);
        la->q = seq_floats(a, nQ);
        la->k = seq_floats(a, nK);
        la->v = seq_floats(a, nK);
        train_linear(a, la, LIN_Q, &ly->q, la->x1, la->q, dropout_key, l);
        train_linear(a, la, LIN_K, &ly->k, la->x1, la->k, dropout_key, l);
        train_linear(a, la, LIN_V, &ly->v, la->x1, la->v, dropout_key, l);
        pv_op_rope(la->q, n, H, hd, 0, a->cos_tab, a->sin_tab);
        pv_op_rope(la->k, n, KV, hd, 0, a->cos_tab, a->sin_tab);
        la->attn = seq_floats(a, nQ);
        pv_op_attention(la->q, n, 0, la->k, la->v, n, (size_t)hd, (size_t)KV * hd, H, KV, hd, true,
                        1.0f / sqrtf((float)hd), la->attn, scratch);
        train_linear(a, la, LIN_O, &ly->o, la->attn, tmp, dropout_key, l);
        la->h_mid = seq_floats(a, nD);
        for (size_t i = 0; i < nD; i++)
            la->h_mid[i] = h[i] + tmp[i];
        la->x2 = seq_floats(a, nD);
        pv_op_rmsnorm(la->h_mid, n, D, ly->mlp_norm, eps, la->x2);
        la->gate = seq_floats(a, nI);
        la->up = seq_floats(a, nI);
        train_linear(a, la, LIN_GATE, &ly->gate, la->x2, la->gate, dropout_key, l);
        train_linear(a, la, LIN_UP, &ly->up, la->x2, la->up, dropout_key, l);
        la->act = seq_floats(a, nI);
        memcpy(la->act, la->gate, nI * sizeof(float));
        pv_op_silu_mul(la->act, la->up, nI);
        train_linear(a, la, LIN_DOWN, &ly->down, la->act, tmp, dropout_key, l);
        h = seq_floats(a, nD);
        for (size_t i = 0; i < nD; i++)
            h[i] = la->h_mid[i] + tmp[i];
    }
    a->h_final = h;
    a->x_final = seq_floats(a, nD);
    pv_op_rmsnorm(h, n, D, m->text.final_norm, eps, a->x_final);

    /* Log-probabilities of the response positions: row t predicts token t + 1. */
    a->lse = seq_floats(a, (size_t)n);
    for (int k = 0; k < ntargets; k++)
        sums[k] = 0;
    float *logits = malloc((size_t)LOGIT_ROWS * V * sizeof *logits);
    if (!logits)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    for (int r0 = response_start - 1; r0 < n - 1; r0 += LOGIT_ROWS) {
        int rows = n - 1 - r0 < LOGIT_ROWS ? n - 1 - r0 : LOGIT_ROWS;
        pv_op_linear(&m->text.lm_head, a->x_final + (size_t)r0 * D, rows, logits, false, NULL);
        for (int r = 0; r < rows; r++) {
            const float *z = logits + (size_t)r * V;
            double lse = pv_op_logsumexp(z, V);
            a->lse[r0 + r] = (float)lse;
            for (int k = 0; k < ntargets; k++)
                sums[k] += z[a->targets[(size_t)k * (n - 1) + r0 + r]] - lse;
        }
    }
    free(logits);
    free(tmp);
    free(scratch);
    return a;
}

/* ---------- sequence backward ---------- */

/* Backward of train_linear: dx += dL/dx, parameter gradients accumulated. */
static void train_linear_backward(pv_seq_act *a, layer_act *la, int j, const pv_linear *l,
                                  lin_grad *g, const float *x, const float *dy, float *dx)
{
    int n = a->n;
    pv_linear_backward(n, l->in, l->out, x, dy, l->w, dx, g->dw, g->db);
    if (l->r <= 0)
        return;
    float *scratch = malloc((size_t)n * l->r * sizeof *scratch);
    if (!scratch)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (la->xin[j]) {
        /* Dropout: the branch saw mask * x / (1 - p). */
        size_t nin = (size_t)n * l->in;
        float *dxin = zalloc(nin * sizeof *dxin);
        pv_lora_backward(n, l->in, l->out, la->xin[j], dy, l->r, l->scale, l->lora_a, l->lora_b,
                         la->xa[j], dxin, g->da, g->dlb, scratch);
        float keep_scale = (float)(1.0 / (1.0 - a->t->opts.lora_dropout));
        for (size_t i = 0; i < nin; i++)
            if (la->mask[j][i])
                dx[i] += dxin[i] * keep_scale;
        free(dxin);
    } else {
        pv_lora_backward(n, l->in, l->out, x, dy, l->r, l->scale, l->lora_a, l->lora_b, la->xa[j],
                         dx, g->da, g->dlb, scratch);
    }
    free(scratch);
}

void pv_train_seq_backward(pv_trainer *t, pv_seq_act *a, const double *coefs)
{
    const pv_llava_model *m = t->m;
    const pv_text_config *tc = &m->cfg.text;
    int n = a->n, D = tc->hidden_size, hd = tc->head_dim, H = tc->num_attention_heads;
    int KV = tc->num_key_value_heads, I = tc->intermediate_size, V = tc->vocab_size, L = t->L;
    float eps = (float)tc->rms_norm_eps;
    size_t nD = (size_t)n * D, nQ = (size_t)n * H * hd, nK = (size_t)n * KV * hd, nI = (size_t)n * I;

    float *dx = zalloc(nD * sizeof(float));      /* gradient of x_final, then of each x */
    float *dh = zalloc(nD * sizeof(float));      /* gradient of the residual stream */
    float *dmid = zalloc(nD * sizeof(float));
    float *dI1 = zalloc(nI * sizeof(float)), *dI2 = zalloc(nI * sizeof(float));
    float *dI3 = zalloc(nI * sizeof(float));
    float *dq = zalloc(nQ * sizeof(float)), *dattn = zalloc(nQ * sizeof(float));
    float *dk = zalloc(nK * sizeof(float)), *dv = zalloc(nK * sizeof(float));

    /* Logits: recomputed a block of rows at a time. */
    float *logits = zalloc((size_t)LOGIT_ROWS * V * sizeof(float));
    float *dlogits = zalloc((size_t)LOGIT_ROWS * V * sizeof(float));
    float coef[LOGIT_ROWS];
    lin_grad *glm = &t->lg[7 * L];
    for (int r0 = a->start - 1; r0 < n - 1; r0 += LOGIT_ROWS) {
        int rows = n - 1 - r0 < LOGIT_ROWS ? n - 1 - r0 : LOGIT_ROWS;
        pv_op_linear(&m->text.lm_head, a->x_final + (size_t)r0 * D, rows, logits, false, NULL);
        memset(dlogits, 0, (size_t)rows * V * sizeof(float));
        for (int k = 0; k < a->ntargets; k++) {
            for (int r = 0; r < rows; r++)
                coef[r] = (float)coefs[k];
            pv_logprob_backward(rows, V, logits, a->lse + r0, a->targets + (size_t)k * (n - 1) + r0,
                                coef, dlogits);
        }
        pv_linear_backward(rows, D, V, a->x_final + (size_t)r0 * D, dlogits, m->text.lm_head.w,
                           dx + (size_t)r0 * D, glm->dw, glm->db);
    }
    free(logits);
    free(dlogits);
    pv_rmsnorm_backward(n, D, eps, a->h_final, m->text.final_norm, dx, dh,
                        t->dnorm ? t->dnorm[2 * L] : NULL);

    for (int l = L - 1; l >= 0; l--) {
        const pv_llama_layer *ly = &m->text.layers[l];
        layer_act *la = &a->la[l];
        lin_grad *g = &t->lg[7 * l];
        /* MLP: h = h_mid + down(silu(gate(x2)) * up(x2)), x2 = norm(h_mid) */
        memset(dI1, 0, nI * sizeof(float));
        train_linear_backward(a, la, LIN_DOWN, &ly->down, &g[LIN_DOWN], la->act, dh, dI1);
        memset(dI2, 0, nI * sizeof(float));
        memset(dI3, 0, nI * sizeof(float));
        pv_swiglu_backward(nI, la->gate, la->up, dI1, dI2, dI3);
        memset(dx, 0, nD * sizeof(float));
        train_linear_backward(a, la, LIN_GATE, &ly->gate, &g[LIN_GATE], la->x2, dI2, dx);
        train_linear_backward(a, la, LIN_UP, &ly->up, &g[LIN_UP], la->x2, dI3, dx);
        memcpy(dmid, dh, nD * sizeof(float));
        pv_rmsnorm_backward(n, D, eps, la->h_mid, ly->mlp_norm, dx, dmid,
                            t->dnorm ? t->dnorm[2 * l + 1] : NULL);
        /* Attention: h_mid = h_in + o(attn(rope q, rope k, v)), q,k,v of x1 = norm(h_in) */
        memset(dattn, 0, nQ * sizeof(float));
        train_linear_backward(a, la, LIN_O, &ly->o, &g[LIN_O], la->attn, dmid, dattn);
        memset(dq, 0, nQ * sizeof(float));
        memset(dk, 0, nK * sizeof(float));
        memset(dv, 0, nK * sizeof(float));
        pv_attention_backward(n, H, KV, hd, 1.0f / sqrtf((float)hd), la->q, la->k, la->v, dattn,
                              dq, dk, dv);
        pv_rope_backward(n, H, hd, a->cos_tab, a->sin_tab, dq);
        pv_rope_backward(n, KV, hd, a->cos_tab, a->sin_tab, dk);
        memset(dx, 0, nD * sizeof(float));
        train_linear_backward(a, la, LIN_Q, &ly->q, &g[LIN_Q], la->x1, dq, dx);
        train_linear_backward(a, la, LIN_K, &ly->k, &g[LIN_K], la->x1, dk, dx);
        train_linear_backward(a, la, LIN_V, &ly->v, &g[LIN_V], la->x1, dv, dx);
        memcpy(dh, dmid, nD * sizeof(float));
        pv_rmsnorm_backward(n, D, eps, la->h_in, ly->attn_norm, dx, dh,
                            t->dnorm ? t->dnorm[2 * l] : NULL);
    }

    /* Embeddings: image rows to the projector's features, text rows to the table. */
    int row = 0;
    for (int i = 0; i < n; i++) {
        const float *d = dh + (size_t)i * D;
        float *dst = NULL;
        if (a->ids[i] == m->cfg.image_token_index)
            dst = a->img->dfeatures + (size_t)row++ * D;
        else if (t->dembed)
            dst = t->dembed + (size_t)a->ids[i] * D;
        if (dst)
            for (int c = 0; c < D; c++)
                dst[c] += d[c];
    }
    free(dx);
    free(dh);
    free(dmid);
    free(dI1);
    free(dI2);
    free(dI3);
    free(dq);
    free(dattn);
    free(dk);
    free(dv);
}

void pv_seq_act_free(pv_seq_act *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nbufs; i++)
        free(a->bufs[i]);
    free(a->bufs);
    free(a->la);
    free(a);
}
