/* Reading a Hugging Face tokenizer.json into a pv_tokenizer (see tokenizer.h):
 * the BPE model (vocabulary, merges as "a b" or ["a", "b"], byte fallback, unknown
 * piece), added tokens, the normalizer and pre-tokenizer that spell the
 * leading-space rule, and the decoder chain. Anything outside LLaMA's
 * SentencePiece-style BPE is refused with a message naming what was found. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "diag.h"
#include "tokenizer_impl.h"
#include "utf8.h"

static void free_ops(text_op *ops, int n)
{
    for (int i = 0; i < n; i++) {
        free(ops[i].a);
        free(ops[i].b);
    }
}

void pv_tokenizer_free(pv_tokenizer *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < tok->n_ids; i++)
        free(tok->pieces[i]);
    free(tok->pieces);
    free(tok->special);
    str_map_free(&tok->vocab);
    free(tok->merges.slots);
    for (size_t i = 0; i < tok->n_added; i++) {
        if (tok->added[i].pattern != tok->added[i].content)
            free(tok->added[i].pattern);
        free(tok->added[i].content);
    }
    free(tok->added);
    free_ops(tok->norm, tok->n_norm);
    free_ops(tok->dec, tok->n_dec);
    free(tok->meta_repl);
    free(tok);
}

static const char *json_type(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static const char *json_string(const cJSON *o, const char *name)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static bool json_bool(const cJSON *o, const char *name, bool dflt)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsBool(t) ? cJSON_IsTrue(t) : dflt;
}

/* The literal pattern of a Replace step ({"String": "..."}); NULL for a regex. */
static const char *replace_pattern(const cJSON *step)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(step, "pattern");
    return json_string(p, "String");
}

static int add_op(text_op *ops, int *n, text_op op, char *err, size_t errlen)
{
    if (*n >= MAX_OPS) {
        free(op.a);
        free(op.b);
        pv_set_err(err, errlen, "too many normalizer/decoder steps");
        return -1;
    }
    ops[(*n)++] = op;
    return 0;
}

static int parse_normalizer(pv_tokenizer *tok, const cJSON *n, char *err, size_t errlen)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    const char *type = json_type(n);
    if (!type) {
        pv_set_err(err, errlen, "normalizer without a type");
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) {
            pv_set_err(err, errlen, "normalizer Sequence without a \"normalizers\" list");
            return -1;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            if (parse_normalizer(tok, it, err, errlen) < 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(type, "Prepend") == 0) {
        const char *p = json_string(n, "prepend");
        if (!p) {
            pv_set_err(err, errlen, "Prepend normalizer without a \"prepend\" string");
            return -1;
        }
        return add_op(tok->norm, &tok->n_norm, (text_op){.kind = OP_PREPEND, .a = strdup(p)}, err,
                      errlen);
    }
    if (strcmp(type, "Replace") == 0) {
        const char *p = replace_pattern(n), *c = json_string(n, "content");
        if (!p || !*p || !c) {
            pv_set_err(err, errlen, "Replace normalizer: only a literal {\"String\": ...} pattern "
                                 "is supported");
            return -1;
        }
        return add_op(tok->norm, &tok->n_norm,
                      (text_op){.kind = OP_REPLACE, .a = strdup(p), .b = strdup(c)}, err, errlen);
    }
    pv_set_err(err, errlen,
            "normalizer \"%s\" is not supported (pv reads LLaMA-style SentencePiece BPE: "
            "Prepend and Replace only)", type);
    return -1;
}

static int parse_metaspace(pv_tokenizer *tok, const cJSON *p, char *err, size_t errlen)
{
    if (tok->has_metaspace) {
        pv_set_err(err, errlen, "more than one Metaspace pre-tokenizer");
        return -1;
    }
    const char *r = json_string(p, "replacement");
    const char *scheme = json_string(p, "prepend_scheme");
    tok->has_metaspace = true;
    tok->meta_repl = strdup(r && *r ? r : "\xe2\x96\x81");
    if (scheme) {
        if (strcmp(scheme, "first") == 0)
            tok->meta_prepend = PREPEND_FIRST;
        else if (strcmp(scheme, "always") == 0)
            tok->meta_prepend = PREPEND_ALWAYS;
        else if (strcmp(scheme, "never") == 0)
            tok->meta_prepend = PREPEND_NEVER;
        else {
            pv_set_err(err, errlen, "Metaspace: unknown prepend_scheme \"%s\"", scheme);
            return -1;
        }
    } else {
        /* The older spelling: add_prefix_space (default true) means "always". */
        tok->meta_prepend = json_bool(p, "add_prefix_space", true) ? PREPEND_ALWAYS : PREPEND_NEVER;
    }
    tok->meta_split = json_bool(p, "split", true);
    return 0;
}

static int parse_pre_tokenizer(pv_tokenizer *tok, const cJSON *p, char *err, size_t errlen)
{
    if (!p || cJSON_IsNull(p))
        return 0;
    const char *type = json_type(p);
    if (!type) {
        pv_set_err(err, errlen, "pre_tokenizer without a type");
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) {
            pv_set_err(err, errlen, "pre_tokenizer Sequence without a \"pretokenizers\" list");
            return -1;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            if (parse_pre_tokenizer(tok, it, err, errlen) < 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0)
        return parse_metaspace(tok, p, err, errlen);
    if (strcmp(type, "ByteLevel") == 0)
        pv_set_err(err, errlen, "pre_tokenizer \"ByteLevel\": this is a byte-level BPE (GPT-2, "
                             "LLaMA-3 family), not LLaMA's SentencePiece BPE");
    else
        pv_set_err(err, errlen, "pre_tokenizer \"%s\" is not supported (pv reads LLaMA-style "
                             "SentencePiece BPE: Metaspace only)", type);
    return -1;
}

static int parse_decoder(pv_tokenizer *tok, const cJSON *d, char *err, size_t errlen)
{
    if (!d || cJSON_IsNull(d)) {
        tok->dec_none = true;
        return 0;
    }
    const char *type = json_type(d);
    if (!type) {
        pv_set_err(err, errlen, "decoder without a type");
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (!cJSON_IsArray(list)) {
            pv_set_err(err, errlen, "decoder Sequence without a \"decoders\" list");
            return -1;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            if (parse_decoder(tok, it, err, errlen) < 0)
                return -1;
        }
        return 0;
    }
    text_op op = {0};
    if (strcmp(type, "Replace") == 0) {
        const char *p = replace_pattern(d), *c = json_string(d, "content");
        if (!p || !*p || !c) {
            pv_set_err(err, errlen, "Replace decoder: only a literal {\"String\": ...} pattern "
                                 "is supported");
            return -1;
        }
        op = (text_op){.kind = OP_REPLACE, .a = strdup(p), .b = strdup(c)};
    } else if (strcmp(type, "ByteFallback") == 0) {
        op.kind = OP_BYTE_FALLBACK;
    } else if (strcmp(type, "Fuse") == 0) {
        op.kind = OP_FUSE;
    } else if (strcmp(type, "Strip") == 0) {
        const char *c = json_string(d, "content");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "start");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "stop");
        if (!c || !*c || !cJSON_IsNumber(s) || !cJSON_IsNumber(e) || s->valuedouble < 0 ||
            e->valuedouble < 0 || s->valuedouble > 1e6 || e->valuedouble > 1e6) {
            pv_set_err(err, errlen, "Strip decoder needs \"content\", \"start\" and \"stop\"");
            return -1;
        }
        op = (text_op){.kind = OP_STRIP, .a = strdup(c), .start = s->valueint, .stop = e->valueint};
    } else if (strcmp(type, "Metaspace") == 0) {
        const char *r = json_string(d, "replacement");
        const char *scheme = json_string(d, "prepend_scheme");
        bool strip = scheme ? strcmp(scheme, "never") != 0 : json_bool(d, "add_prefix_space", true);
        op = (text_op){.kind = OP_METASPACE, .a = strdup(r && *r ? r : "\xe2\x96\x81"),
                       .strip_first = strip};
    } else {
        pv_set_err(err, errlen, "decoder \"%s\" is not supported (pv reads LLaMA-style "
                             "SentencePiece BPE)", type);
        return -1;
    }
    return add_op(tok->dec, &tok->n_dec, op, err, errlen);
}

/* Records text for an id; grows the id tables as needed. */
static int set_piece(pv_tokenizer *tok, size_t *cap, long id, const char *text, char *err,
                     size_t errlen)
{
    if (id < 0 || id >= MAX_VOCAB_ID || (size_t)id >= tok->id_limit) {
        pv_set_err(err, errlen, "token id %ld is far beyond the number of tokens", id);
        return -1;
    }
    if ((size_t)id >= *cap) {
        size_t ncap = *cap ? *cap : 1024;
        while (ncap <= (size_t)id)
            ncap *= 2;
        char **p = realloc(tok->pieces, ncap * sizeof *p);
        if (!p)
            goto oom;
        tok->pieces = p;
        bool *s = realloc(tok->special, ncap * sizeof *s);
        if (!s)
            goto oom;
        tok->special = s;
        memset(tok->pieces + *cap, 0, (ncap - *cap) * sizeof *p);
        memset(tok->special + *cap, 0, (ncap - *cap) * sizeof *s);
        *cap = ncap;
    }
    if ((size_t)id >= tok->n_ids)
        tok->n_ids = (size_t)id + 1;
    char *copy = strdup(text);
    if (!copy)
        goto oom;
    free(tok->pieces[id]);
    tok->pieces[id] = copy;
    return 0;
oom:
    pv_set_err(err, errlen, "out of memory");
    return -1;
}

/* A JSON number that is an exact non-negative integer id. */
static bool json_id(const cJSON *v, long *id)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MAX_VOCAB_ID ||
        v->valuedouble != (double)(long)v->valuedouble)
        return false;
    *id = (long)v->valuedouble;
    return true;
}

static int parse_vocab(pv_tokenizer *tok, const cJSON *vocab, size_t *cap, char *err,
                       size_t errlen)
{
    if (!cJSON_IsObject(vocab)) {
        pv_set_err(err, errlen, "model.vocab is not an object");
        return -1;
    }
    if (str_map_init(&tok->vocab, (size_t)cJSON_GetArraySize(vocab)) < 0) {
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        long id;
        if (!json_id(it, &id)) {
            pv_set_err(err, errlen, "model.vocab: the id of \"%.40s\" is not a valid id", it->string);
            return -1;
        }
        if (set_piece(tok, cap, id, it->string, err, errlen) < 0)
            return -1;
        if (str_map_put(&tok->vocab, it->string, strlen(it->string), (int32_t)id) < 0) {
            pv_set_err(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* One merge: "a b" or ["a", "b"] -> ids. */
static int merge_pair(const pv_tokenizer *tok, const cJSON *m, int32_t *a, int32_t *b,
                      int32_t *merged, char *err, size_t errlen)
{
    const char *left, *right;
    size_t llen, rlen;
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ')) {
            pv_set_err(err, errlen, "merge \"%.60s\" is not two pieces separated by one space", s);
            return -1;
        }
        left = s, llen = (size_t)(sp - s), right = sp + 1, rlen = strlen(sp + 1);
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
               cJSON_IsString(cJSON_GetArrayItem(m, 0)) && cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        left = cJSON_GetArrayItem(m, 0)->valuestring, llen = strlen(left);
        right = cJSON_GetArrayItem(m, 1)->valuestring, rlen = strlen(right);
    } else {
        pv_set_err(err, errlen, "a merge is neither \"a b\" nor [\"a\", \"b\"]");
        return -1;
    }
    *a = str_map_get(&tok->vocab, left, llen);
    *b = str_map_get(&tok->vocab, right, rlen);
    char *cat = malloc(llen + rlen + 1);
    if (!cat) {
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cat, left, llen);
    memcpy(cat + llen, right, rlen);
    *merged = str_map_get(&tok->vocab, cat, llen + rlen);
    free(cat);
    if (*a < 0 || *b < 0 || *merged < 0) {
        pv_set_err(err, errlen, "merge \"%.*s\" + \"%.*s\": a piece is not in the vocabulary",
                (int)(llen > 40 ? 40 : llen), left, (int)(rlen > 40 ? 40 : rlen), right);
        return -1;
    }
    return 0;
}

static int parse_merges(pv_tokenizer *tok, const cJSON *merges, char *err, size_t errlen)
{
    if (!cJSON_IsArray(merges)) {
        pv_set_err(err, errlen, "model.merges is not a list");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(merges), cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    tok->merges.slots = calloc(cap, sizeof *tok->merges.slots);
    if (!tok->merges.slots) {
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    tok->merges.cap = cap;
    int32_t rank = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
        int32_t a, b, merged;
        if (merge_pair(tok, it, &a, &b, &merged, err, errlen) < 0)
            return -1;
        merge_put(&tok->merges, a, b, rank++, merged);
    }
    return 0;
}

static int parse_model(pv_tokenizer *tok, const cJSON *model, size_t *cap, char *err,
                       size_t errlen)
{
    if (!cJSON_IsObject(model)) {
        pv_set_err(err, errlen, "no \"model\" object: not a tokenizer.json");
        return -1;
    }
    const char *type = json_type(model);
    if (type && strcmp(type, "BPE") != 0) {
        pv_set_err(err, errlen, "model type \"%s\" is not supported (pv reads LLaMA-style "
                             "SentencePiece BPE)", type);
        return -1;
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!type && !merges) {
        pv_set_err(err, errlen, "model has no type and no merges: not a BPE tokenizer");
        return -1;
    }
    const char *cont = json_string(model, "continuing_subword_prefix");
    const char *suffix = json_string(model, "end_of_word_suffix");
    if ((cont && *cont) || (suffix && *suffix)) {
        pv_set_err(err, errlen, "BPE with continuing_subword_prefix/end_of_word_suffix (another "
                             "model family) is not supported");
        return -1;
    }
    if (parse_vocab(tok, cJSON_GetObjectItemCaseSensitive(model, "vocab"), cap, err, errlen) < 0 ||
        parse_merges(tok, merges, err, errlen) < 0)
        return -1;
    tok->byte_fallback = json_bool(model, "byte_fallback", false);
    tok->fuse_unk = json_bool(model, "fuse_unk", false);
    tok->ignore_merges = json_bool(model, "ignore_merges", false);
    const char *unk = json_string(model, "unk_token");
    tok->unk_id = -1;
    if (unk) {
        tok->unk_id = str_map_get(&tok->vocab, unk, strlen(unk));
        if (tok->unk_id < 0) {
            pv_set_err(err, errlen, "unk_token \"%.40s\" is not in the vocabulary", unk);
            return -1;
        }
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_ids[b] = str_map_get(&tok->vocab, name, 6);
    }
    return 0;
}

static int parse_added(pv_tokenizer *tok, const cJSON *list, size_t *cap, char *err,
                       size_t errlen)
{
    if (!list || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list)) {
        pv_set_err(err, errlen, "added_tokens is not a list");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    tok->added = calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added) {
        pv_set_err(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const char *content = json_string(it, "content");
        long id;
        if (!content || !*content || !json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id)) {
            pv_set_err(err, errlen, "added_tokens: an entry lacks \"content\" or a valid \"id\"");
            return -1;
        }
        added_token *a = &tok->added[tok->n_added];
        a->content = strdup(content);
        if (!a->content) {
            pv_set_err(err, errlen, "out of memory");
            return -1;
        }
        tok->n_added++;
        a->len = strlen(content);
        a->id = (int32_t)id;
        a->special = json_bool(it, "special", false);
        a->lstrip = json_bool(it, "lstrip", false);
        a->rstrip = json_bool(it, "rstrip", false);
        a->single_word = json_bool(it, "single_word", false);
        a->in_normalized = json_bool(it, "normalized", !a->special); /* for now: "normalized" */
        a->pattern = a->content;
        a->plen = a->len;
        if (set_piece(tok, cap, id, content, err, errlen) < 0)
            return -1;
        tok->special[id] = a->special;
    }
    return 0;
}

pv_tokenizer *pv_tokenizer_load_json(const char *json, size_t len, char *err, size_t errlen)
{
    pv_set_err(err, errlen, "unknown error");
    /* JSON is UTF-8; cJSON would let invalid bytes through into pieces and decoders. */
    size_t bad = pv_utf8_invalid_at(json, len);
    if (bad != (size_t)-1) {
        pv_set_err(err, errlen, "invalid UTF-8 at byte %zu", bad);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        pv_set_err(err, errlen, "not a JSON object");
        cJSON_Delete(root);
        return NULL;
    }
    pv_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        pv_set_err(err, errlen, "out of memory");
        cJSON_Delete(root);
        return NULL;
    }
    size_t cap = 0;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    tok->id_limit = 2 * ((size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(model, "vocab")) +
                         (size_t)cJSON_GetArraySize(added)) + ID_SLACK;
    if (parse_model(tok, cJSON_GetObjectItemCaseSensitive(root, "model"), &cap, err, errlen) < 0 ||
        parse_added(tok, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), &cap, err,
                    errlen) < 0 ||
        parse_normalizer(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err,
                         errlen) < 0 ||
        parse_pre_tokenizer(tok, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err,
                            errlen) < 0 ||
        parse_decoder(tok, cJSON_GetObjectItemCaseSensitive(root, "decoder"), err, errlen) < 0) {
        cJSON_Delete(root);
        pv_tokenizer_free(tok);
        return NULL;
    }
    cJSON_Delete(root);
    for (int i = 0; i < tok->n_norm; i++)
        if (!tok->norm[i].a || (tok->norm[i].kind == OP_REPLACE && !tok->norm[i].b))
            goto oom;
    for (int i = 0; i < tok->n_dec; i++)
        if ((tok->dec[i].kind == OP_REPLACE || tok->dec[i].kind == OP_STRIP ||
             tok->dec[i].kind == OP_METASPACE) && !tok->dec[i].a)
            goto oom;
    if ((tok->has_metaspace && !tok->meta_repl) || pv_tokenizer_prepare_added(tok) < 0)
        goto oom;
    if (tok->n_ids == 0) {
        pv_set_err(err, errlen, "empty vocabulary");
        pv_tokenizer_free(tok);
        return NULL;
    }
    tok->bos = pv_tokenizer_piece_id(tok, "<s>");
    tok->eos = pv_tokenizer_piece_id(tok, "</s>");
    pv_set_err(err, errlen, "ok");
    return tok;
oom:
    pv_set_err(err, errlen, "out of memory");
    pv_tokenizer_free(tok);
    return NULL;
}

pv_tokenizer *pv_tokenizer_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        pv_set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 22;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                pv_set_err(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb, cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        pv_set_err(err, errlen, "%s: read error", path);
        return NULL;
    }
    char msg[256];
    pv_tokenizer *tok = pv_tokenizer_load_json(buf, len, msg, sizeof msg);
    free(buf);
    if (!tok)
        pv_set_err(err, errlen, "%s: %s", path, msg);
    return tok;
}
