/* config.json of a llava-hf model folder, resolved the way transformers does:
 * LlavaConfig fills an absent text_config with LlamaConfig() and an absent
 * vision_config with its own CLIP ViT-L/14-336 settings; a text_config without
 * "model_type" is taken as llama; every field a sub-config omits takes that
 * config class's default. */
#include "llava_config.h"

#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    const char *where; /* "", "text_config.", "vision_config." for messages */
    char *err;
    size_t errlen;
    int failed;
} ctx;

static void fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(ctx *c, const char *fmt, ...)
{
    if (c->failed++)
        return; /* keep the first message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

/* A present, non-null field. */
static const cJSON *field(const cJSON *obj, const char *key)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNull(v) ? NULL : v;
}

static int get_int(ctx *c, const cJSON *obj, const char *key, int def)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return def;
    /* token ids are sometimes lists (several EOS ids): the first one is the one used here */
    if (cJSON_IsArray(v) && strstr(key, "token_id") && v->child)
        v = v->child;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > INT_MAX) {
        fail(c, "%s%s must be an integer", c->where, key);
        return def;
    }
    return (int)v->valuedouble;
}

static double get_double(ctx *c, const cJSON *obj, const char *key, double def)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return def;
    if (!cJSON_IsNumber(v)) {
        fail(c, "%s%s must be a number", c->where, key);
        return def;
    }
    return v->valuedouble;
}

static bool get_bool(ctx *c, const cJSON *obj, const char *key, bool def)
{
    const cJSON *v = field(obj, key);
    if (!v)
        return def;
    if (!cJSON_IsBool(v)) {
        fail(c, "%s%s must be true or false", c->where, key);
        return def;
    }
    return cJSON_IsTrue(v);
}

static void get_string(ctx *c, const cJSON *obj, const char *key, const char *def, char *out, size_t outlen)
{
    const cJSON *v = field(obj, key);
    const char *s = def;
    if (v) {
        if (!cJSON_IsString(v))
            fail(c, "%s%s must be a string", c->where, key);
        else
            s = v->valuestring;
    }
    if (strlen(s) >= outlen)
        fail(c, "%s%s: \"%s\" is too long", c->where, key, s);
    snprintf(out, outlen, "%s", s);
}

static void positive(ctx *c, const char *key, int v)
{
    if (v <= 0)
        fail(c, "%s%s must be positive (is %d)", c->where, key, v);
}

/* Rotary settings: "rope_theta" (older) or "rope_parameters" {"rope_type", "rope_theta"}
 * (transformers 5); any scaling other than the plain default is refused. */
static double resolve_rope(ctx *c, const cJSON *t)
{
    double theta = get_double(c, t, "rope_theta", 10000.0);
    const char *names[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2; i++) {
        const cJSON *p = field(t, names[i]);
        if (!p)
            continue;
        if (!cJSON_IsObject(p)) {
            fail(c, "%s%s must be an object", c->where, names[i]);
            continue;
        }
        const cJSON *type = field(p, "rope_type");
        if (!type)
            type = field(p, "type");
        if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "default") != 0)) {
            fail(c, "%s%s: rope type %s%s%s is unsupported (only \"default\")", c->where, names[i],
                 cJSON_IsString(type) ? "\"" : "", cJSON_IsString(type) ? type->valuestring : "(not a string)",
                 cJSON_IsString(type) ? "\"" : "");
            continue;
        }
        if (!type && i == 1) {
            fail(c, "%srope_scaling without a rope_type is unsupported", c->where);
            continue;
        }
        ctx sub = *c;
        theta = get_double(&sub, p, "rope_theta", theta);
        if (sub.failed)
            fail(c, "%s%s.rope_theta must be a number", c->where, names[i]);
    }
    if (!(theta > 0))
        fail(c, "%srope_theta must be positive", c->where);
    return theta;
}

static void check_model_type(ctx *c, const cJSON *obj, const char *want)
{
    const cJSON *mt = field(obj, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, want) != 0))
        fail(c, "%smodel_type %s%s%s is unknown here (expected \"%s\")", c->where,
             cJSON_IsString(mt) ? "\"" : "", cJSON_IsString(mt) ? mt->valuestring : "(not a string)",
             cJSON_IsString(mt) ? "\"" : "", want);
}

/* LlamaConfig defaults. top_tie: the llava-level tie_word_embeddings. */
static void resolve_text(ctx *c, const cJSON *t, bool top_tie, pv_text_config *o)
{
    c->where = "text_config.";
    check_model_type(c, t, "llama");
    o->vocab_size = get_int(c, t, "vocab_size", 32000);
    o->hidden_size = get_int(c, t, "hidden_size", 4096);
    o->intermediate_size = get_int(c, t, "intermediate_size", 11008);
    o->num_hidden_layers = get_int(c, t, "num_hidden_layers", 32);
    o->num_attention_heads = get_int(c, t, "num_attention_heads", 32);
    o->num_key_value_heads = get_int(c, t, "num_key_value_heads", o->num_attention_heads);
    o->max_position_embeddings = get_int(c, t, "max_position_embeddings", 2048);
    o->rms_norm_eps = get_double(c, t, "rms_norm_eps", 1e-6);
    o->rope_theta = resolve_rope(c, t);
    o->attention_bias = get_bool(c, t, "attention_bias", false);
    o->mlp_bias = get_bool(c, t, "mlp_bias", false);
    /* LlavaConfig ties when either level says so (its "forward-pass" of the text
     * config's attribute); the model then ties lm_head to the embeddings. */
    o->tie_word_embeddings = get_bool(c, t, "tie_word_embeddings", false) || top_tie;
    o->bos_token_id = get_int(c, t, "bos_token_id", 1);
    o->eos_token_id = get_int(c, t, "eos_token_id", 2);
    o->pad_token_id = get_int(c, t, "pad_token_id", -1);
    get_string(c, t, "hidden_act", "silu", o->hidden_act, sizeof o->hidden_act);
    positive(c, "vocab_size", o->vocab_size);
    positive(c, "hidden_size", o->hidden_size);
    positive(c, "intermediate_size", o->intermediate_size);
    positive(c, "num_hidden_layers", o->num_hidden_layers);
    positive(c, "num_attention_heads", o->num_attention_heads);
    positive(c, "num_key_value_heads", o->num_key_value_heads);
    positive(c, "max_position_embeddings", o->max_position_embeddings);
    if (c->failed)
        return;
    /* LlamaConfig's validation refuses this even when head_dim is given */
    if (o->hidden_size % o->num_attention_heads != 0)
        fail(c, "text_config.hidden_size %d is not a multiple of num_attention_heads %d", o->hidden_size,
             o->num_attention_heads);
    o->head_dim = get_int(c, t, "head_dim", o->hidden_size / o->num_attention_heads);
    positive(c, "head_dim", o->head_dim);
    if (o->num_attention_heads % o->num_key_value_heads != 0)
        fail(c, "text_config.num_attention_heads %d is not a multiple of num_key_value_heads %d",
             o->num_attention_heads, o->num_key_value_heads);
    if (o->head_dim % 2 != 0)
        fail(c, "text_config.head_dim %d must be even for rotary embeddings", o->head_dim);
    if (!(o->rms_norm_eps > 0))
        fail(c, "text_config.rms_norm_eps must be positive");
}

/* CLIPVisionConfig defaults; `llava_default` selects LlavaConfig's own defaults
 * (used when vision_config is absent altogether). */
static void resolve_vision(ctx *c, const cJSON *v, bool llava_default, pv_vision_config *o)
{
    c->where = "vision_config.";
    check_model_type(c, v, "clip_vision_model");
    o->hidden_size = get_int(c, v, "hidden_size", llava_default ? 1024 : 768);
    o->intermediate_size = get_int(c, v, "intermediate_size", llava_default ? 4096 : 3072);
    o->num_hidden_layers = get_int(c, v, "num_hidden_layers", llava_default ? 24 : 12);
    o->num_attention_heads = get_int(c, v, "num_attention_heads", llava_default ? 16 : 12);
    o->num_channels = get_int(c, v, "num_channels", 3);
    o->image_size = get_int(c, v, "image_size", llava_default ? 336 : 224);
    o->patch_size = get_int(c, v, "patch_size", llava_default ? 14 : 32);
    o->projection_dim = get_int(c, v, "projection_dim", llava_default ? 768 : 512);
    o->layer_norm_eps = get_double(c, v, "layer_norm_eps", 1e-5);
    get_string(c, v, "hidden_act", "quick_gelu", o->hidden_act, sizeof o->hidden_act);
    positive(c, "hidden_size", o->hidden_size);
    positive(c, "intermediate_size", o->intermediate_size);
    positive(c, "num_hidden_layers", o->num_hidden_layers);
    positive(c, "num_attention_heads", o->num_attention_heads);
    positive(c, "num_channels", o->num_channels);
    positive(c, "image_size", o->image_size);
    positive(c, "patch_size", o->patch_size);
    if (c->failed)
        return;
    if (o->hidden_size % o->num_attention_heads != 0)
        fail(c, "vision_config.hidden_size %d is not a multiple of num_attention_heads %d", o->hidden_size,
             o->num_attention_heads);
    if (o->patch_size > o->image_size)
        fail(c, "vision_config.patch_size %d is larger than image_size %d", o->patch_size, o->image_size);
    if (!(o->layer_norm_eps > 0))
        fail(c, "vision_config.layer_norm_eps must be positive");
}

int pv_llava_config_parse(const char *json_text, pv_llava_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    ctx c = {.where = "", .err = err, .errlen = errlen};
    cJSON *root = cJSON_Parse(json_text);
    if (!cJSON_IsObject(root)) {
        fail(&c, "not a JSON object");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *mt = field(root, "model_type");
    if (!cJSON_IsString(mt))
        fail(&c, "no \"model_type\" (expected \"llava\")");
    else if (strcmp(mt->valuestring, "llava") != 0)
        fail(&c, "model_type \"%s\" is unknown here (expected \"llava\")", mt->valuestring);

    const cJSON *tc = field(root, "text_config"), *vc = field(root, "vision_config");
    if (tc && !cJSON_IsObject(tc))
        fail(&c, "text_config must be an object");
    if (vc && !cJSON_IsObject(vc))
        fail(&c, "vision_config must be an object");
    if (c.failed) {
        cJSON_Delete(root);
        return -1;
    }
    bool top_tie = get_bool(&c, root, "tie_word_embeddings", false);
    resolve_text(&c, tc, top_tie, &cfg->text);
    resolve_vision(&c, vc, vc == NULL, &cfg->vision);

    c.where = "";
    int image_token = get_int(&c, root, "image_token_index", 32000);
    if (field(root, "image_token_id")) { /* the newer attribute name */
        int id = get_int(&c, root, "image_token_id", image_token);
        if (field(root, "image_token_index") && id != image_token)
            fail(&c, "image_token_index %d and image_token_id %d disagree", image_token, id);
        image_token = id;
    }
    cfg->image_token_index = image_token;
    cfg->image_seq_length = get_int(&c, root, "image_seq_length", 576);
    get_string(&c, root, "projector_hidden_act", "gelu", cfg->projector_hidden_act,
               sizeof cfg->projector_hidden_act);
    cfg->multimodal_projector_bias = get_bool(&c, root, "multimodal_projector_bias", true);
    cfg->pad_token_id = get_int(&c, root, "pad_token_id", -1);

    const cJSON *fl = field(root, "vision_feature_layer");
    if (cJSON_IsArray(fl))
        fail(&c, "vision_feature_layer as a list of layers is unsupported");
    cfg->vision_feature_layer = get_int(&c, root, "vision_feature_layer", -2);
    int nhs = cfg->vision.num_hidden_layers + 1; /* hidden_states: embeddings + each layer */
    if (!c.failed && (cfg->vision_feature_layer >= nhs || cfg->vision_feature_layer < -nhs))
        fail(&c, "vision_feature_layer %d is out of range for %d vision layers", cfg->vision_feature_layer,
             cfg->vision.num_hidden_layers);
    char strategy[32];
    get_string(&c, root, "vision_feature_select_strategy", "default", strategy, sizeof strategy);
    if (strcmp(strategy, "full") == 0)
        cfg->vision_feature_full = true;
    else if (strcmp(strategy, "default") != 0)
        fail(&c, "vision_feature_select_strategy \"%s\" is unknown (\"default\" or \"full\")", strategy);
    cJSON_Delete(root);
    return c.failed ? -1 : 0;
}

int pv_llava_config_load(const char *path, pv_llava_config *cfg, char *err, size_t errlen)
{
    char *text = pv_read_file(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char msg[512];
    int rc = pv_llava_config_parse(text, cfg, msg, sizeof msg);
    free(text);
    if (rc)
        snprintf(err, errlen, "%s: %s", path, msg);
    return rc;
}

static int64_t linear_params(int64_t in, int64_t out, bool bias)
{
    return in * out + (bias ? out : 0);
}

int64_t pv_llava_config_param_count(const pv_llava_config *cfg)
{
    const pv_vision_config *v = &cfg->vision;
    const pv_text_config *t = &cfg->text;
    int64_t h = v->hidden_size, npatch = (int64_t)(v->image_size / v->patch_size) * (v->image_size / v->patch_size);
    /* CLIPVisionModel: embeddings, pre_layrnorm, every encoder layer, post_layernorm */
    int64_t vis = h * v->num_channels * v->patch_size * v->patch_size + h + (npatch + 1) * h + 2 * h;
    int64_t vlayer = 2 * 2 * h + 4 * linear_params(h, h, true) + linear_params(h, v->intermediate_size, true) +
                     linear_params(v->intermediate_size, h, true);
    vis += v->num_hidden_layers * vlayer + 2 * h;
    /* projector */
    int64_t H = t->hidden_size;
    int64_t proj = linear_params(h, H, cfg->multimodal_projector_bias) +
                   linear_params(H, H, cfg->multimodal_projector_bias);
    /* LLaMA */
    int64_t q = (int64_t)t->num_attention_heads * t->head_dim, kv = (int64_t)t->num_key_value_heads * t->head_dim;
    int64_t tlayer = linear_params(H, q, t->attention_bias) + 2 * linear_params(H, kv, t->attention_bias) +
                     linear_params(q, H, t->attention_bias) + 2 * linear_params(H, t->intermediate_size, t->mlp_bias) +
                     linear_params(t->intermediate_size, H, t->mlp_bias) + 2 * H;
    int64_t embed = (int64_t)t->vocab_size * H;
    int64_t text = embed + t->num_hidden_layers * tlayer + H + (t->tie_word_embeddings ? 0 : embed);
    return vis + proj + text;
}

int pv_llava_config_image_tokens(const pv_llava_config *cfg)
{
    int side = cfg->vision.image_size / cfg->vision.patch_size;
    return side * side + (cfg->vision_feature_full ? 1 : 0);
}

cJSON *pv_llava_config_to_json(const pv_llava_config *cfg)
{
    const pv_vision_config *v = &cfg->vision;
    const pv_text_config *t = &cfg->text;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_type", "llava");
    cJSON_AddNumberToObject(o, "image_token_index", cfg->image_token_index);
    cJSON_AddNumberToObject(o, "image_seq_length", cfg->image_seq_length);
    cJSON_AddStringToObject(o, "projector_hidden_act", cfg->projector_hidden_act);
    cJSON_AddBoolToObject(o, "multimodal_projector_bias", cfg->multimodal_projector_bias);
    cJSON_AddNumberToObject(o, "vision_feature_layer", cfg->vision_feature_layer);
    cJSON_AddStringToObject(o, "vision_feature_select_strategy", cfg->vision_feature_full ? "full" : "default");
    if (cfg->pad_token_id >= 0)
        cJSON_AddNumberToObject(o, "pad_token_id", cfg->pad_token_id);
    else
        cJSON_AddNullToObject(o, "pad_token_id");
    cJSON_AddBoolToObject(o, "tie_word_embeddings", t->tie_word_embeddings);

    cJSON *tc = cJSON_AddObjectToObject(o, "text_config");
    cJSON_AddStringToObject(tc, "model_type", "llama");
    cJSON_AddNumberToObject(tc, "vocab_size", t->vocab_size);
    cJSON_AddNumberToObject(tc, "hidden_size", t->hidden_size);
    cJSON_AddNumberToObject(tc, "intermediate_size", t->intermediate_size);
    cJSON_AddNumberToObject(tc, "num_hidden_layers", t->num_hidden_layers);
    cJSON_AddNumberToObject(tc, "num_attention_heads", t->num_attention_heads);
    cJSON_AddNumberToObject(tc, "num_key_value_heads", t->num_key_value_heads);
    cJSON_AddNumberToObject(tc, "head_dim", t->head_dim);
    cJSON_AddNumberToObject(tc, "max_position_embeddings", t->max_position_embeddings);
    cJSON_AddNumberToObject(tc, "rms_norm_eps", t->rms_norm_eps);
    cJSON *rope = cJSON_AddObjectToObject(tc, "rope_parameters");
    cJSON_AddStringToObject(rope, "rope_type", "default");
    cJSON_AddNumberToObject(rope, "rope_theta", t->rope_theta);
    cJSON_AddStringToObject(tc, "hidden_act", t->hidden_act);
    cJSON_AddBoolToObject(tc, "attention_bias", t->attention_bias);
    cJSON_AddBoolToObject(tc, "mlp_bias", t->mlp_bias);
    cJSON_AddBoolToObject(tc, "tie_word_embeddings", t->tie_word_embeddings);
    cJSON_AddNumberToObject(tc, "bos_token_id", t->bos_token_id);
    cJSON_AddNumberToObject(tc, "eos_token_id", t->eos_token_id);
    if (t->pad_token_id >= 0)
        cJSON_AddNumberToObject(tc, "pad_token_id", t->pad_token_id);
    else
        cJSON_AddNullToObject(tc, "pad_token_id");

    cJSON *vc = cJSON_AddObjectToObject(o, "vision_config");
    cJSON_AddStringToObject(vc, "model_type", "clip_vision_model");
    cJSON_AddNumberToObject(vc, "hidden_size", v->hidden_size);
    cJSON_AddNumberToObject(vc, "intermediate_size", v->intermediate_size);
    cJSON_AddNumberToObject(vc, "num_hidden_layers", v->num_hidden_layers);
    cJSON_AddNumberToObject(vc, "num_attention_heads", v->num_attention_heads);
    cJSON_AddNumberToObject(vc, "num_channels", v->num_channels);
    cJSON_AddNumberToObject(vc, "image_size", v->image_size);
    cJSON_AddNumberToObject(vc, "patch_size", v->patch_size);
    cJSON_AddNumberToObject(vc, "projection_dim", v->projection_dim);
    cJSON_AddNumberToObject(vc, "layer_norm_eps", v->layer_norm_eps);
    cJSON_AddStringToObject(vc, "hidden_act", v->hidden_act);

    cJSON_AddNumberToObject(o, "image_tokens", pv_llava_config_image_tokens(cfg));
    cJSON_AddNumberToObject(o, "num_parameters", (double)pv_llava_config_param_count(cfg));
    return o;
}
