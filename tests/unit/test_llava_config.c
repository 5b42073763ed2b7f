/* config.json resolution: the published llava-1.5-7b-hf config (7,063,427,072
 * parameters as transformers 5.17 counts them, per ../shared/data/README.md), the
 * fixture's config (shapes of ../shared/fixtures/README.md; its parameter count
 * equals the elements stored in its model.safetensors), transformers' defaults
 * for absent fields, both rope spellings, and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "llava_config.h"
#include "safetensors.h"

static void refused(const char *what, const char *json, const char *needle)
{
    pv_llava_config c;
    char err[512] = "", msg[800];
    int rc = pv_llava_config_parse(json, &c, err, sizeof err);
    snprintf(msg, sizeof msg, "refused: %s (%s)", what, err);
    CHECK(rc == -1 && strstr(err, needle), msg);
}

static void test_defaults(void)
{
    pv_llava_config c;
    char err[512];
    /* Only model_type: LlavaConfig() builds LlamaConfig() and its own CLIP defaults. */
    int rc = pv_llava_config_parse("{\"model_type\":\"llava\"}", &c, err, sizeof err);
    CHECK(rc == 0, "a config with only model_type resolves");
    const pv_text_config *t = &c.text;
    CHECK(t->vocab_size == 32000 && t->hidden_size == 4096 && t->intermediate_size == 11008 &&
              t->num_hidden_layers == 32 && t->num_attention_heads == 32 && t->num_key_value_heads == 32 &&
              t->head_dim == 128 && t->max_position_embeddings == 2048,
          "LlamaConfig sizes");
    CHECK(t->rms_norm_eps == 1e-6 && t->rope_theta == 10000 && !t->attention_bias && !t->mlp_bias &&
              !t->tie_word_embeddings && t->bos_token_id == 1 && t->eos_token_id == 2 && t->pad_token_id == -1 &&
              strcmp(t->hidden_act, "silu") == 0,
          "LlamaConfig scalars");
    const pv_vision_config *v = &c.vision;
    CHECK(v->hidden_size == 1024 && v->intermediate_size == 4096 && v->num_hidden_layers == 24 &&
              v->num_attention_heads == 16 && v->image_size == 336 && v->patch_size == 14 && v->projection_dim == 768,
          "LlavaConfig's own vision defaults when vision_config is absent");
    CHECK(c.image_token_index == 32000 && c.image_seq_length == 576 && c.vision_feature_layer == -2 &&
              !c.vision_feature_full && strcmp(c.projector_hidden_act, "gelu") == 0 && c.multimodal_projector_bias,
          "LlavaConfig scalars");
    CHECK(pv_llava_config_image_tokens(&c) == 576, "576 image tokens");

    /* An empty vision_config: CLIPVisionConfig() defaults, not LlavaConfig's. */
    rc = pv_llava_config_parse("{\"model_type\":\"llava\",\"vision_config\":{},\"text_config\":{\"hidden_size\":64,"
                               "\"num_attention_heads\":4}}",
                               &c, err, sizeof err);
    v = &c.vision;
    CHECK(rc == 0 && v->hidden_size == 768 && v->intermediate_size == 3072 && v->num_hidden_layers == 12 &&
              v->num_attention_heads == 12 && v->num_channels == 3 && v->image_size == 224 && v->patch_size == 32 &&
              v->projection_dim == 512 && v->layer_norm_eps == 1e-5 && strcmp(v->hidden_act, "quick_gelu") == 0,
          "CLIPVisionConfig defaults");
    CHECK(c.text.head_dim == 16 && c.text.num_key_value_heads == 4, "head_dim = hidden / heads; kv heads = heads");
    CHECK(pv_llava_config_image_tokens(&c) == 49, "(224/32)^2 = 49 image tokens");

    /* text_config without model_type is llama; rope_theta the older way; full strategy */
    rc = pv_llava_config_parse("{\"model_type\":\"llava\",\"text_config\":{\"rope_theta\":500000.0,"
                               "\"rope_scaling\":null,\"eos_token_id\":[7,8]},"
                               "\"vision_feature_select_strategy\":\"full\",\"image_token_id\":5}",
                               &c, err, sizeof err);
    CHECK(rc == 0 && c.text.rope_theta == 500000 && c.text.eos_token_id == 7 && c.vision_feature_full &&
              c.image_token_index == 5 && pv_llava_config_image_tokens(&c) == 577,
          "rope_theta, eos list, \"full\" strategy (+CLS), image_token_id");
    rc = pv_llava_config_parse("{\"model_type\":\"llava\",\"text_config\":{\"rope_parameters\":"
                               "{\"rope_type\":\"default\",\"rope_theta\":20000}}}",
                               &c, err, sizeof err);
    CHECK(rc == 0 && c.text.rope_theta == 20000, "rope_parameters {rope_type default, rope_theta}");
    rc = pv_llava_config_parse("{\"model_type\":\"llava\",\"tie_word_embeddings\":true}", &c, err, sizeof err);
    CHECK(rc == 0 && c.text.tie_word_embeddings, "top-level tie_word_embeddings applies when text_config is silent");
    rc = pv_llava_config_parse("{\"model_type\":\"llava\",\"tie_word_embeddings\":false,"
                               "\"text_config\":{\"tie_word_embeddings\":true}}",
                               &c, err, sizeof err);
    CHECK(rc == 0 && c.text.tie_word_embeddings, "text_config's tie_word_embeddings true ties (LlavaConfig forwards it)");
    rc = pv_llava_config_parse("{\"model_type\":\"llava\",\"tie_word_embeddings\":true,"
                               "\"text_config\":{\"tie_word_embeddings\":false}}",
                               &c, err, sizeof err);
    CHECK(rc == 0 && c.text.tie_word_embeddings, "top-level true ties whatever text_config says");

    refused("unknown top-level model_type", "{\"model_type\":\"llava_next\"}", "model_type \"llava_next\" is unknown");
    refused("no model_type", "{}", "no \"model_type\"");
    refused("text model_type other than llama", "{\"model_type\":\"llava\",\"text_config\":{\"model_type\":\"mistral\"}}",
            "text_config.model_type \"mistral\" is unknown");
    refused("vision model_type other than CLIP",
            "{\"model_type\":\"llava\",\"vision_config\":{\"model_type\":\"siglip_vision_model\"}}",
            "vision_config.model_type");
    refused("rope_type linear",
            "{\"model_type\":\"llava\",\"text_config\":{\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2}}}",
            "unsupported");
    refused("rope_scaling dynamic",
            "{\"model_type\":\"llava\",\"text_config\":{\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2}}}",
            "unsupported");
    refused("string where a number belongs", "{\"model_type\":\"llava\",\"text_config\":{\"hidden_size\":\"64\"}}",
            "text_config.hidden_size must be an integer");
    refused("fractional layer count", "{\"model_type\":\"llava\",\"vision_config\":{\"num_hidden_layers\":2.5}}",
            "vision_config.num_hidden_layers must be an integer");
    refused("zero heads", "{\"model_type\":\"llava\",\"text_config\":{\"num_attention_heads\":0}}", "positive");
    refused("hidden not a multiple of heads (even with head_dim)",
            "{\"model_type\":\"llava\",\"text_config\":{\"hidden_size\":100,\"num_attention_heads\":8,\"head_dim\":16}}",
            "not a multiple of num_attention_heads");
    refused("heads not a multiple of kv heads",
            "{\"model_type\":\"llava\",\"text_config\":{\"num_attention_heads\":32,\"num_key_value_heads\":5}}",
            "not a multiple");
    refused("unknown feature strategy", "{\"model_type\":\"llava\",\"vision_feature_select_strategy\":\"cls\"}",
            "vision_feature_select_strategy");
    refused("feature layer out of range", "{\"model_type\":\"llava\",\"vision_feature_layer\":-26}", "out of range");
    refused("feature layer list", "{\"model_type\":\"llava\",\"vision_feature_layer\":[-2,-5]}", "unsupported");
    refused("not JSON", "{\"model_type\":", "not a JSON object");
    refused("text_config not an object", "{\"model_type\":\"llava\",\"text_config\":[]}", "must be an object");
}

static void test_published(const char *shared)
{
    char path[1100], err[1300];
    pv_llava_config c;
    snprintf(path, sizeof path, "%s/data/llava-1.5-7b-hf.config.json", shared);
    int rc = pv_llava_config_load(path, &c, err, sizeof err);
    CHECK(rc == 0, "llava-1.5-7b-hf config.json resolves");
    if (rc)
        printf("# %s\n", err);
    int64_t n = pv_llava_config_param_count(&c);
    if (n != 7063427072)
        printf("# counted %lld\n", (long long)n);
    CHECK(n == 7063427072, "llava-1.5-7b-hf: 7,063,427,072 parameters");
    CHECK(c.text.vocab_size == 32064 && c.text.hidden_size == 4096 && c.text.num_key_value_heads == 32 &&
              c.text.max_position_embeddings == 4096 && c.text.rms_norm_eps == 1e-5 && c.text.head_dim == 128,
          "its text fields: given ones kept, the rest LlamaConfig defaults");
    CHECK(c.vision.hidden_size == 1024 && c.vision.num_hidden_layers == 24 && c.vision.patch_size == 14 &&
              c.vision.image_size == 336 && c.vision.num_channels == 3 && strcmp(c.vision.hidden_act, "quick_gelu") == 0 &&
              pv_llava_config_image_tokens(&c) == 576,
          "its vision fields");
    cJSON *j = pv_llava_config_to_json(&c);
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(j, "num_parameters");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(j, "vision_config");
    CHECK(cJSON_IsNumber(np) && np->valuedouble == 7063427072.0 &&
              cJSON_GetObjectItemCaseSensitive(tc, "vocab_size")->valueint == 32064 &&
              cJSON_GetObjectItemCaseSensitive(vc, "image_size")->valueint == 336,
          "to_json: nested text/vision configs and num_parameters");
    char *txt = cJSON_PrintUnformatted(j);
    pv_llava_config back;
    /* the JSON is itself a config that resolves to the same model */
    CHECK(pv_llava_config_parse(txt, &back, err, sizeof err) == 0 && pv_llava_config_param_count(&back) == n &&
              back.text.rms_norm_eps == 1e-5 && back.vision.projection_dim == 768,
          "to_json output parses back to the same configuration");
    free(txt);
    cJSON_Delete(j);

    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/config.json", shared);
    rc = pv_llava_config_load(path, &c, err, sizeof err);
    CHECK(rc == 0, "fixture config.json resolves");
    const pv_vision_config *v = &c.vision;
    const pv_text_config *t = &c.text;
    CHECK(v->num_hidden_layers == 3 && v->hidden_size == 64 && v->num_attention_heads == 4 && v->image_size == 56 &&
              v->patch_size == 14 && strcmp(v->hidden_act, "quick_gelu") == 0 && pv_llava_config_image_tokens(&c) == 16,
          "fixture vision: 3 layers, hidden 64, 4 heads, image 56, patch 14, 16 image tokens");
    CHECK(t->num_hidden_layers == 2 && t->hidden_size == 64 && t->num_attention_heads == 4 &&
              t->num_key_value_heads == 2 && t->head_dim == 16 && t->intermediate_size == 176 &&
              t->rms_norm_eps == 1e-6 && t->rope_theta == 10000 && t->vocab_size == 32064,
          "fixture text: 2 layers, hidden 64, 4/2 heads, head_dim 16, intermediate 176, rope 10000");
    CHECK(c.vision_feature_layer == -2 && !c.vision_feature_full, "fixture: feature layer -2, strategy default");
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/model.safetensors", shared);
    pv_st_file f;
    int64_t stored = -1;
    if (pv_st_open(path, &f, err, sizeof err) == 0) {
        stored = 0;
        for (size_t i = 0; i < f.count; i++)
            stored += f.tensors[i].numel;
        pv_st_close(&f);
    }
    n = pv_llava_config_param_count(&c);
    printf("# fixture: counted %lld, stored %lld\n", (long long)n, (long long)stored);
    CHECK(n == stored, "fixture parameter count = elements stored in its model.safetensors");

    CHECK(pv_llava_config_load("/nonexistent/config.json", &c, err, sizeof err) == -1 &&
              strstr(err, "/nonexistent/config.json: No such file"),
          "missing config.json: path and reason");
}

int main(void)
{
    test_defaults();
    const char *shared = getenv("PV_SHARED");
    if (!shared)
        shared = "../shared";
    struct stat st;
    if (stat(shared, &st) == 0)
        test_published(shared);
    else
        printf("# %s absent: published and fixture configs skipped\n", shared);
    return check_done();
}
