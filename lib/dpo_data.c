#include "dpo_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "diag.h"
#include "paths.h"
#include "philox.h"
#include "safetensors.h"

int pv_dpo_example_make(const pv_reader *r, cJSON *rec, const pv_dpo_data_opts *o,
                        pv_dpo_example *ex)
{
    memset(ex, 0, sizeof *ex);
    const char *file = r ? pv_reader_name(r) : NULL;
    long line = r ? pv_reader_line(r) : 0;
    char idbuf[64];
    const char *id = pv_rec_id(rec, idbuf, sizeof idbuf);
    if (!id) {
        pv_bad_record(file, line, "missing \"id\"");
        return -1;
    }
    const char *image = pv_rec_string(r, rec, "image", true);
    const char *chosen = image ? pv_rec_string(r, rec, "chosen", true) : NULL;
    const char *rejected = chosen && o->need_rejected ? pv_rec_string(r, rec, "rejected", true) : "";
    if (!image || !chosen || !rejected)
        return -1;
    const char *prompt = pv_rec_string(r, rec, "prompt", false);
    const char *noisy = pv_rec_string(r, rec, "noisy_image", false);
    if (!prompt)
        prompt = o->default_prompt;
    if (!*chosen || (o->need_rejected && !*rejected)) {
        pv_bad_record(file, line, "empty \"%s\"", !*chosen ? "chosen" : "rejected");
        return -1;
    }
    long start_c = 0, start_r = 0;
    long nc = pv_chat_sequence_ids(o->tok, o->tmpl, prompt, chosen, o->image_token,
                                   o->n_image_tokens, &ex->chosen, &start_c);
    long nr = o->need_rejected
                  ? pv_chat_sequence_ids(o->tok, o->tmpl, prompt, rejected, o->image_token,
                                         o->n_image_tokens, &ex->rejected, &start_r)
                  : 0;
    if (nc < 0 || nr < 0) {
        pv_bad_record(file, line, "the prompt cannot be tokenised (does it contain \"<image>\"?)");
        pv_dpo_example_free(ex);
        return -1;
    }
    if (start_c >= o->max_length || (o->need_rejected && start_r >= o->max_length)) {
        pv_bad_record(file, line, "the prompt takes %ld tokens (image included): no room for a "
                      "response under --max-length %d", start_c, o->max_length);
        pv_dpo_example_free(ex);
        return -1;
    }
    ex->truncated = nc > o->max_length || nr > o->max_length;
    ex->n_chosen = (int)(nc < o->max_length ? nc : o->max_length);
    ex->n_rejected = (int)(nr < o->max_length ? nr : o->max_length);
    ex->start_chosen = (int)start_c;
    ex->start_rejected = (int)start_r;
    ex->id = strdup(id);
    ex->image = pv_path_resolve(o->image_root, image);
    ex->noisy_image = noisy ? pv_path_resolve(o->image_root, noisy) : NULL;
    ex->record = rec;
    return 0;
}

void pv_dpo_example_free(pv_dpo_example *ex)
{
    free(ex->id);
    free(ex->image);
    free(ex->noisy_image);
    free(ex->chosen);
    free(ex->rejected);
    cJSON_Delete(ex->record);
    memset(ex, 0, sizeof *ex);
}

static bool is_safetensors(const char *path)
{
    size_t n = strlen(path);
    return n > 12 && strcmp(path + n - 12, ".safetensors") == 0;
}

/* Pixel values of an image file, or of a safetensors file holding a "pixel_values"
 * tensor of 3 x S x S values already preprocessed (another stack's preprocessing,
 * used as is: how pv is compared with transformers value for value). */
static int load_pixels(const char *path, const pv_image_opts *o, float *chw, char *err,
                       size_t errlen)
{
    char why[512];
    size_t S = (size_t)o->image_size;
    if (!is_safetensors(path)) {
        if (pv_clip_preprocess_file(path, o->image_size, o->aspect, chw, why, sizeof why) == 0)
            return 0;
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    pv_st_file f;
    if (pv_st_open(path, &f, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    const pv_st_tensor *t = pv_st_find(&f, "pixel_values");
    int rc = -1;
    if (!t || (size_t)t->numel != 3 * S * S)
        snprintf(err, errlen, "%s: no \"pixel_values\" tensor of 3 x %zu x %zu values", path, S, S);
    else if (pv_st_to_f32(t, chw, why, sizeof why) != 0)
        snprintf(err, errlen, "%s", why);
    else
        rc = 0;
    pv_st_close(&f);
    return rc;
}

static int features_of_pixels(const pv_llava_model *m, const float *chw, float *selected,
                              char *err, size_t errlen)
{
    if (pv_clip_features(m, chw, selected, NULL) != 0) {
        snprintf(err, errlen, "the vision tower failed (out of memory?)");
        return -1;
    }
    return 0;
}

int pv_dpo_clean_features(const pv_llava_model *m, const pv_image_opts *o,
                          const pv_dpo_example *ex, float *selected, char *err, size_t errlen)
{
    size_t S = (size_t)o->image_size;
    float *chw = malloc(3 * S * S * sizeof *chw);
    if (!chw)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    int rc = load_pixels(ex->image, o, chw, err, errlen);
    if (rc == 0)
        rc = features_of_pixels(m, chw, selected, err, errlen);
    free(chw);
    return rc;
}

int pv_dpo_noisy_features(const pv_llava_model *m, const pv_image_opts *o,
                          const pv_dpo_example *ex, long epoch, float *selected, char *err,
                          size_t errlen)
{
    size_t S = (size_t)o->image_size;
    float *chw = malloc(3 * S * S * sizeof *chw);
    if (!chw)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    char why[256];
    int rc;
    if (ex->noisy_image) {
        rc = load_pixels(ex->noisy_image, o, chw, err, errlen);
    } else if (is_safetensors(ex->image)) {
        snprintf(err, errlen, "%s: pixel values given: noise cannot be drawn on them (give the "
                 "record a noisy_image)", ex->image);
        rc = -1;
    } else {
        /* Fresh noise each epoch, as POVID draws it each time an example is loaded,
         * yet reproducible: the stream is (seed, fnv1a64(id) + epoch * golden ratio). */
        pv_image img, noisy;
        rc = pv_image_load(ex->image, &img, why, sizeof why);
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", ex->image, why);
        } else {
            float a, b;
            pv_noise_coeffs(o->schedule, o->noise_step, &a, &b);
            uint64_t key = pv_fnv1a64(ex->id, strlen(ex->id)) +
                           (uint64_t)epoch * 0x9E3779B97F4A7C15ULL;
            rc = pv_noise_image(&img, a, b, o->seed, key, &noisy);
            pv_image_free(&img);
            if (rc != 0) {
                snprintf(err, errlen, "out of memory noising %s", ex->image);
            } else {
                rc = pv_clip_preprocess(&noisy, o->image_size, o->aspect, chw, why, sizeof why);
                if (rc != 0)
                    snprintf(err, errlen, "%s: %s", ex->image, why);
                pv_image_free(&noisy);
            }
        }
    }
    if (rc == 0)
        rc = features_of_pixels(m, chw, selected, err, errlen);
    free(chw);
    return rc;
}
