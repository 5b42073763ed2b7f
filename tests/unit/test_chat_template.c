/* Chat templates: the rendered llava_v1 text equals golden.json's prompt_text; prompt
 * and sequence ids equal golden.safetensors' prompt_ids / chosen_ids / rejected_ids
 * (transformers' tokenisation, <image> expanded to 16 ids) with response_start 64;
 * llava_hf ids equal those Hugging Face tokenizers 0.23.3 printed for the same text,
 * with both leading-space spellings and with a tokenizer that has no <image> token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "chat_template.h"
#include "check.h"
#include "paths.h"
#include "safetensors.h"
#include "tokenizer.h"

static bool same_ids(const int32_t *got, long n, const int32_t *want, long m, const char *what)
{
    if (n == m && n >= 0 && (n == 0 || memcmp(got, want, (size_t)n * sizeof *got) == 0))
        return true;
    printf("# %s: got %ld ids [", what, n);
    for (long i = 0; i < n && i < 120; i++)
        printf(i ? " %d" : "%d", got[i]);
    printf("], want %ld [", m);
    for (long i = 0; i < m && i < 120; i++)
        printf(i ? " %d" : "%d", want[i]);
    printf("]\n");
    return false;
}

static long golden_ids(const pv_st_file *st, const char *name, int32_t **out)
{
    const pv_st_tensor *t = pv_st_find(st, name);
    if (!t || t->dtype != PV_ST_I32)
        return -1;
    *out = malloc((size_t)t->numel * sizeof **out);
    memcpy(*out, t->data, (size_t)t->numel * 4);
    return (long)t->numel;
}

static void test_names(void)
{
    CHECK(pv_template_parse("llava_v1") == PV_TEMPLATE_LLAVA_V1 &&
              pv_template_parse("llava_hf") == PV_TEMPLATE_LLAVA_HF && pv_template_parse("vicuna") == -1 &&
              pv_template_parse("") == -1,
          "template names parse; unknown ones are -1");
    CHECK(strcmp(pv_template_name(PV_TEMPLATE_LLAVA_V1), "llava_v1") == 0 &&
              strcmp(pv_template_name(PV_TEMPLATE_LLAVA_HF), "llava_hf") == 0,
          "template names print");
    char *hf = pv_chat_prompt_text(PV_TEMPLATE_LLAVA_HF, "What is this?");
    CHECK(hf && strcmp(hf, "USER: <image>\nWhat is this? ASSISTANT:") == 0, "llava_hf text");
    free(hf);
}

/* The fixture tokenizer.json with changes made through cJSON: the older
 * normalizer spelling instead of Metaspace, and/or <image> not an added token. */
static pv_tokenizer *variant(const char *json_text, bool legacy, bool no_image)
{
    cJSON *j = cJSON_Parse(json_text);
    if (!j)
        return NULL;
    if (legacy) {
        cJSON_ReplaceItemInObject(j, "pre_tokenizer", cJSON_CreateNull());
        cJSON_ReplaceItemInObject(j, "normalizer", cJSON_Parse(
            "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},"
            "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]}"));
    }
    if (no_image) {
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(j, "added_tokens")) {
            cJSON *c = cJSON_GetObjectItem(a, "content");
            if (strcmp(c->valuestring, "<image>") == 0)
                cJSON_SetValuestring(c, "<unused-image>");
        }
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char err[256];
    pv_tokenizer *tok = pv_tokenizer_load_json(text, strlen(text), err, sizeof err);
    if (!tok)
        printf("# %s\n", err);
    free(text);
    return tok;
}

static void test_llava_hf(const char *json_text)
{
    /* Ids from tokenizers 0.23.3 for "USER: <image>\nWhat is in the image? ASSISTANT: A bus.</s>"
     * with the fixture tokenizer.json (Metaspace first) and with its older spelling. */
    static const int32_t first[] = {1, 3148, 1001, 29901, 29871, 32000, 13, 5618, 338, 297, 278,
                                    1967, 29973, 319, 1799, 9047, 13566, 29901, 319, 3593, 29889, 2};
    static const int32_t legacy[] = {1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 338, 297,
                                     278, 1967, 29973, 319, 1799, 9047, 13566, 29901, 319, 3593, 29889, 2};
    const char *names[] = {"Metaspace first", "Prepend+Replace", "Metaspace first, no <image> token",
                           "Prepend+Replace, no <image> token"};
    for (int v = 0; v < 4; v++) {
        bool old = v & 1, no_image = v & 2;
        pv_tokenizer *tok = variant(json_text, old, no_image);
        const int32_t *ref = old ? legacy : first;
        long nref = old ? (long)(sizeof legacy / sizeof *legacy) : (long)(sizeof first / sizeof *first);
        /* Expand the single 32000 to 3 ids of 7 (any id the model config names). */
        int32_t want[40];
        long m = 0;
        for (long i = 0; i < nref; i++) {
            if (ref[i] == 32000)
                for (int k = 0; k < 3; k++)
                    want[m++] = 7;
            else
                want[m++] = ref[i];
        }
        int32_t *ids = NULL;
        long start = -1;
        long n = tok ? pv_chat_sequence_ids(tok, PV_TEMPLATE_LLAVA_HF, "What is in the image?",
                                            "A bus.", 7, 3, &ids, &start)
                     : -1;
        char what[128];
        snprintf(what, sizeof what, "llava_hf sequence ids, %s (as tokenizers 0.23.3)", names[v]);
        CHECK(same_ids(ids, n, want, m, names[v]), what);
        snprintf(what, sizeof what, "llava_hf response_start, %s", names[v]);
        CHECK(start == m - 4, what); /* ▁A bus . </s> */
        free(ids);
        n = tok ? pv_chat_prompt_ids(tok, PV_TEMPLATE_LLAVA_HF, "What is in the image?", 7, 3, &ids) : -1;
        snprintf(what, sizeof what, "llava_hf prompt ids = sequence up to response_start, %s", names[v]);
        CHECK(same_ids(ids, n, want, m - 4, names[v]), what);
        free(ids);
        pv_tokenizer_free(tok);
    }
}

static void test_fixture(const char *dir)
{
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *json_text = pv_read_file(path, NULL);
    pv_tokenizer *tok = pv_tokenizer_load(path, err, sizeof err);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    char *gtext = pv_read_file(path, NULL);
    cJSON *g = gtext ? cJSON_Parse(gtext) : NULL;
    free(gtext);
    pv_st_file st;
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    int st_ok = pv_st_open(path, &st, err, sizeof err) == 0;
    CHECK(tok && g && st_ok && json_text, "fixture tokenizer, golden.json and golden.safetensors read");
    if (!tok || !g || !st_ok || !json_text) {
        free(json_text);
        return;
    }
    const char *prompt = "Describe this image in detail.";
    int32_t image = cJSON_GetObjectItem(g, "image_token_id")->valueint;
    int n_image = cJSON_GetObjectItem(g, "n_image_tokens")->valueint;
    long want_start = (long)cJSON_GetObjectItem(g, "response_start")->valuedouble;

    char *text = pv_chat_prompt_text(PV_TEMPLATE_LLAVA_V1, prompt);
    CHECK(text && strcmp(text, cJSON_GetObjectItem(g, "prompt_text")->valuestring) == 0,
          "llava_v1 text == golden.json prompt_text");
    free(text);

    int32_t *want, *ids;
    long m = golden_ids(&st, "prompt_ids", &want);
    long n = pv_chat_prompt_ids(tok, PV_TEMPLATE_LLAVA_V1, prompt, image, n_image, &ids);
    CHECK(same_ids(ids, n, want, m, "prompt_ids"), "llava_v1 prompt ids == prompt_ids (64 ids)");
    free(want);
    free(ids);

    const char *resp[] = {"chosen_text", "rejected_text"}, *names[] = {"chosen_ids", "rejected_ids"};
    for (int k = 0; k < 2; k++) {
        m = golden_ids(&st, names[k], &want);
        long start = -1;
        n = pv_chat_sequence_ids(tok, PV_TEMPLATE_LLAVA_V1, prompt,
                                 cJSON_GetObjectItem(g, resp[k])->valuestring, image, n_image, &ids,
                                 &start);
        char what[96];
        snprintf(what, sizeof what, "llava_v1 sequence ids == %s", names[k]);
        CHECK(same_ids(ids, n, want, m, names[k]), what);
        snprintf(what, sizeof what, "response_start == golden.json response_start (%ld) for %s",
                 want_start, names[k]);
        CHECK(start == want_start, what);
        free(want);
        free(ids);
    }

    /* The real model's 576 image tokens: only the run length changes. */
    n = pv_chat_prompt_ids(tok, PV_TEMPLATE_LLAVA_V1, prompt, image, 576, &ids);
    long run = 0;
    for (long i = 0; i < n; i++)
        run += ids[i] == image;
    CHECK(n == 64 - 16 + 576 && run == 576, "576 image tokens: 624 prompt ids");
    free(ids);
    n = pv_chat_prompt_ids(tok, PV_TEMPLATE_LLAVA_V1, "", image, 0, &ids);
    CHECK(n > 0 && ids[0] == 1, "empty prompt, no image tokens: still a valid prompt");
    free(ids);
    errno = 0;
    n = pv_chat_prompt_ids(tok, PV_TEMPLATE_LLAVA_V1, "<image>\nDescribe.", image, n_image, &ids);
    CHECK(n == -1 && errno == EINVAL && !ids, "a prompt that contains <image> is refused");
    n = pv_chat_prompt_ids(tok, PV_TEMPLATE_LLAVA_V1, prompt, image, -1, &ids);
    CHECK(n == -1, "a negative image token count is refused");
    long start;
    n = pv_chat_sequence_ids(tok, PV_TEMPLATE_LLAVA_V1, prompt, "a <image> here", image, n_image,
                             &ids, &start);
    CHECK(n == -1 && !ids, "a response that contains <image> is refused");

    test_llava_hf(json_text);
    free(json_text);
    pv_st_close(&st);
    cJSON_Delete(g);
    pv_tokenizer_free(tok);
}

int main(void)
{
    test_names();
    const char *shared = getenv("PV_SHARED") ? getenv("PV_SHARED") : "../shared";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/tiny-llava", shared);
    struct stat sb;
    if (stat(dir, &sb) == 0)
        test_fixture(dir);
    else
        printf("ok %d - fixture tests # SKIP no fixtures (PV_SHARED/fixtures/tiny-llava)\n",
               ++check_count);
    return check_done();
}
