/* Chat templates llava_v1 and llava_hf (see chat_template.h for the leading-space
 * rule). */
#include "chat_template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The system sentence of LLaVA's conv_llava_v1 (Vicuna v1), which POVID trains with. */
static const char SYSTEM_V1[] =
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.";

static const char IMAGE[] = "<image>";

int pv_template_parse(const char *name)
{
    if (strcmp(name, "llava_v1") == 0)
        return PV_TEMPLATE_LLAVA_V1;
    if (strcmp(name, "llava_hf") == 0)
        return PV_TEMPLATE_LLAVA_HF;
    return -1;
}

const char *pv_template_name(enum pv_template t)
{
    switch (t) {
    case PV_TEMPLATE_LLAVA_V1: return "llava_v1";
    case PV_TEMPLATE_LLAVA_HF: return "llava_hf";
    }
    return "?";
}

char *pv_chat_prompt_text(enum pv_template t, const char *prompt)
{
    const char *head = t == PV_TEMPLATE_LLAVA_V1 ? SYSTEM_V1 : "";
    const char *sep = t == PV_TEMPLATE_LLAVA_V1 ? " " : "";
    char *text;
    if (asprintf(&text, "%s%sUSER: %s\n%s ASSISTANT:", head, sep, IMAGE, prompt) < 0)
        return NULL;
    return text;
}

/* Appends n ids to a malloc'd array of *len ids. -1 on out of memory. */
static int append(int32_t **v, long *len, const int32_t *ids, long n)
{
    int32_t *nv = realloc(*v, (size_t)(*len + n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    if (n)
        memcpy(nv + *len, ids, (size_t)n * sizeof *nv);
    *v = nv;
    *len += n;
    return 0;
}

static int append_repeat(int32_t **v, long *len, int32_t id, long n)
{
    int32_t *nv = realloc(*v, (size_t)(*len + n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    for (long i = 0; i < n; i++)
        nv[*len + i] = id;
    *v = nv;
    *len += n;
    return 0;
}

/* <s> + text with its one "<image>" replaced by n copies of image_id. When the
 * tokenizer matches "<image>" as an added token the whole text is encoded at once
 * (transformers' tokenizer(text)) and that id expanded; otherwise the two sides are
 * encoded as the text before and after an added token. */
static long encode_with_image(const pv_tokenizer *tok, const char *text, int32_t image_id, int n,
                              int32_t **out)
{
    *out = NULL;
    int32_t *ids = NULL;
    long len = 0;
    int32_t tok_image = pv_tokenizer_piece_id(tok, IMAGE);
    int32_t *whole;
    long nw = pv_tokenizer_encode(tok, text, true, &whole);
    if (nw < 0)
        return -1;
    long found = 0, at = -1;
    for (long i = 0; i < nw; i++)
        if (tok_image >= 0 && whole[i] == tok_image)
            found++, at = i;
    if (found == 1) {
        int rc = append(&ids, &len, whole, at);
        rc |= append_repeat(&ids, &len, image_id, n);
        rc |= append(&ids, &len, whole + at + 1, nw - at - 1);
        free(whole);
        if (rc) {
            free(ids);
            return -1;
        }
        *out = ids;
        return len;
    }
    free(whole);
    const char *cut = strstr(text, IMAGE);
    int32_t *before = NULL, *after = NULL;
    long nb = pv_tokenizer_encode_at(tok, text, (size_t)(cut - text), PV_TOK_TEXT_START, &before);
    const char *rest = cut + strlen(IMAGE);
    long na = nb < 0 ? -1 : pv_tokenizer_encode_at(tok, rest, strlen(rest), PV_TOK_AFTER_ADDED, &after);
    int32_t bos = pv_tokenizer_bos(tok);
    int rc = nb < 0 || na < 0;
    if (!rc && bos >= 0)
        rc |= append(&ids, &len, &bos, 1);
    if (!rc) {
        rc |= append(&ids, &len, before, nb);
        rc |= append_repeat(&ids, &len, image_id, n);
        rc |= append(&ids, &len, after, na);
    }
    free(before);
    free(after);
    if (rc) {
        free(ids);
        return -1;
    }
    *out = ids;
    return len;
}

long pv_chat_prompt_ids(const pv_tokenizer *tok, enum pv_template t, const char *prompt,
                        int32_t image_token_id, int n_image_tokens, int32_t **ids)
{
    *ids = NULL;
    if (n_image_tokens < 0 || strstr(prompt, IMAGE)) {
        errno = EINVAL;
        return -1;
    }
    char *text = pv_chat_prompt_text(t, prompt);
    if (!text)
        return -1;
    long n = encode_with_image(tok, text, image_token_id, n_image_tokens, ids);
    free(text);
    return n;
}

long pv_chat_sequence_ids(const pv_tokenizer *tok, enum pv_template t, const char *prompt,
                          const char *response, int32_t image_token_id, int n_image_tokens,
                          int32_t **ids, long *response_start)
{
    *ids = NULL;
    int32_t eos = pv_tokenizer_eos(tok);
    if (eos < 0 || strstr(response, IMAGE)) {
        errno = EINVAL;
        return -1;
    }
    int32_t *seq;
    long n = pv_chat_prompt_ids(tok, t, prompt, image_token_id, n_image_tokens, &seq);
    if (n < 0)
        return -1;
    /* The response continues the prompt's stretch of text ("ASSISTANT: The..."): no
     * prefix rule applies, its first "▁" is the separating space. */
    char *more;
    if (asprintf(&more, " %s", response) < 0) {
        free(seq);
        return -1;
    }
    int32_t *resp;
    long nr = pv_tokenizer_encode_at(tok, more, strlen(more), PV_TOK_CONTINUES, &resp);
    free(more);
    long len = n;
    if (nr < 0 || append(&seq, &len, resp, nr) < 0 || append(&seq, &len, &eos, 1) < 0) {
        free(resp);
        free(seq);
        return -1;
    }
    free(resp);
    *response_start = n;
    *ids = seq;
    return len;
}
