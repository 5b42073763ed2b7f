/* Preference pairs for pv-dpo: records turned into token sequences, and the images
 * turned into what the frozen vision tower gives the trainer.
 *
 * A record needs id, image, chosen and (except for --loss sft) rejected; prompt is
 * the record's, else the --prompt default. The sequences are the chat template's
 * prompt + " " + response + </s> (lib/chat_template.h).
 * Truncation (--max-length): the prompt, image tokens included, is never cut; a
 * sequence longer than max_length loses the end of its response (and its </s>);
 * a prompt that leaves no response token is a bad record.
 * An image (or noisy_image) may also be a .safetensors file with a "pixel_values"
 * tensor [3][S][S]: pixels preprocessed elsewhere, used as they are. */
#ifndef PV_DPO_DATA_H
#define PV_DPO_DATA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "chat_template.h"
#include "clip_preprocess.h"
#include "dpo_pair.h"
#include "noise.h"
#include "records.h"
#include "tokenizer.h"

typedef struct pv_dpo_example {
    char *id;
    char *image;          /* resolved path */
    char *noisy_image;    /* resolved path of the record's noisy_image, or NULL */
    cJSON *record;        /* kept for --eval output */
    int32_t *chosen, *rejected;
    int n_chosen, n_rejected, start_chosen, start_rejected;
    bool truncated;
    pv_ref_cache cache;
} pv_dpo_example;

typedef struct pv_dpo_data_opts {
    const pv_tokenizer *tok;
    enum pv_template tmpl;
    const char *default_prompt;
    const char *image_root;
    int32_t image_token;
    int n_image_tokens;
    int max_length;
    bool need_rejected;
} pv_dpo_data_opts;

/* Builds an example from a record; 0, or -1 after reporting a bad record. */
int pv_dpo_example_make(const pv_reader *r, cJSON *rec, const pv_dpo_data_opts *o,
                        pv_dpo_example *ex);
void pv_dpo_example_free(pv_dpo_example *ex);

/* How the images of a pair become CLIP selected features. */
typedef struct pv_image_opts {
    int image_size;
    enum pv_image_aspect aspect;
    const pv_schedule *schedule;  /* noise drawn on the fly (POVID's) */
    int noise_step;
    uint64_t seed;
} pv_image_opts;

/* selected [n_image_tokens][vision hidden] of the clean image; 0, or -1 with err. */
int pv_dpo_clean_features(const pv_llava_model *m, const pv_image_opts *o,
                          const pv_dpo_example *ex, float *selected, char *err, size_t errlen);
/* The noisy image's features: the record's noisy_image when it has one, else POVID
 * noise drawn from (seed, record id, epoch). */
int pv_dpo_noisy_features(const pv_llava_model *m, const pv_image_opts *o,
                          const pv_dpo_example *ex, long epoch, float *selected, char *err,
                          size_t errlen);

#endif
