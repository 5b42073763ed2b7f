/* LLaVA-1.5 configuration (config.json of a llava-hf model folder).
 *
 * Every field transformers would fill with a default for its model_type
 * (llava, llama, clip_vision_model) is filled the same way here, so that the
 * published llava-1.5-7b-hf config.json, which omits most fields, resolves to
 * the 7,063,427,072-parameter model. Both "rope_theta" and the newer
 * "rope_parameters": {"rope_theta": ...} spellings are read; any rope_type other
 * than "default" (or a rope_scaling) is refused as unsupported.
 * Implemented in lib/llava_config.c. */
#ifndef PV_LLAVA_CONFIG_H
#define PV_LLAVA_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pv_vision_config {
    int hidden_size;        /* 768 default */
    int intermediate_size;  /* 3072 */
    int num_hidden_layers;  /* 12 */
    int num_attention_heads;/* 12 */
    int num_channels;       /* 3 */
    int image_size;         /* 224 */
    int patch_size;         /* 32 */
    int projection_dim;     /* 512 (not used by LLaVA; kept for --describe) */
    double layer_norm_eps;  /* 1e-5 */
    char hidden_act[32];    /* "quick_gelu" */
} pv_vision_config;

typedef struct pv_text_config {
    int vocab_size;             /* 32000 */
    int hidden_size;            /* 4096 */
    int intermediate_size;      /* 11008 */
    int num_hidden_layers;      /* 32 */
    int num_attention_heads;    /* 32 */
    int num_key_value_heads;    /* = num_attention_heads when absent */
    int head_dim;               /* = hidden_size / num_attention_heads when absent */
    int max_position_embeddings;/* 2048 */
    double rms_norm_eps;        /* 1e-6 */
    double rope_theta;          /* 10000 */
    bool attention_bias, mlp_bias;
    bool tie_word_embeddings;   /* true when the llava level or text_config says so (LlavaConfig's rule) */
    int bos_token_id, eos_token_id, pad_token_id; /* 1, 2, -1 when absent */
    char hidden_act[32];        /* "silu" */
} pv_text_config;

typedef struct pv_llava_config {
    pv_vision_config vision;
    pv_text_config text;
    int image_token_index;          /* 32000 */
    int image_seq_length;           /* 576 */
    int vision_feature_layer;       /* -2: index into hidden_states (0 = embeddings) */
    bool vision_feature_full;       /* strategy "full" keeps CLS; "default" drops it */
    char projector_hidden_act[32];  /* "gelu" */
    bool multimodal_projector_bias; /* true */
    int pad_token_id;
} pv_llava_config;

/* Parses config.json text / file. Returns 0, or -1 with a message in err
 * (unknown model_type, wrong field types, unsupported rope scaling, ...). */
int pv_llava_config_parse(const char *json_text, pv_llava_config *cfg, char *err, size_t errlen);
int pv_llava_config_load(const char *path, pv_llava_config *cfg, char *err, size_t errlen);

/* Number of parameters of the model the configuration describes (as transformers counts). */
int64_t pv_llava_config_param_count(const pv_llava_config *cfg);
/* Number of image tokens the projector emits per image: (image/patch)^2, +1 for "full". */
int pv_llava_config_image_tokens(const pv_llava_config *cfg);
/* The resolved configuration as JSON (for pv-caption --describe). */
cJSON *pv_llava_config_to_json(const pv_llava_config *cfg);

#endif
