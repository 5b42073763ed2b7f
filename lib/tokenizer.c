/* Encoding and decoding with LLaMA's SentencePiece-style BPE (loaded from a
 * Hugging Face tokenizer.json by tokenizer_json.c).
 *
 * Encoding follows the `tokenizers` library step by step:
 *   1. added tokens (<s>, </s>, <image>, ...) are found in the raw text, leftmost
 *      longest first, and cut it into stretches;
 *   2. each stretch goes through the normalizer (Prepend / Replace: the older
 *      spelling of the leading-space rule), is cut again at the added tokens marked
 *      "normalized" when there is a normalizer, and goes through the Metaspace
 *      pre-tokenizer (spaces become "▁", a "▁" is prepended by prepend_scheme,
 *      optional split before each "▁");
 *   3. each word is split into characters (unknown ones into <0xNN> byte pieces)
 *      and merged by BPE, always the lowest-ranked adjacent pair first (leftmost on
 *      ties), with a binary heap over a linked list: O(n log n) per word.
 * Decoding runs the tokenizer.json decoder chain (Replace, ByteFallback, Fuse,
 * Strip, or the older Metaspace decoder) over the pieces. */

#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "utf8.h"

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
void pv_tokenizer_normalize(const pv_tokenizer *tok, const char *s, size_t len,
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
int pv_tokenizer_prepare_added(pv_tokenizer *tok)
{
    for (size_t k = 0; k < tok->n_added; k++) {
        added_token *a = &tok->added[k];
        if (!tok->n_norm)
            a->in_normalized = false;
        if (!a->in_normalized)
            continue;
        str_buf b;
        pv_tokenizer_normalize(tok, a->content, a->len, PV_TOK_TEXT_START, &b);
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
    pv_tokenizer_normalize(tok, s, len, pos, &norm);
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
