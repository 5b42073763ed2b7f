/* Loading model folders: the fixture (older hub names, F16), the same weights
 * rewritten under the newer names (F32, zero-copy) and as shards, tied
 * embeddings, the fixture's PEFT adapter (F64) and LoRA merging against a
 * float64 product, and bad folders: missing files, missing, mis-shaped, foreign,
 * duplicated and unexplained tensors, and adapters that do not fit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "diag.h"
#include "llava_model.h"
#include "llava_storage.h"
#include "paths.h"
#include "safetensors.h"

static char tmp[] = "/tmp/pv-test-llava-load.XXXXXX";
static char fixture[1024];
static char *config_text; /* the fixture's config.json */

static void put(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
}

static const char *subdir(const char *name)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    mkdir(path, 0755);
    return path;
}

/* The fixture's weights as writer entries, named in the newer layout with the
 * "vision_model." infix (the one spelling the fixture itself does not use). */
typedef struct outs {
    pv_st_out *t;
    char **names;
    size_t n;
} outs;

static outs newer_layout(const pv_llava_model *m)
{
    size_t n;
    const pv_llava_param *p = pv_llava_params(m, &n);
    outs o = {calloc(n + 2, sizeof *o.t), calloc(n + 2, sizeof *o.names), n};
    for (size_t i = 0; i < n; i++) {
        char name[600];
        const char *rest = p[i].name + strlen("model.vision_tower.");
        if (strncmp(p[i].name, "model.vision_tower.", strlen("model.vision_tower.")) == 0)
            snprintf(name, sizeof name, "model.vision_tower.vision_model.%s", rest);
        else
            snprintf(name, sizeof name, "%s", p[i].name);
        o.names[i] = strdup(name);
        o.t[i] = (pv_st_out){.name = o.names[i], .data = p[i].data, .ndim = p[i].ndim};
        for (int d = 0; d < p[i].ndim; d++)
            o.t[i].shape[d] = p[i].shape[d];
    }
    return o;
}

static void free_outs(outs *o)
{
    for (size_t i = 0; i < o->n + 2; i++)
        free(o->names[i]);
    free(o->names);
    free(o->t);
}

static ssize_t find_out(const outs *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->t[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Writes a model folder: config (fixture's unless given) and the entries. */
static const char *model_dir(const char *name, const outs *o, const char *config)
{
    const char *d = subdir(name);
    static char dcopy[1200];
    snprintf(dcopy, sizeof dcopy, "%s", d);
    put(dcopy, "config.json", config ? config : config_text);
    char path[1300];
    snprintf(path, sizeof path, "%s/model.safetensors", dcopy);
    pv_st_write(path, o->t, o->n, NULL);
    return dcopy;
}

/* Loads `dir`, expecting failure with `needle` in the message. */
static void load_fails(const char *what, const char *dir, const char *needle)
{
    pv_llava_model m;
    char err[1024] = "", msg[1300];
    int rc = pv_llava_load(dir, &m, err, sizeof err);
    snprintf(msg, sizeof msg, "refused: %s (%s)", what, err);
    CHECK(rc == -1 && strstr(err, needle), msg);
    if (rc == 0)
        pv_llava_free(&m);
}

/* Every weight of b equals the same-named weight of a, bit for bit. */
static bool same_weights(const pv_llava_model *a, const pv_llava_model *b)
{
    size_t na, nb;
    const pv_llava_param *pa = pv_llava_params(a, &na), *pb = pv_llava_params(b, &nb);
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(pa[i].name, pb[i].name) != 0 || pa[i].numel != pb[i].numel ||
            memcmp(pa[i].data, pb[i].data, (size_t)pa[i].numel * sizeof(float)) != 0)
            return false;
    return true;
}

static void test_fixture(pv_llava_model *m)
{
    const pv_llava_config *c = &m->cfg;
    CHECK(m->vision.layers && m->text.layers && m->vision.layers[2].fc1.out == 128 && m->vision.layers[2].fc1.b &&
              m->text.layers[1].k.out == 32 && m->text.layers[1].k.in == 64 && !m->text.layers[1].k.b &&
              m->text.layers[0].o.in == 64 && m->text.layers[0].down.in == 176,
          "fixture linears have HF shapes, biases where the config says");
    CHECK(m->proj1.in == 64 && m->proj1.out == 64 && m->proj1.b && m->proj2.b && m->text.lm_head.out == 32064 &&
              m->text.lm_head.w != m->text.embed && m->vision.post_ln.w && m->vision.pre_ln.b,
          "projector with biases, untied lm_head, both CLIP layer norms");
    size_t n;
    const pv_llava_param *p = pv_llava_params(m, &n);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += p[i].numel;
    CHECK(n == 80 && total == pv_llava_config_param_count(c) && total == 4344448,
          "80 weights, 4344448 parameters, as the config counts");
    CHECK(pv_llava_linear_count(m) == 3 * 6 + 2 + 2 * 7 + 1, "35 linear layers registered");
    CHECK(pv_llava_find_linear(m, "language_model.model.layers.1.mlp.up_proj") == &m->text.layers[1].up &&
              pv_llava_find_linear(m, "model.language_model.layers.1.mlp.up_proj") == &m->text.layers[1].up &&
              pv_llava_find_linear(m, "vision_tower.vision_model.encoder.layers.0.self_attn.out_proj") ==
                  &m->vision.layers[0].o &&
              pv_llava_find_linear(m, "multi_modal_projector.linear_2") == &m->proj2 &&
              pv_llava_find_linear(m, "model.language_model.layers.2.mlp.up_proj") == NULL,
          "linear lookup by module path in either layout");

    /* each weight equals its file tensor converted independently */
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/model.safetensors", fixture);
    pv_st_file f;
    int diffs = 0, found = 0;
    if (pv_st_open(path, &f, err, sizeof err) == 0) {
        for (size_t i = 0; i < f.count; i++) {
            char canon[600];
            if (pv_llava_canonical_name(f.tensors[i].name, canon, sizeof canon) != 0)
                continue;
            for (size_t j = 0; j < n; j++)
                if (strcmp(p[j].name, canon) == 0) {
                    found++;
                    float *v = malloc((size_t)p[j].numel * sizeof *v);
                    pv_st_to_f32(&f.tensors[i], v, err, sizeof err);
                    diffs += memcmp(v, p[j].data, (size_t)p[j].numel * sizeof *v) != 0;
                    free(v);
                }
        }
        pv_st_close(&f);
    }
    CHECK(found == 80 && diffs == 0, "every weight equals its F16 tensor converted");
    CHECK(m->text.layers[0].q.r == 0 && !m->text.layers[0].q.lora_a, "no LoRA before an adapter is attached");
}

static void test_layouts(const pv_llava_model *ref)
{
    outs o = newer_layout(ref);
    char err[1024];
    pv_llava_model m;
    const char *d = model_dir("newer", &o, NULL);
    int rc = pv_llava_load(d, &m, err, sizeof err);
    CHECK(rc == 0, "newer layout (model.vision_tower.vision_model.*, model.language_model.*, lm_head) loads");
    if (rc)
        printf("# %s\n", err);
    if (rc == 0) {
        CHECK(same_weights(ref, &m), "newer layout, F32: the same weights bit for bit");
        const pv_llava_storage *s = m.storage;
        const pv_st_file *f = &s->set.files[0];
        const unsigned char *w = (const unsigned char *)m.text.layers[1].gate.w;
        CHECK(f->mapped && w >= f->base && w < f->base + f->size, "F32 weights are used in place from the mapping");
        pv_llava_free(&m);
    }

    /* the same split over two shards with an index */
    const char *sd = subdir("sharded");
    put(sd, "config.json", config_text);
    size_t half = o.n / 2;
    char path[1300];
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", sd);
    pv_st_write(path, o.t, half, NULL);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", sd);
    pv_st_write(path, o.t + half, o.n - half, NULL);
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    for (size_t i = 0; i < o.n; i++)
        cJSON_AddStringToObject(map, o.t[i].name,
                                i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
    char *itext = cJSON_Print(index);
    put(sd, "model.safetensors.index.json", itext);
    free(itext);
    cJSON_Delete(index);
    rc = pv_llava_load(sd, &m, err, sizeof err);
    CHECK(rc == 0 && same_weights(ref, &m), "two shards through model.safetensors.index.json");
    if (rc == 0)
        pv_llava_free(&m);

    /* tied embeddings: no lm_head in the file, lm_head shares embed_tokens */
    cJSON *cfg = cJSON_Parse(config_text);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cfg, "text_config"), "tie_word_embeddings", cJSON_CreateTrue());
    char *tied_cfg = cJSON_Print(cfg);
    outs t = newer_layout(ref);
    ssize_t lm = find_out(&t, "lm_head.weight");
    t.t[lm] = t.t[--t.n];
    d = model_dir("tied", &t, tied_cfg);
    rc = pv_llava_load(d, &m, err, sizeof err);
    CHECK(rc == 0 && m.text.lm_head.w == m.text.embed && m.text.lm_head.in == 64 && m.text.lm_head.out == 32064,
          "tie_word_embeddings: lm_head is embed_tokens");
    if (rc == 0) {
        size_t n;
        pv_llava_params(&m, &n);
        CHECK(n == 79 && pv_llava_config_param_count(&m.cfg) == 4344448 - 32064 * 64,
              "tied: 79 weights, lm_head not counted twice");
        pv_llava_free(&m);
    }
    t.n++;
    free_outs(&t);
    free(tied_cfg);

    /* bad folders */
    load_fails("missing config.json", "/nonexistent-model-dir", "/nonexistent-model-dir/config.json: No such file");
    d = subdir("noweights");
    put(d, "config.json", config_text);
    load_fails("no weights", d, "no model.safetensors");

    outs b = newer_layout(ref);
    ssize_t up = find_out(&b, "model.language_model.layers.1.mlp.up_proj.weight");
    pv_st_out saved = b.t[up];
    b.t[up] = b.t[--b.n];
    load_fails("missing tensor", model_dir("missing", &b, NULL),
               "missing tensor \"model.language_model.layers.1.mlp.up_proj.weight\" (expected shape [176, 64])");
    b.t[b.n++] = b.t[up];
    b.t[up] = saved;
    b.t[up].shape[0] = 64;
    b.t[up].shape[1] = 176;
    load_fails("mis-shaped tensor", model_dir("misshaped", &b, NULL),
               "tensor \"model.language_model.layers.1.mlp.up_proj.weight\" has shape [64, 176], expected [176, 64]");
    b.t[up] = saved;

    b.names[b.n] = strdup("language_model.model.layers.1.mlp.up_proj.weight");
    b.t[b.n] = saved;
    b.t[b.n].name = b.names[b.n];
    b.n++;
    load_fails("a weight under both layouts", model_dir("both", &b, NULL), "same weight under both naming layouts");
    b.t[b.n - 1].name = "vision_tower.vision_model.encoder.layers.3.mlp.fc1.weight";
    load_fails("a layer the config does not have", model_dir("extra", &b, NULL),
               "\"vision_tower.vision_model.encoder.layers.3.mlp.fc1.weight\" is not part of the model config.json");
    b.t[b.n - 1].name = "vision_tower.vision_model.embeddings.position_ids";
    pv_llava_model ok;
    CHECK(pv_llava_load(model_dir("buffers", &b, NULL), &ok, err, sizeof err) == 0,
          "the position_ids buffer older CLIP checkpoints saved is ignored");
    pv_llava_free(&ok);
    b.t[b.n - 1].name = "text_projection.weight";
    load_fails("a tensor of another model", model_dir("foreign", &b, NULL), "\"text_projection.weight\" is not part of a LLaVA model");
    b.n--;

    char *other = strdup(config_text);
    char *mt = strstr(other, "\"model_type\": \"llava\"");
    if (mt)
        memcpy(mt, "\"model_type\": \"lavla\"", 21);
    load_fails("unknown model_type", model_dir("modeltype", &b, other), "model_type \"lavla\" is unknown");
    free(other);

    /* the fixture's weights cut short by one byte */
    const char *cut = subdir("truncated");
    put(cut, "config.json", config_text);
    snprintf(path, sizeof path, "%s/model.safetensors", fixture);
    struct stat fst;
    stat(path, &fst);
    char *whole = pv_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", cut);
    FILE *cf = fopen(path, "wb");
    fwrite(whole, 1, (size_t)fst.st_size - 1, cf);
    fclose(cf);
    free(whole);
    load_fails("truncated model.safetensors", cut, "model.safetensors: tensor \"vision_tower.pre_layrnorm.weight\": data_offsets [8688768, 8688896] outside the data area of 8688895 bytes");

    /* a weight stored as integers */
    const char *sd2 = subdir("int");
    put(sd2, "config.json", config_text);
    snprintf(path, sizeof path, "%s/model.safetensors", sd2);
    pv_st_write(path, b.t, b.n, NULL);
    /* rewrite the dtype of one F32 tensor to I32 in place: same size, same layout */
    size_t len;
    char *bytes = pv_read_file(path, NULL);
    struct stat st;
    stat(path, &st);
    len = (size_t)st.st_size;
    char *hit = strstr(bytes + 8, "\"model.language_model.norm.weight\":{\"dtype\":\"F32\"");
    if (hit)
        memcpy(strstr(hit, "F32"), "I32", 3);
    FILE *fp = fopen(path, "wb");
    fwrite(bytes, 1, len, fp);
    fclose(fp);
    free(bytes);
    load_fails("a weight of dtype I32", sd2, "\"model.language_model.norm.weight\": dtype I32 is not supported");
    free_outs(&b);
    cJSON_Delete(cfg);
    free_outs(&o);
}

/* An adapter folder with LoRA on the given modules (newer layout), rank r. */
static const char *adapter_dir(const char *name, const char *config, const char *const *modules, size_t nmod,
                               int r_a, int r_b, const pv_llava_model *m, bool drop_last_b)
{
    const char *d = subdir(name);
    static char dcopy[1200];
    snprintf(dcopy, sizeof dcopy, "%s", d);
    put(dcopy, "adapter_config.json", config);
    pv_st_out *t = calloc(2 * nmod, sizeof *t);
    char **names = calloc(2 * nmod, sizeof *names);
    float *zeros = calloc(1 << 16, sizeof *zeros);
    size_t n = 0;
    for (size_t i = 0; i < nmod; i++) {
        const pv_linear *l = pv_llava_find_linear(m, modules[i]);
        int in = l ? l->in : 64, out = l ? l->out : 64;
        names[n] = malloc(700);
        snprintf(names[n], 700, "base_model.model.%s.lora_A.weight", modules[i]);
        t[n] = (pv_st_out){.name = names[n], .data = zeros, .ndim = 2, .shape = {r_a, in}};
        n++;
        if (drop_last_b && i == nmod - 1)
            continue;
        names[n] = malloc(700);
        snprintf(names[n], 700, "base_model.model.%s.lora_B.weight", modules[i]);
        t[n] = (pv_st_out){.name = names[n], .data = zeros, .ndim = 2, .shape = {out, r_b}};
        n++;
    }
    char path[1300];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dcopy);
    pv_st_write(path, t, n, NULL);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(t);
    free(zeros);
    return dcopy;
}

static void adapter_fails(const char *what, const char *dir, const char *needle)
{
    pv_llava_model m;
    char err[1024] = "", msg[1300];
    if (pv_llava_load(fixture, &m, err, sizeof err) != 0) {
        CHECK(0, "fixture loads");
        return;
    }
    int rc = pv_llava_load_adapter(&m, dir, err, sizeof err);
    snprintf(msg, sizeof msg, "refused: %s (%s)", what, err);
    CHECK(rc == -1 && strstr(err, needle), msg);
    pv_llava_free(&m);
}

static void test_adapter(void)
{
    pv_llava_model m;
    char err[1024], path[1200];
    if (pv_llava_load(fixture, &m, err, sizeof err) != 0) {
        CHECK(0, "fixture loads");
        return;
    }
    snprintf(path, sizeof path, "%s/adapter", fixture);
    int rc = pv_llava_load_adapter(&m, path, err, sizeof err);
    CHECK(rc == 0, "fixture adapter attaches");
    if (rc)
        printf("# %s\n", err);
    int adapted = 0, right = 0;
    for (size_t i = 0; i < pv_llava_linear_count(&m); i++) {
        const char *name;
        pv_linear *l = pv_llava_linear_at(&m, i, &name);
        if (l->r) {
            adapted++;
            right += l->r == 8 && l->scale == 2.0f && strstr(name, "model.language_model.layers.") == name;
        }
    }
    CHECK(adapted == 14 && right == 14, "14 language-model linears adapted, r 8, scale alpha/r = 2");

    /* values: the F64 tensors rounded to float */
    snprintf(path, sizeof path, "%s/adapter/adapter_model.safetensors", fixture);
    pv_st_file f;
    bool same = false;
    if (pv_st_open(path, &f, err, sizeof err) == 0) {
        const pv_st_tensor *a = pv_st_find(&f, "base_model.model.model.language_model.layers.1.mlp.down_proj.lora_A.weight");
        const pv_st_tensor *b = pv_st_find(&f, "base_model.model.model.language_model.layers.1.mlp.down_proj.lora_B.weight");
        const pv_linear *l = &m.text.layers[1].down;
        same = a && b && a->dtype == PV_ST_F64 && l->lora_a && l->lora_b;
        for (int64_t i = 0; same && i < a->numel; i++)
            same = l->lora_a[i] == (float)((const double *)(const void *)a->data)[i];
        for (int64_t i = 0; same && i < b->numel; i++)
            same = l->lora_b[i] == (float)((const double *)(const void *)b->data)[i];
        pv_st_close(&f);
    }
    CHECK(same, "lora_A/lora_B of layer 1 down_proj: the F64 values rounded to float");
    snprintf(path, sizeof path, "%s/adapter", fixture);
    CHECK(pv_llava_load_adapter(&m, path, err, sizeof err) == -1 && strstr(err, "already has an adapter"),
          "a second adapter is refused");

    /* merge: W + scale B A against a float64 product */
    const pv_linear *q = &m.text.layers[0].q;
    int in = q->in, out = q->out, r = q->r;
    double *want = malloc((size_t)in * out * sizeof *want);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            double s = 0;
            for (int k = 0; k < r; k++)
                s += (double)q->lora_b[o * r + k] * q->lora_a[k * in + i];
            want[o * in + i] = q->w[o * in + i] + (double)q->scale * s;
        }
    const float *w = q->w;
    rc = pv_llava_merge_lora(&m, err, sizeof err);
    double worst = 0, wmax = 0;
    for (int j = 0; j < in * out; j++) {
        worst = fmax(worst, fabs(w[j] - want[j]));
        wmax = fmax(wmax, fabs(want[j]));
    }
    printf("# merge: worst abs error %.3g (largest |W| %.3g)\n", worst, wmax);
    /* a few float roundings of values up to |W|: 1e-6 relative to the largest entry */
    CHECK(rc == 0 && worst <= 1e-6 * wmax, "merged q_proj equals W + 2 B A (float64 reference)");
    CHECK(q->r == 0 && !q->lora_a && m.text.layers[1].down.r == 0, "merge detaches every adapter");
    free(want);

    /* adapters that do not fit */
    const char *good_cfg = "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":[\"q_proj\",\"v_proj\"]}";
    const char *qv[] = {"model.language_model.layers.0.self_attn.q_proj", "language_model.model.layers.1.self_attn.v_proj"};
    const char *d = adapter_dir("qv", good_cfg, qv, 2, 4, 4, &m, false);
    pv_llava_free(&m);
    if (pv_llava_load(fixture, &m, err, sizeof err) == 0) {
        rc = pv_llava_load_adapter(&m, d, err, sizeof err);
        CHECK(rc == 0 && m.text.layers[0].q.r == 4 && m.text.layers[1].v.r == 4 && m.text.layers[0].v.r == 0 &&
                  m.text.layers[0].q.scale == 2.0f,
              "list target_modules, both module layouts, r 4");
        pv_llava_free(&m);
    }
    pv_llava_load(fixture, &m, err, sizeof err);
    const char *rs_cfg = "{\"r\":4,\"lora_alpha\":8,\"use_rslora\":true,\"target_modules\":\".*q_proj\"}";
    d = adapter_dir("rslora", rs_cfg, qv, 1, 4, 4, &m, false);
    rc = pv_llava_load_adapter(&m, d, err, sizeof err);
    CHECK(rc == 0 && m.text.layers[0].q.scale == 4.0f, "use_rslora: scale alpha/sqrt(r) = 4");

    pv_llava_free(&m);
    pv_llava_load(fixture, &m, err, sizeof err);
    d = adapter_dir("allinear", "{\"r\":4,\"lora_alpha\":4,\"target_modules\":\"all-linear\"}", qv, 2, 4, 4, &m,
                    false);
    CHECK(pv_llava_load_adapter(&m, d, err, sizeof err) == 0 && m.text.layers[1].v.scale == 1.0f,
          "target_modules \"all-linear\"");
    pv_llava_free(&m);
    pv_llava_load(fixture, &m, err, sizeof err);
    /* \d is Python's, not POSIX's: the target check is skipped, the tensors decide */
    d = adapter_dir("pyregex", "{\"r\":4,\"lora_alpha\":4,\"target_modules\":\".*layers\\\\.\\\\d+\\\\.self_attn\\\\.q_proj\"}",
                    qv, 1, 4, 4, &m, false);
    CHECK(pv_llava_load_adapter(&m, d, err, sizeof err) == 0 && m.text.layers[0].q.r == 4,
          "a regex with Python-only escapes is not held against the adapter");

    const char *ghost[] = {"model.language_model.layers.7.self_attn.q_proj"};
    d = adapter_dir("ghost", good_cfg, ghost, 1, 4, 4, &m, false);
    const char *ghost_dir = strdup(d);
    d = adapter_dir("rank", good_cfg, qv, 2, 4, 2, &m, false);
    char *rank_dir = strdup(d);
    d = adapter_dir("half", good_cfg, qv, 2, 4, 4, &m, true);
    char *half_dir = strdup(d);
    const char *k_only[] = {"model.language_model.layers.0.self_attn.k_proj"};
    d = adapter_dir("untargeted", good_cfg, k_only, 1, 4, 4, &m, false);
    char *untargeted_dir = strdup(d);
    d = adapter_dir("visiononly", "{\"r\":4,\"lora_alpha\":8,\"target_modules\":\".*vision_tower.*\\\\.(q_proj|v_proj)\"}",
                    qv, 2, 4, 4, &m, false);
    char *visiononly_dir = strdup(d);
    d = adapter_dir("dora", "{\"r\":4,\"lora_alpha\":8,\"use_dora\":true}", qv, 2, 4, 4, &m, false);
    char *dora_dir = strdup(d);
    d = adapter_dir("save", "{\"r\":4,\"lora_alpha\":8,\"modules_to_save\":[\"multi_modal_projector\"]}", qv, 2, 4, 4,
                    &m, false);
    char *save_dir = strdup(d);
    pv_llava_free(&m);

    adapter_fails("LoRA for a module the model lacks", ghost_dir,
                  "no linear layer \"model.language_model.layers.7.self_attn.q_proj\"");
    adapter_fails("lora_B of the wrong rank", rank_dir, "should have shape [32, 4] (r = 4, layer 64 -> 32)");
    adapter_fails("lora_A without lora_B", half_dir, "has lora_A but not lora_B");
    adapter_fails("a module outside target_modules", untargeted_dir, "not selected by target_modules");
    adapter_fails("a regex that selects other modules", visiononly_dir, "not selected by target_modules");
    free(visiononly_dir);
    adapter_fails("DoRA", dora_dir, "DoRA (use_dora) is unsupported");
    adapter_fails("modules_to_save", save_dir, "modules_to_save is unsupported");
    adapter_fails("missing adapter folder", "/nonexistent-adapter", "/nonexistent-adapter/adapter_config.json: No such file");
    free((void *)ghost_dir);
    free(rank_dir);
    free(half_dir);
    free(untargeted_dir);
    free(dora_dir);
    free(save_dir);
}

int main(void)
{
    pv_init("test_llava_load");
    const char *shared = getenv("PV_SHARED");
    if (!shared)
        shared = "../shared";
    snprintf(fixture, sizeof fixture, "%s/fixtures/tiny-llava", shared);
    struct stat st;
    if (stat(fixture, &st) != 0)
        return check_skip_all("../shared fixtures absent");
    if (!mkdtemp(tmp))
        return 1;
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", fixture);
    config_text = pv_read_file(path, NULL);
    pv_llava_model m;
    char err[1024];
    int rc = pv_llava_load(fixture, &m, err, sizeof err);
    CHECK(rc == 0, "fixture model folder loads");
    if (rc) {
        printf("# %s\n", err);
        return check_done();
    }
    test_fixture(&m);
    test_layouts(&m);
    pv_llava_free(&m);
    test_adapter();
    free(config_text);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return 1;
    return check_done();
}
