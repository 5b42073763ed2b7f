/* Private to the tokenizer (lib/tokenizer.c encodes and decodes,
 * lib/tokenizer_json.c reads tokenizer.json): the tokenizer's fields, its two hash
 * maps and the string buffers both halves use. */
#ifndef PV_TOKENIZER_IMPL_H
#define PV_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

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

static inline uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static inline int str_map_init(str_map *m, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap = m->slots ? cap : 0;
    m->n = 0;
    return m->slots ? 0 : -1;
}

static inline int32_t str_map_get(const str_map *m, const char *s, size_t len)
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
static inline int str_map_put(str_map *m, const char *s, size_t len, int32_t id)
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

static inline void str_map_free(str_map *m)
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

static inline uint64_t merge_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static inline size_t merge_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static inline const merge_slot *merge_get(const merge_map *m, int32_t a, int32_t b)
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
static inline void merge_put(merge_map *m, int32_t a, int32_t b, int32_t rank, int32_t merged)
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

/* ---------- growable buffers ---------- */

typedef struct ids_buf {
    int32_t *v;
    size_t n, cap;
    bool oom;
} ids_buf;

static inline void ids_push(ids_buf *b, int32_t id)
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

static inline void sb_add(str_buf *b, const char *s, size_t len)
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

static inline void sb_adds(str_buf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends s with every occurrence of `from` replaced by `to`. */
static inline void replace_all(str_buf *out, const char *s, size_t len, const char *from,
                               const char *to)
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

/* The normalizer's steps over one stretch of text (lib/tokenizer.c). */
void pv_tokenizer_normalize(const pv_tokenizer *tok, const char *s, size_t len,
                            enum pv_tok_position pos, str_buf *out);
/* Spells the added tokens marked "normalized" as the normalizer writes them
 * (lib/tokenizer.c); -1 on out of memory. */
int pv_tokenizer_prepare_added(pv_tokenizer *tok);

#endif
