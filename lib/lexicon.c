/* The object lexicon (lexicon.h): a hash table from normalised phrases
 * ("hot dog", "baby elephant", "seat") to categories, and a left-to-right,
 * longest-phrase-first scan of the words of a text.
 *
 * CHAIR's published code merges a fixed list of two-word names and then looks
 * single words up. Here every multi-word entry is a phrase, and the longest one
 * starting at a word wins, which gives the same result for CHAIR's two-word
 * names (its one three-word name, "stove top oven", is one mention here and
 * two there). Its special rules become phrases as well:
 *  - "baby X" / "adult X" for any word X of an animal category (bird ... giraffe)
 *    count as that animal, and "baby animal", "baby cub" as nothing (CHAIR lists
 *    only the category names as X; the other words of those categories are
 *    added here so that "baby goat" is not read as a person and a sheep);
 *  - "passenger X" for a word X of airplane, train, bus or boat counts as that
 *    vehicle (CHAIR: jet and train only);
 *  - "bow tie" -> tie, "toilet seat" -> toilet;
 *  - "train track" and "home plate" are words of no category, so the train of a
 *    train track is not an object, as in CHAIR;
 *  - the word "seat" is not a mention when the text mentions a toilet.
 * A phrase of "no category" is stored with category BLOCK. */
#include "lexicon.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"

enum {
    NONE = -2,  /* the key only starts longer phrases */
    BLOCK = -1, /* a phrase that names no category and hides its words */
};
enum { FLAG_SEAT = 1 };
#define MAX_PHRASE_WORDS 4
#define KEY_MAX 256

typedef struct entry {
    char *key;           /* normalised phrase; NULL = empty slot */
    uint64_t hash;       /* of key */
    size_t len;          /* of key */
    int cat;             /* category, BLOCK or NONE */
    unsigned char flags;
    unsigned char span;  /* most words of a phrase that starts with this key (1 if none) */
} entry;

struct pv_lexicon {
    char **names;
    int ncat, capcat;
    entry *slots;
    size_t nslots, used;
    int toilet; /* category of "toilet", or -1 */
    bool stable; /* every key normalises to itself (pv_lexicon_lookup's fast path) */
    /* Bits set by the first four (lower-cased) bytes of the words of all keys
     * and of their plural forms, hashed to 16 bits: a text word whose bit is
     * clear is part of no key and is not normalised at all. Singularising only
     * rewrites the end of a word, so it keeps the first four bytes except when
     * the stem is shorter than that (cups, ponies, oxen) or for irregular
     * plurals (men, mice, knives, wives); every such form of every key word is
     * marked too (mark_leads). */
    unsigned char lead[65536 / 8];
};

/* prefix_mask[n]: a word whose first n bytes (in memory order) are all ones. */
static const union {
    unsigned char bytes[8];
    uint64_t u64;
    uint32_t u32;
} prefix_mask[9] = {
    {{0}}, {{255}}, {{255, 255}}, {{255, 255, 255}}, {{255, 255, 255, 255}},
    {{255, 255, 255, 255, 255}}, {{255, 255, 255, 255, 255, 255}},
    {{255, 255, 255, 255, 255, 255, 255}}, {{255, 255, 255, 255, 255, 255, 255, 255}},
};

/* Hashes s[0..n) eight bytes at a time: keys are short words and this runs for
 * every candidate word of every text. With `padded`, the caller guarantees that
 * the bytes up to the next multiple of 8 past n may be read (they are masked
 * off), which saves a variable-length copy of the tail; the value is the same. */
static inline uint64_t hash_bytes(const char *s, size_t n, bool padded)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    while (n >= 8) {
        uint64_t chunk;
        memcpy(&chunk, s, 8);
        h = (h ^ chunk) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    if (padded) {
        memcpy(&tail, s, 8);
        tail &= prefix_mask[n].u64;
    } else {
        memcpy(&tail, s, n);
    }
    h = (h ^ tail ^ ((uint64_t)n << 56)) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
}

static inline uint64_t hash_len(const char *s, size_t n) { return hash_bytes(s, n, false); }


/* The slot of key[0..len) (its hash h): its entry, or the empty slot where it
 * would go. */
static inline entry *find_hashed(const pv_lexicon *lex, const char *key, size_t len, uint64_t h)
{
    size_t mask = lex->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        entry *e = &lex->slots[i];
        if (!e->key || (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0))
            return e;
    }
}

static entry *find(const pv_lexicon *lex, const char *key)
{
    size_t len = strlen(key);
    return find_hashed(lex, key, len, hash_len(key, len));
}

static int grow(pv_lexicon *lex)
{
    size_t old_n = lex->nslots;
    entry *old = lex->slots;
    size_t n = old_n ? old_n * 2 : 1024;
    entry *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    lex->slots = slots;
    lex->nslots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].key)
            *find_hashed(lex, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* The entry of `key`, created (as NONE, span 1) when absent; NULL when out of memory. */
static entry *upsert(pv_lexicon *lex, const char *key)
{
    if ((lex->used + 1) * 2 > lex->nslots && grow(lex) != 0)
        return NULL;
    entry *e = find(lex, key);
    if (!e->key) {
        if (!(e->key = strdup(key)))
            return NULL;
        e->len = strlen(key);
        e->hash = hash_len(key, e->len);
        e->cat = NONE;
        e->flags = 0;
        e->span = 1;
        lex->used++;
    }
    return e;
}

size_t pv_lexicon_normalize(const char *phrase, char *buf, size_t bufsize)
{
    pv_word w[MAX_PHRASE_WORDS * 4];
    size_t len = strlen(phrase), n = pv_words(phrase, len, w, sizeof w / sizeof *w), out = 0;
    if (bufsize == 0)
        return 0;
    buf[0] = '\0';
    if (n > sizeof w / sizeof *w)
        n = sizeof w / sizeof *w;
    for (size_t i = 0; i < n; i++) {
        char low[PV_WORD_MAX + 1], sing[PV_WORD_MAX + 8];
        size_t wl = w[i].end - w[i].start;
        if (wl > PV_WORD_MAX)
            wl = PV_WORD_MAX;
        pv_lower(phrase + w[i].start, wl, low, sizeof low);
        pv_singular(low, sing, sizeof sing);
        size_t sl = strlen(sing);
        if (out + (i > 0) + sl + 1 > bufsize)
            break;
        if (i > 0)
            buf[out++] = ' ';
        memcpy(buf + out, sing, sl + 1);
        out += sl;
    }
    return out;
}

static size_t count_words(const char *key)
{
    size_t n = 1;
    for (; *key; key++)
        n += *key == ' ';
    return n;
}

/* The 16-bit index of the first four bytes of w[0..len), lower-cased. `avail`
 * bytes may be read from w (at least len). */
static inline unsigned lead_index(const char *w, size_t len, size_t avail)
{
    uint32_t v = 0;
    if (avail >= 4)
        memcpy(&v, w, 4);
    else
        memcpy(&v, w, avail);
    v &= prefix_mask[len < 4 ? len : 4].u32;
    /* ASCII upper to lower case in all four bytes at once (bit 5 set on 'A'..'Z') */
    uint32_t low7 = v & 0x7F7F7F7Fu;
    uint32_t upper = ~v & ((low7 + 0x3F3F3F3Fu) ^ (low7 + 0x25252525u)) & 0x80808080u;
    v |= upper >> 2;
    return (v * 2654435761u) >> 16;
}

static void mark_lead(pv_lexicon *lex, const char *w)
{
    size_t len = strlen(w);
    unsigned i = lead_index(w, len, len + 1);
    lex->lead[i >> 3] |= (unsigned char)(1u << (i & 7));
}

/* Marks each word of a key and every plural form that singularises to it:
 * pv_plural's, and the -s, -es, -ies (for -y) and -ves (for -f, -fe) forms. */
static void mark_leads(pv_lexicon *lex, const char *key)
{
    while (*key) {
        char word[KEY_MAX], form[KEY_MAX + 8];
        size_t k = strcspn(key, " ");
        memcpy(word, key, k);
        word[k] = '\0';
        mark_lead(lex, word);
        mark_lead(lex, pv_plural(word, form, sizeof form));
        snprintf(form, sizeof form, "%ss", word);
        mark_lead(lex, form);
        snprintf(form, sizeof form, "%ses", word);
        mark_lead(lex, form);
        snprintf(form, sizeof form, "%sses", word); /* busses */
        mark_lead(lex, form);
        size_t trim = k > 0 && word[k - 1] == 'y' ? 1 : k > 0 && word[k - 1] == 'f' ? 1
                      : k > 1 && word[k - 2] == 'f' && word[k - 1] == 'e' ? 2 : 0;
        if (trim) {
            snprintf(form, sizeof form, "%.*s%s", (int)(k - trim), word,
                     word[k - 1] == 'y' ? "ies" : "ves");
            mark_lead(lex, form);
        }
        key += k;
        while (*key == ' ')
            key++;
    }
}

/* Maps a normalised phrase to `cat` (later definitions win, like the dict in
 * CHAIR's code) and records its length on the entry of its first word. */
static int add_phrase(pv_lexicon *lex, const char *key, int cat)
{
    size_t nw = count_words(key);
    if (nw > MAX_PHRASE_WORDS)
        return 0; /* longer than any scan looks: cannot match */
    entry *e = upsert(lex, key);
    if (!e)
        return -1;
    e->cat = cat;
    mark_leads(lex, key);
    if (nw > 1) {
        char first[KEY_MAX];
        size_t k = (size_t)(strchr(key, ' ') - key);
        memcpy(first, key, k);
        first[k] = '\0';
        entry *f = upsert(lex, first);
        if (!f)
            return -1;
        if (f->span < nw)
            f->span = (unsigned char)nw;
    }
    return 0;
}

static int add_category(pv_lexicon *lex, const char *name)
{
    if (lex->ncat == lex->capcat) {
        int cap = lex->capcat ? lex->capcat * 2 : 128;
        char **names = realloc(lex->names, (size_t)cap * sizeof *names);
        if (!names)
            return -1;
        lex->names = names;
        lex->capcat = cap;
    }
    if (!(lex->names[lex->ncat] = strdup(name)))
        return -1;
    return lex->ncat++;
}

void pv_lexicon_free(pv_lexicon *lex)
{
    if (!lex)
        return;
    for (int i = 0; i < lex->ncat; i++)
        free(lex->names[i]);
    free(lex->names);
    for (size_t i = 0; i < lex->nslots; i++)
        free(lex->slots[i].key);
    free(lex->slots);
    free(lex);
}

int pv_lexicon_size(const pv_lexicon *lex) { return lex->ncat; }

const char *pv_lexicon_name(const pv_lexicon *lex, int cat)
{
    return cat >= 0 && cat < lex->ncat ? lex->names[cat] : NULL;
}

int pv_lexicon_category(const pv_lexicon *lex, const char *name)
{
    for (int i = 0; i < lex->ncat; i++)
        if (strcmp(lex->names[i], name) == 0)
            return i;
    return -1;
}

int pv_lexicon_lookup(const pv_lexicon *lex, const char *phrase)
{
    /* A phrase that is a key as it stands ("dog", "dining table") is its own
     * normal form when every key is: skip the normalisation. */
    if (lex->stable) {
        const entry *e = find(lex, phrase);
        if (e->key && e->cat >= 0)
            return e->cat;
    }
    char key[KEY_MAX];
    if (pv_lexicon_normalize(phrase, key, sizeof key) == 0)
        return -1;
    const entry *e = find(lex, key);
    return e->key && e->cat >= 0 ? e->cat : -1;
}

/* ---- building ---------------------------------------------------------------- */

/* Parses one synonyms-file line: entries separated by commas, surrounding
 * blanks trimmed (the published file has stray double and trailing spaces),
 * lower-cased. Returns 0, 1 for a blank line, or -1 with a message. */
static int add_line(pv_lexicon *lex, const char *line, char *err, size_t errlen, long lineno)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '\n' || *p == '\r')
        return 1;
    int cat = -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *s = p;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        const char *e = end;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            e--;
        char raw[KEY_MAX], key[KEY_MAX];
        if ((size_t)(e - s) >= sizeof raw) {
            snprintf(err, errlen, "line %ld: entry longer than %d bytes", lineno, KEY_MAX - 1);
            return -1;
        }
        pv_lower(s, (size_t)(e - s), raw, sizeof raw);
        if (raw[0] != '\0') {
            if (pv_lexicon_normalize(raw, key, sizeof key) == 0) {
                snprintf(err, errlen, "line %ld: \"%s\" has no word", lineno, raw);
                return -1;
            }
            if (cat < 0 && (cat = add_category(lex, raw)) < 0)
                goto oom;
            if (add_phrase(lex, key, cat) != 0)
                goto oom;
        } else if (cat < 0) {
            snprintf(err, errlen, "line %ld: empty category name", lineno);
            return -1;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
oom:
    snprintf(err, errlen, "line %ld: out of memory", lineno);
    return -1;
}

/* Adds "<prefix> <key>" -> cat for every single- or multi-word key of `cat`. */
static int add_prefixed(pv_lexicon *lex, int cat, const char *const *prefixes)
{
    size_t n = 0;
    char **keys = malloc(lex->used * sizeof *keys);
    if (!keys)
        return -1;
    for (size_t i = 0; i < lex->nslots; i++)
        if (lex->slots[i].key && lex->slots[i].cat == cat)
            keys[n++] = lex->slots[i].key;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        for (const char *const *p = prefixes; *p && rc == 0; p++) {
            char key[KEY_MAX];
            if (snprintf(key, sizeof key, "%s %s", *p, keys[i]) < (int)sizeof key)
                rc = add_phrase(lex, key, cat);
        }
    free(keys);
    return rc;
}

static int add_rules(pv_lexicon *lex)
{
    static const char *const animals[] = {"bird", "cat", "dog", "horse", "sheep", "cow",
                                          "elephant", "bear", "zebra", "giraffe", NULL};
    static const char *const vehicles[] = {"airplane", "train", "bus", "boat", NULL};
    static const char *const age[] = {"baby", "adult", NULL};
    static const char *const passenger[] = {"passenger", NULL};
    for (const char *const *a = animals; *a; a++) {
        int c = pv_lexicon_category(lex, *a);
        if (c >= 0 && add_prefixed(lex, c, age) != 0)
            return -1;
    }
    for (const char *const *v = vehicles; *v; v++) {
        int c = pv_lexicon_category(lex, *v);
        if (c >= 0 && add_prefixed(lex, c, passenger) != 0)
            return -1;
    }
    static const char *const nothing[] = {"baby animal", "adult animal", "baby cub", "adult cub",
                                          "train track", "home plate", NULL};
    for (const char *const *k = nothing; *k; k++)
        if (add_phrase(lex, *k, BLOCK) != 0)
            return -1;
    int tie = pv_lexicon_category(lex, "tie");
    lex->toilet = pv_lexicon_category(lex, "toilet");
    if ((tie >= 0 && add_phrase(lex, "bow tie", tie) != 0) ||
        (lex->toilet >= 0 && add_phrase(lex, "toilet seat", lex->toilet) != 0))
        return -1;
    mark_lead(lex, "dice"); /* die: the one irregular plural pv_plural does not give */
    entry *seat = upsert(lex, "seat");
    if (!seat)
        return -1;
    seat->flags |= FLAG_SEAT;
    return 0;
}

pv_lexicon *pv_lexicon_from_lines(const char *const *lines, char *err, size_t errlen)
{
    pv_lexicon *lex = calloc(1, sizeof *lex);
    if (!lex || grow(lex) != 0) {
        snprintf(err, errlen, "out of memory");
        free(lex);
        return NULL;
    }
    for (long i = 0; lines[i]; i++)
        if (add_line(lex, lines[i], err, errlen, i + 1) < 0) {
            pv_lexicon_free(lex);
            return NULL;
        }
    if (lex->ncat == 0) {
        snprintf(err, errlen, "no categories");
        pv_lexicon_free(lex);
        return NULL;
    }
    if (add_rules(lex) != 0) {
        snprintf(err, errlen, "out of memory");
        pv_lexicon_free(lex);
        return NULL;
    }
    lex->stable = true;
    for (size_t i = 0; i < lex->nslots && lex->stable; i++) {
        char key[KEY_MAX];
        if (lex->slots[i].key) {
            pv_lexicon_normalize(lex->slots[i].key, key, sizeof key);
            lex->stable = strcmp(key, lex->slots[i].key) == 0;
        }
    }
    return lex;
}

pv_lexicon *pv_lexicon_builtin(void)
{
    char err[256];
    return pv_lexicon_from_lines(pv_lexicon_builtin_lines, err, sizeof err);
}

pv_lexicon *pv_lexicon_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    size_t n = 0, cap = 0;
    char **lines = NULL, *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) >= 0) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 128;
            char **l = realloc(lines, cap * sizeof *l);
            if (!l)
                break;
            lines = l;
        }
        lines[n++] = line;
        line = NULL;
        linecap = 0;
    }
    free(line);
    bool failed = ferror(f) || (n > 0 && !lines);
    fclose(f);
    pv_lexicon *lex = NULL;
    if (failed) {
        snprintf(err, errlen, "%s: read error", path);
    } else {
        char msg[256];
        const char *const none[] = {NULL};
        if (lines)
            lines[n] = NULL;
        lex = pv_lexicon_from_lines(lines ? (const char *const *)lines : none, msg, sizeof msg);
        if (!lex)
            snprintf(err, errlen, "%s: %s", path, msg);
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return lex;
}

/* ---- finding mentions ----------------------------------------------------------- */

size_t pv_lexicon_mentions(const pv_lexicon *lex, const char *text, pv_mention *out, size_t max)
{
    return pv_lexicon_scan(lex, text, out, max, NULL);
}

size_t pv_lexicon_scan(const pv_lexicon *lex, const char *text, pv_mention *out, size_t max,
                       size_t *nwords)
{
    enum { STACK = 256, NORM = 48 /* longer words are in no key */ };
    size_t len = strlen(text);
    pv_word stack_words[STACK];
    size_t stack_idx[STACK];
    char stack_norm[STACK][NORM];
    unsigned char stack_nlen[STACK];
    pv_word *w = stack_words;
    size_t *idx = stack_idx;
    char (*norm)[NORM] = stack_norm;
    unsigned char *nlen = stack_nlen;
    size_t nw = pv_words(text, len, stack_words, STACK);
    if (nw > STACK) { /* one block for the four arrays */
        char *block = malloc(nw * (sizeof *w + sizeof *idx + sizeof *norm + 1));
        if (!block)
            return 0;
        w = (pv_word *)block;
        idx = (size_t *)(w + nw);
        norm = (char (*)[NORM])(idx + nw);
        nlen = (unsigned char *)(norm + nw);
        pv_words(text, len, w, nw);
    }
    if (nwords)
        *nwords = nw;

    /* The words that may belong to a key, in order: their indices are packed
     * without a branch (the test is unpredictable in running text), then only
     * they are normalised. norm[k] and nlen[k] belong to word idx[k]. */
    size_t np = 0;
    for (size_t i = 0; i < nw; i++) {
        size_t wl = w[i].end - w[i].start;
        unsigned li = lead_index(text + w[i].start, wl, len + 1 - w[i].start);
        idx[np] = i;
        np += (wl < NORM) & (lex->lead[li >> 3] >> (li & 7));
    }
    for (size_t k = 0; k < np; k++) {
        const pv_word *x = &w[idx[k]];
        nlen[k] = (unsigned char)pv_word_normalize(text + x->start, x->end - x->start, norm[k],
                                                   NORM);
    }

    size_t found = 0, seats_beyond = 0;
    bool toilet = false;
    /* Mentions are written to out as found; "seat" ones are marked with
     * category -1 - cat and fixed up at the end, once we know about a toilet. */
    size_t k = 0;
    while (k < np) {
        /* rows of NORM bytes: reading up to the next multiple of 8 stays inside */
        const entry *e = find_hashed(lex, norm[k], nlen[k], hash_bytes(norm[k], nlen[k], true));
        size_t used = 0;
        int cat = NONE;
        unsigned flags = 0;
        if (e->key) {
            /* Longest phrase first; its words must be consecutive words of the
             * text (a word left out above belongs to no phrase). */
            for (size_t span = e->span; span >= 2 && !used; span--) {
                if (k + span > np || idx[k + span - 1] != idx[k] + span - 1)
                    continue;
                char key[KEY_MAX + 8]; /* + 8: hash_bytes may read past the end */
                size_t kl = 0;
                bool fits = true;
                for (size_t j = 0; j < span && fits; j++) {
                    size_t l = nlen[k + j];
                    if (kl + l + 2 > sizeof key) {
                        fits = false;
                    } else {
                        if (j)
                            key[kl++] = ' ';
                        memcpy(key + kl, norm[k + j], l + 1);
                        kl += l;
                    }
                }
                const entry *p = fits ? find_hashed(lex, key, kl, hash_bytes(key, kl, true)) : NULL;
                if (p && p->key && p->cat != NONE) {
                    used = span;
                    cat = p->cat;
                    flags = p->flags;
                }
            }
            if (!used && e->cat != NONE) {
                used = 1;
                cat = e->cat;
                flags = e->flags;
            }
        }
        if (!used) {
            k++;
            continue;
        }
        if (cat >= 0) {
            if (cat == lex->toilet)
                toilet = true;
            if (found < max)
                out[found] = (pv_mention){(flags & FLAG_SEAT) ? -1 - cat : cat, w[idx[k]].start,
                                          w[idx[k + used - 1]].end};
            else if (flags & FLAG_SEAT)
                seats_beyond++;
            found++;
        }
        k += used;
    }
    /* "seat" beside "toilet" is the toilet's seat, not a chair (CHAIR's rule). */
    size_t kept = 0, stored = found < max ? found : max;
    for (size_t m = 0; m < stored; m++) {
        pv_mention x = out[m];
        if (x.category < 0) {
            if (toilet)
                continue;
            x.category = -1 - x.category;
        }
        out[kept++] = x;
    }
    /* Mentions that did not fit are counted, less the seats a toilet removes. */
    kept += found - stored - (toilet ? seats_beyond : 0);
    if (w != stack_words)
        free(w);
    return kept;
}
