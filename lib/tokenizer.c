/* LLaMA's SentencePiece-style BPE read from a Hugging Face tokenizer.json.
 *
 * Encoding follows the `tokenizers` library step by step:
 *   1. added tokens (<s>, </s>, <image>, ...) are found in the raw text, leftmost
 *      longest first, and cut it into stretches;
 *   2. each stretch goes through the normalizer (Prepend / Replace: the older
 *      spelling of the leading-space rule) and the Metaspace pre-tokenizer (spaces
 *      become "▁", a "▁" is prepended by prepend_scheme, optional split before each
 *      "▁");
 *   3. each word is split into characters (unknown ones into <0xNN> byte pieces)
 *      and merged by BPE, always the lowest-ranked adjacent pair first (leftmost on
 *      ties), with a binary heap over a linked list: O(n log n) per word.
 * Decoding runs the tokenizer.json decoder chain (Replace, ByteFallback, Fuse,
 * Strip, or the older Metaspace decoder) over the pieces.
 *
 * Anything outside this family (WordPiece, Unigram, byte-level BPE as GPT-2 and
 * LLaMA-3 use, Unicode normalizers, regex splits) is refused when loading rather
 * than encoded wrongly. */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define MAX_VOCAB_ID (1 << 24) /* far above any real vocabulary; bounds the id table */
/* Ids are dense in real files; a gap far beyond the entry count is refused rather than
 * allocating an id table for it. */
#define ID_SLACK 65536
#define MAX_OPS 16             /* normalizer / decoder steps */

/* ---------- a string -> id hash map (open addressing, linear probing) ---------- */

typedef struct str_slot {
    char *key; /* a copy owned by the map */
    size_t len;
    uint64_t hash;
    int32_t id;
} str_slot;

typedef struct str_map {
    str_slot *slots;
    size_t cap; /* power of two; 0 when empty */
    size_t n;
} str_map;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int str_map_init(str_map *m, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap = m->slots ? cap : 0;
    m->n = 0;
    return m->slots ? 0 : -1;
}

static int32_t str_map_get(const str_map *m, const char *s, size_t len)
{
    if (!m->cap)
        return -1;
    uint64_t h = hash_bytes(s, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const str_slot *e = &m->slots[i];
        if (!e->key)
            return -1;
        if (e->hash == h && e->len == len && memcmp(e->key, s, len) == 0)
            return e->id;
    }
}

/* Inserts or overwrites; -1 on out of memory. The table never fills: it is sized
 * for its keys up front. */
static int str_map_put(str_map *m, const char *s, size_t len, int32_t id)
{
    uint64_t h = hash_bytes(s, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        str_slot *e = &m->slots[i];
        if (!e->key) {
            char *key = malloc(len + 1);
            if (!key)
                return -1;
            memcpy(key, s, len);
            key[len] = 0;
            *e = (str_slot){key, len, h, id};
            m->n++;
            return 0;
        }
        if (e->hash == h && e->len == len && memcmp(e->key, s, len) == 0) {
            e->id = id;
            return 0;
        }
    }
}

static void str_map_free(str_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

/* ---------- a (left id, right id) -> (rank, merged id) map ---------- */

typedef struct merge_slot {
    uint64_t key; /* (left + 1) << 32 | (right + 1): 0 marks an empty slot */
    int32_t rank, merged;
} merge_slot;

typedef struct merge_map {
    merge_slot *slots;
    size_t cap;
} merge_map;

static uint64_t merge_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static size_t merge_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static const merge_slot *merge_get(const merge_map *m, int32_t a, int32_t b)
{
    if (!m->cap)
        return NULL;
    uint64_t k = merge_key(a, b);
    for (size_t i = merge_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == k)
            return &m->slots[i];
        if (!m->slots[i].key)
            return NULL;
    }
}

/* A later duplicate overwrites an earlier one, as tokenizers' map does. */
static void merge_put(merge_map *m, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    uint64_t k = merge_key(a, b);
    for (size_t i = merge_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].key || m->slots[i].key == k) {
            m->slots[i] = (merge_slot){k, rank, merged};
            return;
        }
    }
}

/* ---------- the tokenizer ---------- */

enum op_kind { OP_PREPEND, OP_REPLACE, OP_BYTE_FALLBACK, OP_FUSE, OP_STRIP, OP_METASPACE };

/* One normalizer or decoder step. */
typedef struct text_op {
    enum op_kind kind;
    char *a, *b;         /* PREPEND: a; REPLACE: a -> b; STRIP: a (one char); METASPACE: a */
    int start, stop;     /* STRIP */
    bool strip_first;    /* METASPACE decoder: drop the first token's leading space */
} text_op;

enum prepend_scheme { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };

typedef struct added_token {
    char *content;
    size_t len;
    char *pattern;       /* what is matched: content, or for a "normalized" token when
                          * there is a normalizer, the normalized content (tokenizers
                          * matches those in the normalized text) */
    size_t plen;
    int32_t id;
    bool special, lstrip, rstrip, single_word;
    bool in_normalized;  /* matched in the normalized text (second pass) */
} added_token;

struct pv_tokenizer {
    char **pieces;       /* id -> text (NULL for unused ids); vocabulary and added tokens */
    bool *special;       /* id -> special added token */
    size_t n_ids;        /* highest id + 1 */
    size_t id_limit;     /* ids must stay below this (entries x 2 + ID_SLACK) */
    str_map vocab;       /* model vocabulary */
    merge_map merges;
    added_token *added;
    size_t n_added;
    int32_t byte_ids[256]; /* <0xNN> pieces, -1 when absent */
    bool byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;      /* -1: none (unknown characters are dropped, as in tokenizers) */
    text_op norm[MAX_OPS];
    int n_norm;
    bool has_metaspace;  /* Metaspace pre-tokenizer */
    char *meta_repl;     /* its replacement ("▁") */
    enum prepend_scheme meta_prepend;
    bool meta_split;
    bool has_normalized_added; /* some added token is matched after normalizing */
    text_op dec[MAX_OPS];
    int n_dec;
    bool dec_none;       /* no decoder: tokens joined by spaces */
    int32_t bos, eos;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

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

/* ---------- loading ---------- */

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
        set_err(err, errlen, "too many normalizer/decoder steps");
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
        set_err(err, errlen, "normalizer without a type");
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) {
            set_err(err, errlen, "normalizer Sequence without a \"normalizers\" list");
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
            set_err(err, errlen, "Prepend normalizer without a \"prepend\" string");
            return -1;
        }
        return add_op(tok->norm, &tok->n_norm, (text_op){.kind = OP_PREPEND, .a = strdup(p)}, err,
                      errlen);
    }
    if (strcmp(type, "Replace") == 0) {
        const char *p = replace_pattern(n), *c = json_string(n, "content");
        if (!p || !*p || !c) {
            set_err(err, errlen, "Replace normalizer: only a literal {\"String\": ...} pattern "
                                 "is supported");
            return -1;
        }
        return add_op(tok->norm, &tok->n_norm,
                      (text_op){.kind = OP_REPLACE, .a = strdup(p), .b = strdup(c)}, err, errlen);
    }
    set_err(err, errlen,
            "normalizer \"%s\" is not supported (pv reads LLaMA-style SentencePiece BPE: "
            "Prepend and Replace only)", type);
    return -1;
}

static int parse_metaspace(pv_tokenizer *tok, const cJSON *p, char *err, size_t errlen)
{
    if (tok->has_metaspace) {
        set_err(err, errlen, "more than one Metaspace pre-tokenizer");
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
            set_err(err, errlen, "Metaspace: unknown prepend_scheme \"%s\"", scheme);
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
        set_err(err, errlen, "pre_tokenizer without a type");
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) {
            set_err(err, errlen, "pre_tokenizer Sequence without a \"pretokenizers\" list");
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
        set_err(err, errlen, "pre_tokenizer \"ByteLevel\": this is a byte-level BPE (GPT-2, "
                             "LLaMA-3 family), not LLaMA's SentencePiece BPE");
    else
        set_err(err, errlen, "pre_tokenizer \"%s\" is not supported (pv reads LLaMA-style "
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
        set_err(err, errlen, "decoder without a type");
        return -1;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (!cJSON_IsArray(list)) {
            set_err(err, errlen, "decoder Sequence without a \"decoders\" list");
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
            set_err(err, errlen, "Replace decoder: only a literal {\"String\": ...} pattern "
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
            set_err(err, errlen, "Strip decoder needs \"content\", \"start\" and \"stop\"");
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
        set_err(err, errlen, "decoder \"%s\" is not supported (pv reads LLaMA-style "
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
        set_err(err, errlen, "token id %ld is far beyond the number of tokens", id);
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
    set_err(err, errlen, "out of memory");
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
        set_err(err, errlen, "model.vocab is not an object");
        return -1;
    }
    if (str_map_init(&tok->vocab, (size_t)cJSON_GetArraySize(vocab)) < 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        long id;
        if (!json_id(it, &id)) {
            set_err(err, errlen, "model.vocab: the id of \"%.40s\" is not a valid id", it->string);
            return -1;
        }
        if (set_piece(tok, cap, id, it->string, err, errlen) < 0)
            return -1;
        if (str_map_put(&tok->vocab, it->string, strlen(it->string), (int32_t)id) < 0) {
            set_err(err, errlen, "out of memory");
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
            set_err(err, errlen, "merge \"%.60s\" is not two pieces separated by one space", s);
            return -1;
        }
        left = s, llen = (size_t)(sp - s), right = sp + 1, rlen = strlen(sp + 1);
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
               cJSON_IsString(cJSON_GetArrayItem(m, 0)) && cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        left = cJSON_GetArrayItem(m, 0)->valuestring, llen = strlen(left);
        right = cJSON_GetArrayItem(m, 1)->valuestring, rlen = strlen(right);
    } else {
        set_err(err, errlen, "a merge is neither \"a b\" nor [\"a\", \"b\"]");
        return -1;
    }
    *a = str_map_get(&tok->vocab, left, llen);
    *b = str_map_get(&tok->vocab, right, rlen);
    char *cat = malloc(llen + rlen + 1);
    if (!cat) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cat, left, llen);
    memcpy(cat + llen, right, rlen);
    *merged = str_map_get(&tok->vocab, cat, llen + rlen);
    free(cat);
    if (*a < 0 || *b < 0 || *merged < 0) {
        set_err(err, errlen, "merge \"%.*s\" + \"%.*s\": a piece is not in the vocabulary",
                (int)(llen > 40 ? 40 : llen), left, (int)(rlen > 40 ? 40 : rlen), right);
        return -1;
    }
    return 0;
}

static int parse_merges(pv_tokenizer *tok, const cJSON *merges, char *err, size_t errlen)
{
    if (!cJSON_IsArray(merges)) {
        set_err(err, errlen, "model.merges is not a list");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(merges), cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    tok->merges.slots = calloc(cap, sizeof *tok->merges.slots);
    if (!tok->merges.slots) {
        set_err(err, errlen, "out of memory");
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
        set_err(err, errlen, "no \"model\" object: not a tokenizer.json");
        return -1;
    }
    const char *type = json_type(model);
    if (type && strcmp(type, "BPE") != 0) {
        set_err(err, errlen, "model type \"%s\" is not supported (pv reads LLaMA-style "
                             "SentencePiece BPE)", type);
        return -1;
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!type && !merges) {
        set_err(err, errlen, "model has no type and no merges: not a BPE tokenizer");
        return -1;
    }
    const char *cont = json_string(model, "continuing_subword_prefix");
    const char *suffix = json_string(model, "end_of_word_suffix");
    if ((cont && *cont) || (suffix && *suffix)) {
        set_err(err, errlen, "BPE with continuing_subword_prefix/end_of_word_suffix (another "
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
            set_err(err, errlen, "unk_token \"%.40s\" is not in the vocabulary", unk);
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
        set_err(err, errlen, "added_tokens is not a list");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    tok->added = calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const char *content = json_string(it, "content");
        long id;
        if (!content || !*content || !json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), &id)) {
            set_err(err, errlen, "added_tokens: an entry lacks \"content\" or a valid \"id\"");
            return -1;
        }
        added_token *a = &tok->added[tok->n_added];
        a->content = strdup(content);
        if (!a->content) {
            set_err(err, errlen, "out of memory");
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

static int prepare_added_patterns(pv_tokenizer *tok);

pv_tokenizer *pv_tokenizer_load_json(const char *json, size_t len, char *err, size_t errlen)
{
    set_err(err, errlen, "unknown error");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        set_err(err, errlen, "not a JSON object");
        cJSON_Delete(root);
        return NULL;
    }
    pv_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        set_err(err, errlen, "out of memory");
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
    if ((tok->has_metaspace && !tok->meta_repl) || prepare_added_patterns(tok) < 0)
        goto oom;
    if (tok->n_ids == 0) {
        set_err(err, errlen, "empty vocabulary");
        pv_tokenizer_free(tok);
        return NULL;
    }
    tok->bos = pv_tokenizer_piece_id(tok, "<s>");
    tok->eos = pv_tokenizer_piece_id(tok, "</s>");
    set_err(err, errlen, "ok");
    return tok;
oom:
    set_err(err, errlen, "out of memory");
    pv_tokenizer_free(tok);
    return NULL;
}

pv_tokenizer *pv_tokenizer_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
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
                set_err(err, errlen, "%s: out of memory", path);
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
        set_err(err, errlen, "%s: read error", path);
        return NULL;
    }
    char msg[256];
    pv_tokenizer *tok = pv_tokenizer_load_json(buf, len, msg, sizeof msg);
    free(buf);
    if (!tok)
        set_err(err, errlen, "%s: %s", path, msg);
    return tok;
}

/* ---------- growable buffers ---------- */

typedef struct ids_buf {
    int32_t *v;
    size_t n, cap;
    bool oom;
} ids_buf;

static void ids_push(ids_buf *b, int32_t id)
{
    if (b->oom)
        return;
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        int32_t *nv = realloc(b->v, ncap * sizeof *nv);
        if (!nv) {
            b->oom = true;
            return;
        }
        b->v = nv, b->cap = ncap;
    }
    b->v[b->n++] = id;
}

typedef struct str_buf {
    char *s;
    size_t n, cap;
    bool oom;
} str_buf;

static void sb_add(str_buf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->n + len + 1)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns, b->cap = ncap;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = 0;
}

static void sb_adds(str_buf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends s with every occurrence of `from` replaced by `to`. */
static void replace_all(str_buf *out, const char *s, size_t len, const char *from, const char *to)
{
    size_t flen = strlen(from), tlen = strlen(to);
    sb_add(out, "", 0);
    const char *end = s + len;
    while (s < end) {
        const char *hit = flen ? memmem(s, (size_t)(end - s), from, flen) : NULL;
        if (!hit) {
            sb_add(out, s, (size_t)(end - s));
            break;
        }
        sb_add(out, s, (size_t)(hit - s));
        sb_add(out, to, tlen);
        s = hit + flen;
    }
}

/* ---------- BPE over one word ---------- */

typedef struct symbol {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    bool gone;          /* merged into its left neighbour */
} symbol;

typedef struct candidate {
    int32_t rank, pos, merged;
} candidate;

typedef struct heap {
    candidate *v;
    size_t n, cap;
    bool oom;
} heap;

static bool cand_less(candidate a, candidate b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(heap *h, candidate c)
{
    if (h->oom)
        return;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        candidate *nv = realloc(h->v, ncap * sizeof *nv);
        if (!nv) {
            h->oom = true;
            return;
        }
        h->v = nv, h->cap = ncap;
    }
    size_t i = h->n++;
    while (i > 0 && cand_less(c, h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
}

static candidate heap_pop(heap *h)
{
    candidate top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        candidate cm = last;
        if (l < h->n && cand_less(h->v[l], cm))
            m = l, cm = h->v[l];
        if (r < h->n && cand_less(h->v[r], cm))
            m = r;
        if (m == i)
            break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

static void push_pair(const pv_tokenizer *tok, heap *h, const symbol *sy, int32_t pos)
{
    int32_t next = sy[pos].next;
    if (next < 0)
        return;
    const merge_slot *m = merge_get(&tok->merges, sy[pos].id, sy[next].id);
    if (m)
        heap_push(h, (candidate){m->rank, pos, m->merged});
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Appends the ids of one (valid UTF-8) word. Returns -1 on out of memory. */
static int bpe_word(const pv_tokenizer *tok, const char *w, size_t len, ids_buf *out)
{
    if (!len)
        return 0;
    if (tok->ignore_merges) {
        int32_t id = str_map_get(&tok->vocab, w, len);
        if (id >= 0) {
            ids_push(out, id);
            return out->oom ? -1 : 0;
        }
    }
    symbol *sy = malloc(len * sizeof *sy); /* at most one symbol per byte */
    if (!sy)
        return -1;
    int32_t n = 0;
    bool last_unk = false;
    for (size_t i = 0; i < len;) {
        size_t cl = utf8_len((unsigned char)w[i]);
        if (i + cl > len)
            cl = len - i;
        int32_t id = str_map_get(&tok->vocab, w + i, cl);
        if (id >= 0) {
            sy[n++] = (symbol){id, 0, 0, false};
            last_unk = false;
        } else {
            bool bytes_ok = tok->byte_fallback;
            for (size_t k = 0; bytes_ok && k < cl; k++)
                bytes_ok = tok->byte_ids[(unsigned char)w[i + k]] >= 0;
            if (bytes_ok) {
                for (size_t k = 0; k < cl; k++)
                    sy[n++] = (symbol){tok->byte_ids[(unsigned char)w[i + k]], 0, 0, false};
                last_unk = false;
            } else if (tok->unk_id >= 0 && !(tok->fuse_unk && last_unk)) {
                sy[n++] = (symbol){tok->unk_id, 0, 0, false};
                last_unk = true;
            }
        }
        i += cl;
    }
    for (int32_t i = 0; i < n; i++)
        sy[i].prev = i - 1, sy[i].next = i + 1 < n ? i + 1 : -1;
    heap h = {0};
    for (int32_t i = 0; i + 1 < n; i++)
        push_pair(tok, &h, sy, i);
    while (h.n && !h.oom) {
        candidate c = heap_pop(&h);
        symbol *l = &sy[c.pos];
        if (l->gone || l->next < 0)
            continue;
        /* Stale entry: the pair there changed since it was queued. */
        const merge_slot *m = merge_get(&tok->merges, l->id, sy[l->next].id);
        if (!m || m->merged != c.merged || m->rank != c.rank)
            continue;
        symbol *r = &sy[l->next];
        l->id = c.merged;
        r->gone = true;
        l->next = r->next;
        if (r->next >= 0)
            sy[r->next].prev = c.pos;
        if (l->prev >= 0)
            push_pair(tok, &h, sy, l->prev);
        push_pair(tok, &h, sy, c.pos);
    }
    bool oom = h.oom;
    free(h.v);
    for (int32_t i = n ? 0 : -1; i >= 0 && !oom; i = sy[i].next)
        ids_push(out, sy[i].id);
    free(sy);
    return oom || out->oom ? -1 : 0;
}

/* ---------- normalizer, pre-tokenizer, added tokens ---------- */

/* The normalizer's steps in order over one stretch of text. Its Prepend applies to
 * every non-empty stretch except one that continues earlier text. */
static void normalize(const pv_tokenizer *tok, const char *s, size_t len,
                      enum pv_tok_position pos, str_buf *out)
{
    str_buf cur = {0};
    sb_add(&cur, s, len);
    for (int i = 0; i < tok->n_norm && !cur.oom; i++) {
        const text_op *op = &tok->norm[i];
        str_buf next = {0};
        if (op->kind == OP_PREPEND) {
            if (pos != PV_TOK_CONTINUES && cur.n)
                sb_adds(&next, op->a);
            sb_add(&next, cur.s, cur.n);
        } else {
            replace_all(&next, cur.s, cur.n, op->a, op->b);
        }
        free(cur.s);
        cur = next;
    }
    *out = cur;
}

/* Added tokens marked "normalized" are looked for, as tokenizers does, in the
 * normalized text, spelled as the normalizer writes their content (with the older
 * spelling "<x>" becomes "▁<x>"). Without a normalizer that is the raw text. */
static int prepare_added_patterns(pv_tokenizer *tok)
{
    for (size_t k = 0; k < tok->n_added; k++) {
        added_token *a = &tok->added[k];
        if (!tok->n_norm)
            a->in_normalized = false;
        if (!a->in_normalized)
            continue;
        str_buf b;
        normalize(tok, a->content, a->len, PV_TOK_TEXT_START, &b);
        if (b.oom) {
            free(b.s);
            return -1;
        }
        a->pattern = b.s;
        a->plen = b.n;
        tok->has_normalized_added = true;
        /* tokenizers also decodes such a token as its normalized form ("▁</s>"). */
        char *piece = strdup(b.s);
        if (!piece)
            return -1;
        free(tok->pieces[a->id]);
        tok->pieces[a->id] = piece;
    }
    return 0;
}

/* The Metaspace pre-tokenizer, then BPE, over one piece of normalized text. */
static int pretokenize_bpe(const pv_tokenizer *tok, const char *s, size_t len,
                           enum pv_tok_position pos, ids_buf *out)
{
    if (!len)
        return 0;
    if (!tok->has_metaspace)
        return bpe_word(tok, s, len, out);
    const char *repl = tok->meta_repl;
    size_t rlen = strlen(repl);
    bool prepend = tok->meta_prepend == PREPEND_ALWAYS ? pos != PV_TOK_CONTINUES
                 : tok->meta_prepend == PREPEND_FIRST  ? pos == PV_TOK_TEXT_START
                                                       : false;
    str_buf replaced = {0}, cur = {0};
    replace_all(&replaced, s, len, " ", repl);
    /* tokenizers prepends only when the text does not already start with "▁". */
    if (prepend && !(replaced.n >= rlen && memcmp(replaced.s, repl, rlen) == 0))
        sb_add(&cur, repl, rlen);
    sb_add(&cur, replaced.s, replaced.n);
    bool oom = replaced.oom || cur.oom;
    free(replaced.s);
    if (oom) {
        free(cur.s);
        return -1;
    }
    int rc = 0;
    if (tok->meta_split) {
        /* Words start at each "▁" (the replacement goes with the word after it). */
        size_t start = 0;
        for (size_t i = 1; i <= cur.n && rc == 0; i++) {
            if (i == cur.n || (i + rlen <= cur.n && memcmp(cur.s + i, repl, rlen) == 0)) {
                rc = bpe_word(tok, cur.s + start, i - start, out);
                start = i;
            }
        }
    } else {
        rc = bpe_word(tok, cur.s, cur.n, out);
    }
    free(cur.s);
    return rc;
}

static int split_added(const pv_tokenizer *tok, const char *s, size_t len,
                       enum pv_tok_position pos, bool normalized, ids_buf *out);

/* One stretch of raw text between added tokens: normalized, then cut at the added
 * tokens that are matched in normalized text, then pre-tokenized and merged. */
static int encode_stretch(const pv_tokenizer *tok, const char *s, size_t len,
                          enum pv_tok_position pos, ids_buf *out)
{
    if (!len)
        return 0;
    str_buf norm;
    normalize(tok, s, len, pos, &norm);
    if (norm.oom) {
        free(norm.s);
        return -1;
    }
    int rc = tok->has_normalized_added ? split_added(tok, norm.s, norm.n, pos, true, out)
                                       : pretokenize_bpe(tok, norm.s, norm.n, pos, out);
    free(norm.s);
    return rc;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Code point ranges outside regex \w (letters, marks, decimal digits, connector
 * punctuation), which tokenizers' single_word test uses: punctuation, symbols,
 * spaces, other numbers such as "²", emoji. An approximation without Unicode
 * tables, good for the blocks text actually mixes in. */
static const uint32_t NON_WORD[][2] = {
    {0x80, 0xA9}, {0xAB, 0xB4}, {0xB6, 0xB9}, {0xBB, 0xBF},
    {0xD7, 0xD7}, {0xF7, 0xF7}, {0x2000, 0x206F}, {0x20A0, 0x20CF}, {0x2190, 0x2BFF},
    {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x303F}, {0xE000, 0xF8FF},
    {0xFE10, 0xFE6F}, {0xFF00, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40},
    {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF}, {0x1F000, 0x1FAFF},
};

/* The code point of the UTF-8 sequence at s[i] (valid text). */
static uint32_t code_point(const char *s, size_t i)
{
    const unsigned char *u = (const unsigned char *)s + i;
    if (u[0] < 0x80)
        return u[0];
    if (u[0] < 0xE0)
        return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    if (u[0] < 0xF0)
        return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
           (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
}

static bool is_word_cp(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    for (size_t k = 0; k < sizeof NON_WORD / sizeof *NON_WORD; k++)
        if (c >= NON_WORD[k][0] && c <= NON_WORD[k][1])
            return false;
    return true;
}

/* Whether the character ending just before s[i] / starting at s[i] is a word character. */
static bool word_before(const char *s, size_t i)
{
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return is_word_cp(code_point(s, k));
}

static bool word_at(const char *s, size_t i)
{
    return is_word_cp(code_point(s, i));
}

/* The added token of this pass (raw or normalized text) matching at s[i], the
 * longest, or NULL. */
static const added_token *added_at(const pv_tokenizer *tok, const char *s, size_t len, size_t i,
                                   bool normalized)
{
    const added_token *best = NULL;
    for (size_t k = 0; k < tok->n_added; k++) {
        const added_token *a = &tok->added[k];
        if (a->in_normalized != normalized || a->plen > len - i || (best && a->plen <= best->plen) ||
            s[i] != a->pattern[0] || memcmp(s + i, a->pattern, a->plen) != 0)
            continue;
        if (a->single_word && ((i > 0 && word_before(s, i)) ||
                               (i + a->plen < len && word_at(s, i + a->plen))))
            continue;
        best = a;
    }
    return best;
}

/* Cuts text at the added tokens of one pass, leftmost longest first. Raw pass: the
 * stretches between go through encode_stretch; normalized pass: they are already
 * normalized and go to the pre-tokenizer. The first stretch sits at `pos`, the
 * others right after an added token. */
static int split_added(const pv_tokenizer *tok, const char *s, size_t len,
                       enum pv_tok_position pos, bool normalized, ids_buf *out)
{
    size_t start = 0;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        const added_token *a = added_at(tok, s, len, i, normalized);
        if (!a) {
            i++;
            continue;
        }
        size_t end = i, after = i + a->plen;
        if (a->lstrip)
            while (end > start && is_space((unsigned char)s[end - 1]))
                end--;
        if (a->rstrip)
            while (after < len && is_space((unsigned char)s[after]))
                after++;
        rc = normalized ? pretokenize_bpe(tok, s + start, end - start, pos, out)
                        : encode_stretch(tok, s + start, end - start, pos, out);
        ids_push(out, a->id);
        pos = PV_TOK_AFTER_ADDED;
        start = i = after;
    }
    if (rc == 0)
        rc = normalized ? pretokenize_bpe(tok, s + start, len - start, pos, out)
                        : encode_stretch(tok, s + start, len - start, pos, out);
    return rc < 0 || out->oom ? -1 : 0;
}

/* A copy of text with each invalid UTF-8 byte replaced by U+FFFD, or NULL when
 * the text is valid (then the original is used). *ok false on out of memory. */
static char *sanitize_utf8(const char *text, size_t len, size_t *outlen, bool *ok)
{
    *ok = true;
    size_t bad = pv_utf8_invalid_at(text, len);
    if (bad == (size_t)-1)
        return NULL;
    str_buf b = {0};
    size_t i = 0;
    while (bad != (size_t)-1) {
        sb_add(&b, text + i, bad);
        sb_adds(&b, "\xef\xbf\xbd");
        i += bad + 1;
        bad = pv_utf8_invalid_at(text + i, len - i);
    }
    sb_add(&b, text + i, len - i);
    if (b.oom) {
        free(b.s);
        *ok = false;
        return NULL;
    }
    *outlen = b.n;
    return b.s;
}

long pv_tokenizer_encode_at(const pv_tokenizer *tok, const char *text, size_t len,
                            enum pv_tok_position pos, int32_t **ids)
{
    *ids = NULL;
    bool ok;
    size_t clen = len;
    char *clean = sanitize_utf8(text, len, &clen, &ok);
    if (!ok)
        return -1;
    const char *s = clean ? clean : text;
    len = clean ? clen : len;
    ids_buf out = {0};
    int rc = split_added(tok, s, len, pos, false, &out);
    free(clean);
    if (rc < 0 || out.oom) {
        free(out.v);
        return -1;
    }
    if (!out.v)
        out.v = malloc(sizeof *out.v); /* a valid pointer even for no ids */
    if (!out.v)
        return -1;
    *ids = out.v;
    return (long)out.n;
}

long pv_tokenizer_encode(const pv_tokenizer *tok, const char *text, bool add_bos, int32_t **ids)
{
    int32_t *body;
    long n = pv_tokenizer_encode_at(tok, text, strlen(text), PV_TOK_TEXT_START, &body);
    if (n < 0 || !add_bos || tok->bos < 0) {
        *ids = n < 0 ? NULL : body;
        return n;
    }
    int32_t *all = malloc(((size_t)n + 1) * sizeof *all);
    if (!all) {
        free(body);
        *ids = NULL;
        return -1;
    }
    all[0] = tok->bos;
    memcpy(all + 1, body, (size_t)n * sizeof *all);
    free(body);
    *ids = all;
    return n + 1;
}

/* ---------- decoding ---------- */

typedef struct str_list {
    char **v;
    size_t n;
} str_list;

static void list_free(str_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* The byte of a "<0xNN>" piece, or -1 (tokenizers' ByteFallback test). */
static int byte_piece(const char *p)
{
    if (strlen(p) != 6 || strncmp(p, "<0x", 3) != 0 || p[5] != '>')
        return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = p[k];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                     : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Applies one decoder step, replacing the list. Returns -1 on out of memory. */
static int decode_step(const text_op *op, str_list *l)
{
    str_list out = {calloc(l->n ? l->n : 1, sizeof(char *)), 0};
    if (!out.v)
        return -1;
    bool oom = false;
    if (op->kind == OP_FUSE) {
        str_buf b = {0};
        sb_add(&b, "", 0);
        for (size_t i = 0; i < l->n; i++)
            sb_adds(&b, l->v[i]);
        out.v[out.n++] = b.s;
        oom = b.oom;
    } else if (op->kind == OP_BYTE_FALLBACK) {
        for (size_t i = 0; i < l->n && !oom;) {
            if (byte_piece(l->v[i]) < 0) {
                out.v[out.n++] = strdup(l->v[i]);
                oom = !out.v[out.n - 1];
                i++;
                continue;
            }
            /* A run of byte pieces: one string if it is valid UTF-8, else U+FFFD each. */
            size_t j = i;
            str_buf b = {0};
            sb_add(&b, "", 0);
            for (; j < l->n && byte_piece(l->v[j]) >= 0; j++) {
                char c = (char)byte_piece(l->v[j]);
                sb_add(&b, &c, 1);
            }
            if (!b.oom && pv_utf8_invalid_at(b.s, b.n) != (size_t)-1) {
                b.n = 0;
                for (size_t k = i; k < j; k++)
                    sb_adds(&b, "\xef\xbf\xbd");
            }
            out.v[out.n++] = b.s;
            oom = b.oom;
            i = j;
        }
    } else {
        for (size_t i = 0; i < l->n && !oom; i++) {
            str_buf b = {0};
            const char *t = l->v[i];
            size_t tl = strlen(t);
            if (op->kind == OP_REPLACE) {
                replace_all(&b, t, tl, op->a, op->b);
            } else if (op->kind == OP_METASPACE) {
                replace_all(&b, t, tl, op->a, " ");
                if (i == 0 && op->strip_first && b.s && b.s[0] == ' ')
                    memmove(b.s, b.s + 1, b.n--);
            } else { /* OP_STRIP: up to start leading and stop trailing copies of a */
                size_t cl = strlen(op->a), lo = 0, hi = tl;
                for (int k = 0; k < op->start && hi - lo >= cl && memcmp(t + lo, op->a, cl) == 0; k++)
                    lo += cl;
                for (int k = 0; k < op->stop && hi - lo >= cl && memcmp(t + hi - cl, op->a, cl) == 0; k++)
                    hi -= cl;
                sb_add(&b, t + lo, hi - lo);
            }
            out.v[out.n++] = b.s;
            oom = b.oom;
        }
    }
    for (size_t i = 0; i < out.n; i++)
        oom |= !out.v[i];
    list_free(l);
    *l = out;
    return oom ? -1 : 0;
}

char *pv_tokenizer_decode(const pv_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special)
{
    str_list l = {calloc(n ? n : 1, sizeof(char *)), 0};
    if (!l.v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *p = pv_tokenizer_piece(tok, ids[i]);
        if (!p || (skip_special && tok->special[ids[i]]))
            continue;
        if (!(l.v[l.n++] = strdup(p))) {
            list_free(&l);
            return NULL;
        }
    }
    for (int k = 0; k < tok->n_dec; k++) {
        if (decode_step(&tok->dec[k], &l) < 0) {
            list_free(&l);
            return NULL;
        }
    }
    str_buf b = {0};
    sb_add(&b, "", 0);
    for (size_t i = 0; i < l.n; i++) {
        if (tok->dec_none && i > 0)
            sb_add(&b, " ", 1);
        sb_adds(&b, l.v[i]);
    }
    list_free(&l);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---------- lookups ---------- */

int32_t pv_tokenizer_piece_id(const pv_tokenizer *tok, const char *piece)
{
    size_t len = strlen(piece);
    for (size_t k = 0; k < tok->n_added; k++)
        if (tok->added[k].len == len && memcmp(tok->added[k].content, piece, len) == 0)
            return tok->added[k].id;
    return str_map_get(&tok->vocab, piece, len);
}

const char *pv_tokenizer_piece(const pv_tokenizer *tok, int32_t id)
{
    return id >= 0 && (size_t)id < tok->n_ids ? tok->pieces[id] : NULL;
}

bool pv_tokenizer_is_special(const pv_tokenizer *tok, int32_t id)
{
    return id >= 0 && (size_t)id < tok->n_ids && tok->special[id];
}

int32_t pv_tokenizer_bos(const pv_tokenizer *tok)
{
    return tok->bos;
}

int32_t pv_tokenizer_eos(const pv_tokenizer *tok)
{
    return tok->eos;
}

size_t pv_tokenizer_vocab_size(const pv_tokenizer *tok)
{
    return tok->n_ids;
}
