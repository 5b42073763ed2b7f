#include "hallucinate.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diag.h"
#include "vocab.h"

#define MAX_MENTIONS 512
#define OBJECT_POOL 5 /* inserted objects are drawn from this many best candidates */

/* ---- small helpers ---------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* A growable string. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, b->cap);
        if (!p)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        b->s = p;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static char *sb_take(strbuf *b)
{
    if (!b->s)
        sb_add(b, "", 0);
    return b->s;
}

const char *pv_edit_type_name(int type)
{
    switch (type) {
    case PV_EDIT_OBJECT: return "object";
    case PV_EDIT_ATTRIBUTE: return "attribute";
    case PV_EDIT_RELATION: return "relation";
    default: return "?";
    }
}

unsigned pv_edit_types_parse(const char *list)
{
    unsigned mask = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 6 && strncmp(p, "object", 6) == 0)
            mask |= PV_EDIT_OBJECT;
        else if (n == 9 && strncmp(p, "attribute", 9) == 0)
            mask |= PV_EDIT_ATTRIBUTE;
        else if (n == 8 && strncmp(p, "relation", 8) == 0)
            mask |= PV_EDIT_RELATION;
        else if (n == 3 && strncmp(p, "all", 3) == 0)
            mask |= PV_EDIT_ALL;
        else
            return 0;
        if (!comma)
            return mask;
        p = comma + 1;
    }
}

/* ---- the random stream ------------------------------------------------------ */

uint64_t pv_hal_stream_start(uint64_t seed, const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a-64 */
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return seed ^ h;
}

uint64_t pv_hal_next(uint64_t *state) /* splitmix64 (Steele, Lea, Flood 2014) */
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t below(uint64_t *rng, size_t n) { return (size_t)((pv_hal_next(rng) >> 11) % n); }

/* ---- the text --------------------------------------------------------------- */

typedef struct span {
    size_t s, e;
} span;

/* The description being rewritten and what is known about it. */
typedef struct doc {
    const char *text;
    size_t len;
    span *words;
    size_t nwords;
    pv_mention mentions[MAX_MENTIONS];
    size_t nmentions;
    size_t last_pronoun; /* see find_last_pronoun */
    const pv_lexicon *lex;
} doc;

static bool is_word_char(char c) { return isalnum((unsigned char)c) || c == '\''; }

static void doc_init(doc *d, const pv_lexicon *lex, const char *text)
{
    d->text = text;
    d->len = strlen(text);
    d->lex = lex;
    d->words = xmalloc((d->len / 2 + 1) * sizeof *d->words);
    d->nwords = 0;
    for (size_t i = 0; i < d->len;) {
        if (!is_word_char(text[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < d->len && is_word_char(text[i]))
            i++;
        d->words[d->nwords++] = (span){s, i};
    }
    size_t n = pv_lexicon_mentions(lex, text, d->mentions, MAX_MENTIONS);
    d->nmentions = n < MAX_MENTIONS ? n : MAX_MENTIONS;
}

static bool word_is(const doc *d, size_t w, const char *s)
{
    size_t n = d->words[w].e - d->words[w].s;
    return strlen(s) == n && strncasecmp(d->text + d->words[w].s, s, n) == 0;
}

static const char *word_ptr(const doc *d, size_t w) { return d->text + d->words[w].s; }
static size_t word_len(const doc *d, size_t w) { return d->words[w].e - d->words[w].s; }

/* True when only spaces separate word a from the next word b (same phrase). */
static bool adjacent(const doc *d, size_t a, size_t b)
{
    for (size_t i = d->words[a].e; i < d->words[b].s; i++)
        if (d->text[i] != ' ')
            return false;
    return true;
}

static bool in_mention(const doc *d, size_t s, size_t e)
{
    for (size_t i = 0; i < d->nmentions; i++)
        if (s < d->mentions[i].end && d->mentions[i].start < e)
            return true;
    return false;
}

/* Index of the word starting at byte `pos`, or (size_t)-1. */
static size_t word_at(const doc *d, size_t pos)
{
    size_t lo = 0, hi = d->nwords;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->words[mid].s < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nwords && d->words[lo].s == pos ? lo : (size_t)-1;
}

/* ---- candidate edits -------------------------------------------------------- */

typedef struct cand {
    int type;
    size_t s, e;   /* replaced bytes of the original; s == e for an insertion */
    char *repl;    /* replacement text */
    char *from, *to, *object;
    bool used;
} cand;

typedef struct cands {
    cand *v;
    size_t n, cap;
} cands;

static cand *cand_push(cands *c, int type, size_t s, size_t e)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        cand *p = realloc(c->v, c->cap * sizeof *p);
        if (!p)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        c->v = p;
    }
    cand *x = &c->v[c->n++];
    *x = (cand){.type = type, .s = s, .e = e};
    return x;
}

static void cand_free(cand *x)
{
    free(x->repl);
    free(x->from);
    free(x->to);
    free(x->object);
}

/* Rewrites bytes [s, e) of the text with word replacements `patch` (sorted, inside). */
typedef struct patch {
    size_t s, e;
    const char *with;
} patch;

static char *patched(const doc *d, size_t s, size_t e, const patch *p, size_t np)
{
    strbuf b = {0};
    size_t at = s;
    for (size_t i = 0; i < np; i++) {
        sb_add(&b, d->text + at, p[i].s - at);
        sb_str(&b, p[i].with);
        at = p[i].e;
    }
    sb_add(&b, d->text + at, e - at);
    return sb_take(&b);
}

static void lower_copy(char *out, size_t size, const char *s, size_t n)
{
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
}

/* Whether w2 says the same as word[0..n): equal, or grey and gray. */
static bool same_word(const char *w2, const char *word, size_t n)
{
    if (strlen(w2) == n && strncasecmp(w2, word, n) == 0)
        return true;
    bool w2_grey = strcmp(w2, "grey") == 0 || strcmp(w2, "gray") == 0;
    return w2_grey && n == 4 && (strncasecmp(word, "grey", 4) == 0 || strncasecmp(word, "gray", 4) == 0);
}

/* A colour, size or material swap on adjective word w (in front of a mention). */
static void attribute_swap(const doc *d, size_t w, size_t first_adj, uint64_t *rng, cands *out)
{
    const char *word = word_ptr(d, w);
    size_t n = word_len(d, w);
    pv_attr_class cls = pv_vocab_attr_class(word, n);
    const char *pick = NULL;
    if (cls == PV_ATTR_SIZE) {
        pick = pv_vocab_size_opposite(word, n);
    } else if (cls != PV_ATTR_NONE) {
        size_t count = pv_vocab_attr_count(cls);
        for (int tries = 0; tries < 8 && !pick; tries++) {
            const char *w2 = pv_vocab_attr_word(cls, below(rng, count));
            if (!same_word(w2, word, n) && pv_lexicon_lookup(d->lex, w2) < 0)
                pick = w2;
        }
    }
    if (!pick)
        return;
    char repl[64];
    pv_vocab_copy_case(word, pick, repl, sizeof repl);
    size_t s = d->words[w].s, e = d->words[w].e;
    patch p[2];
    size_t np = 0;
    char art[4];
    /* An article before the first adjective must suit the new word (a/an). */
    if (w == first_adj && w > 0 && adjacent(d, w - 1, w) &&
        (word_is(d, w - 1, "a") || word_is(d, w - 1, "an"))) {
        s = d->words[w - 1].s;
        pv_vocab_copy_case(word_ptr(d, w - 1), pv_vocab_article(pick), art, sizeof art);
        p[np++] = (patch){d->words[w - 1].s, d->words[w - 1].e, art};
    }
    p[np++] = (patch){d->words[w].s, d->words[w].e, repl};
    cand *c = cand_push(out, PV_EDIT_ATTRIBUTE, s, e);
    c->repl = patched(d, s, e, p, np);
    c->from = xstrndup(d->text + s, e - s);
    c->to = strdup(c->repl);
}

/* True when a singular pronoun follows byte pos: it may refer back to the noun,
 * and "three women ... she wears" would not agree. */
static bool pronoun_after(const doc *d, size_t pos)
{
    return d->last_pronoun != (size_t)-1 && d->last_pronoun >= pos;
}

/* Start of the last singular pronoun of the text, or (size_t)-1. */
static size_t find_last_pronoun(const doc *d)
{
    static const char *const pronouns[] = {"he", "she", "it", "his", "her", "him", "its",
                                           "himself", "herself", "itself"};
    for (size_t w = d->nwords; w-- > 0;) {
        char c = (char)tolower((unsigned char)word_ptr(d, w)[0]);
        if (c != 'h' && c != 's' && c != 'i')
            continue;
        for (size_t i = 0; i < sizeof pronouns / sizeof pronouns[0]; i++)
            if (word_is(d, w, pronouns[i]))
                return d->words[w].s;
    }
    return (size_t)-1;
}

/* True when byte pos begins a sentence (only spaces since the last stop). */
static bool sentence_start(const doc *d, size_t pos)
{
    while (pos > 0 && d->text[pos - 1] == ' ')
        pos--;
    return pos == 0 || strchr(".!?", d->text[pos - 1]);
}

/* Raises the count in front of mention m: "a dog sits" -> "two dogs sit". */
static void count_change(const doc *d, const pv_mention *m, size_t det, uint64_t *rng, cands *out)
{
    int v = pv_vocab_count_value(word_ptr(d, det), word_len(d, det));
    bool article = word_is(d, det, "a") || word_is(d, det, "an");
    if (article)
        v = 1;
    if (v < 1 || v > 10)
        return;
    int to = v + 1 + (int)below(rng, 2);
    char numw[16];
    if (isdigit((unsigned char)word_ptr(d, det)[0]))
        snprintf(numw, sizeof numw, "%d", to);
    else
        pv_vocab_copy_case(word_ptr(d, det), pv_vocab_count_word(to), numw, sizeof numw);
    patch p[4];
    size_t np = 0;
    size_t s = d->words[det].s, e = d->words[det].e;
    char plural[128], verb[32], are[8];
    if (v == 1) {
        /* Singular becomes plural: the noun, a verb right after it, "there is" before it. */
        if (!pv_vocab_plural(d->text + m->start, m->end - m->start, plural, sizeof plural) ||
            pv_lexicon_lookup(d->lex, plural) != m->category || pronoun_after(d, m->end))
            return;
        if (det >= 2 && word_is(d, det - 2, "there") && word_is(d, det - 1, "is") &&
            adjacent(d, det - 2, det - 1) && adjacent(d, det - 1, det)) {
            s = d->words[det - 1].s;
            pv_vocab_copy_case(word_ptr(d, det - 1), "are", are, sizeof are);
            p[np++] = (patch){d->words[det - 1].s, d->words[det - 1].e, are};
        } else if (det >= 1 && word_is(d, det - 1, "there's") && adjacent(d, det - 1, det)) {
            s = d->words[det - 1].s;
            pv_vocab_copy_case(word_ptr(d, det - 1), "there are", are, sizeof are);
            p[np++] = (patch){d->words[det - 1].s, d->words[det - 1].e, are};
        }
        p[np++] = (patch){d->words[det].s, d->words[det].e, numw};
        p[np++] = (patch){m->start, m->end, plural};
        e = m->end;
        size_t last = word_at(d, m->start);
        while (last != (size_t)-1 && last + 1 < d->nwords && d->words[last].e < m->end)
            last++;
        /* The verb of a subject follows its noun, or a short "of" phrase
         * ("a cup of tea stands"). */
        size_t verb_at = (size_t)-1;
        for (size_t k = last + 1, hops = 0; last != (size_t)-1 && k < d->nwords && hops < 3 &&
                                            adjacent(d, k - 1, k);
             k++, hops++) {
            if (pv_vocab_verb_plural(word_ptr(d, k), word_len(d, k))) {
                verb_at = k;
                break;
            }
            if (hops == 0 && !word_is(d, k, "of"))
                break;
        }
        if (verb_at != (size_t)-1) {
            const char *pl = pv_vocab_verb_plural(word_ptr(d, verb_at), word_len(d, verb_at));
            pv_vocab_copy_case(word_ptr(d, verb_at), pl, verb, sizeof verb);
            p[np++] = (patch){d->words[verb_at].s, d->words[verb_at].e, verb};
            e = d->words[verb_at].e;
        } else if (sentence_start(d, s)) {
            /* A subject whose verb we cannot find: agreement would break. */
            return;
        }
    } else {
        p[np++] = (patch){d->words[det].s, d->words[det].e, numw};
    }
    cand *c = cand_push(out, PV_EDIT_ATTRIBUTE, s, e);
    c->repl = patched(d, s, e, p, np);
    c->from = xstrndup(d->text + s, e - s);
    c->to = strdup(c->repl);
}

static void attribute_candidates(const doc *d, uint64_t *rng, cands *out)
{
    for (size_t i = 0; i < d->nmentions; i++) {
        const pv_mention *m = &d->mentions[i];
        size_t k = word_at(d, m->start);
        if (k == (size_t)-1 || k == 0)
            continue;
        /* Walk back over the adjectives of the noun phrase. */
        size_t first = k;
        while (first > 0 && k - first < 3 && adjacent(d, first - 1, first) &&
               !in_mention(d, d->words[first - 1].s, d->words[first - 1].e) &&
               pv_vocab_is_adjective(word_ptr(d, first - 1), word_len(d, first - 1)))
            first--;
        for (size_t w = first; w < k; w++)
            attribute_swap(d, w, first, rng, out);
        if (first > 0 && adjacent(d, first - 1, first) &&
            !in_mention(d, d->words[first - 1].s, d->words[first - 1].e))
            count_change(d, m, first - 1, rng, out);
    }
}

/* The leading words of a relation that its opposite changes: the words both end
 * with stay ("on the" / "under the" -> "on" / "under"), so that the edit leaves
 * the next words to an attribute edit. Returns the phrase's length in bytes and
 * sets *olen to the opposite's. */
static size_t changed_part(const pv_relation *r, size_t *olen)
{
    size_t p = strlen(r->phrase), o = strlen(r->opposite);
    for (;;) {
        const char *ps = memrchr(r->phrase, ' ', p), *os = memrchr(r->opposite, ' ', o);
        if (!ps || !os)
            break; /* keep one word at least */
        size_t pw = p - (size_t)(ps - r->phrase), ow = o - (size_t)(os - r->opposite);
        if (pw != ow || memcmp(ps, os, pw) != 0)
            break;
        p = (size_t)(ps - r->phrase);
        o = (size_t)(os - r->opposite);
    }
    *olen = o;
    return p;
}

/* True when an object mention, or a pronoun standing for one ("behind it"),
 * starts within the four words after byte pos, in the same phrase (no
 * punctuation between). */
static bool object_follows(const doc *d, size_t pos)
{
    static const char *const pronouns[] = {"it", "them", "him", "her"};
    size_t at = pos;
    for (int words = 0; words < 4; words++) {
        while (at < d->len && d->text[at] == ' ')
            at++;
        if (at >= d->len || !is_word_char(d->text[at]))
            return false;
        for (size_t i = 0; i < d->nmentions; i++)
            if (d->mentions[i].start == at)
                return true;
        size_t start = at;
        while (at < d->len && is_word_char(d->text[at]))
            at++;
        for (size_t i = 0; i < sizeof pronouns / sizeof pronouns[0]; i++)
            if (at - start == strlen(pronouns[i]) && strncasecmp(d->text + start, pronouns[i], at - start) == 0)
                return true;
    }
    return false;
}

static void relation_candidates(const doc *d, cands *out)
{
    for (size_t w = 0; w < d->nwords; w++) {
        size_t len;
        const pv_relation *r = pv_vocab_relation_at(word_ptr(d, w), &len);
        if (!r || in_mention(d, d->words[w].s, d->words[w].s + len) ||
            (r->needs_object && !object_follows(d, d->words[w].s + len)))
            continue;
        size_t olen;
        len = changed_part(r, &olen);
        char opposite[64], repl[64];
        snprintf(opposite, sizeof opposite, "%.*s", (int)olen, r->opposite);
        pv_vocab_copy_case(word_ptr(d, w), opposite, repl, sizeof repl);
        cand *c = cand_push(out, PV_EDIT_RELATION, d->words[w].s, d->words[w].s + len);
        c->repl = strdup(repl);
        c->from = xstrndup(word_ptr(d, w), len);
        c->to = strdup(repl);
    }
}

/* ---- object insertion ------------------------------------------------------- */

/* How an object is written when its category name is not what people say. */
static const char *const surface_names[][2] = {
    {"person", "man"},          {"sports ball", "ball"},  {"tv", "television"},
    {"dining table", "table"},  {"hair drier", "hair dryer"},
    {"skis", "pair of skis"},   {"scissors", "pair of scissors"},
};

/* "a bench" for category cat, checked to read back as exactly that category. */
static bool object_phrase(const pv_lexicon *lex, int cat, char *out, size_t size)
{
    const char *name = pv_lexicon_name(lex, cat);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *noun = name;
        if (attempt == 0)
            for (size_t i = 0; i < sizeof surface_names / sizeof surface_names[0]; i++)
                if (strcmp(surface_names[i][0], name) == 0)
                    noun = surface_names[i][1];
        snprintf(out, size, "%s %s", pv_vocab_article(noun), noun);
        pv_mention m[3];
        if (pv_lexicon_mentions(lex, out, m, 3) == 1 && m[0].category == cat)
            return true;
    }
    return false;
}

typedef struct pool_item {
    int cat;
    double score;
    char phrase[96];
} pool_item;

/* The objects that may be inserted: co-occurring with the present ones, absent
 * from `objects` and from the text. */
static size_t object_pool(const doc *d, const pv_cooccur *co, const char *const *objects,
                          size_t nobjects, bool *present_cat, pool_item *pool)
{
    int ncat = pv_lexicon_size(d->lex);
    size_t np = 0;
    const char **present = xmalloc((nobjects + d->nmentions) * sizeof *present);
    for (size_t i = 0; i < nobjects; i++) {
        int c = pv_lexicon_lookup(d->lex, objects[i]);
        present[np++] = c >= 0 ? pv_lexicon_name(d->lex, c) : objects[i];
        if (c >= 0)
            present_cat[c] = true;
    }
    for (size_t i = 0; i < d->nmentions; i++) {
        present[np++] = pv_lexicon_name(d->lex, d->mentions[i].category);
        present_cat[d->mentions[i].category] = true;
    }
    size_t cap = pv_cooccur_size(co);
    pv_cooccur_candidate *ranked = xmalloc(cap * sizeof *ranked);
    size_t nr = pv_cooccur_rank(co, present, np, ranked, cap);
    size_t n = 0;
    for (size_t i = 0; i < nr && n < OBJECT_POOL; i++) {
        int c = pv_lexicon_lookup(d->lex, ranked[i].name);
        if (c < 0 || c >= ncat || present_cat[c])
            continue;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup |= pool[j].cat == c;
        if (dup || !object_phrase(d->lex, c, pool[n].phrase, sizeof pool[n].phrase))
            continue;
        pool[n].cat = c;
        pool[n].score = ranked[i].score;
        n++;
    }
    free(ranked);
    free(present);
    return n;
}

/* Places where a new object can go. */
typedef struct site {
    size_t s, e;     /* list: the span "... and a frisbee" rewritten; sentence: s == e */
    size_t tail;     /* list: where the words after "and" start */
    bool list, used;
    bool at_end_without_stop; /* sentence at the end of text lacking final punctuation */
} site;

static size_t find_sites(const doc *d, site *out, size_t max)
{
    size_t n = 0;
    /* Lists: "<mention> and <up to three words> <mention>" followed by no noun. */
    for (size_t i = 0; i + 1 < d->nmentions && n < max; i++) {
        const pv_mention *a = &d->mentions[i], *b = &d->mentions[i + 1];
        if (b->start < a->end + 5 || strncasecmp(d->text + a->end, " and ", 5) != 0)
            continue;
        int words = 0;
        bool ok = true;
        for (size_t p = a->end + 5; p < b->start && ok; p++) {
            char c = d->text[p];
            if (c == ' ')
                words++;
            else
                ok = isalpha((unsigned char)c);
        }
        size_t after = b->end;
        if (!ok || words > 3 || isalnum((unsigned char)d->text[after]))
            continue;
        if (strncasecmp(d->text + after, " of ", 4) == 0 || strncasecmp(d->text + after, " and ", 5) == 0)
            continue;
        out[n++] = (site){.s = a->end, .e = b->end, .tail = a->end + 5, .list = true};
    }
    /* Sentences: after ". " (or at the end). */
    for (size_t p = 0; p < d->len && n < max; p++) {
        char c = d->text[p];
        if ((c == '.' || c == '!' || c == '?') && d->text[p + 1] == ' ' && p > 0 &&
            isalpha((unsigned char)d->text[p - 1]))
            out[n++] = (site){.s = p + 1, .e = p + 1};
    }
    size_t end = d->len;
    while (end > 0 && isspace((unsigned char)d->text[end - 1]))
        end--;
    if (end > 0 && n < max) {
        char c = d->text[end - 1];
        bool stop = c == '.' || c == '!' || c == '?';
        out[n++] = (site){.s = end, .e = end, .at_end_without_stop = !stop};
    }
    return n;
}

static void capitalise(char *s) { s[0] = (char)toupper((unsigned char)s[0]); }

/* The sentence that introduces an object: "There is also a bench in the background." */
static char *object_sentence(const doc *d, const pool_item *obj, const bool *present_cat,
                             uint64_t *rng)
{
    /* Each frame is: text, the object, text, the place, "." */
    static const char *const frames[][2] = {
        {"There is also ", " "}, {"", " can also be seen "}, {"Additionally, there is ", " "}};
    /* The last two name a real object of the text after them. */
    static const char *const places[] = {"in the background", "nearby", "close by",
                                         "off to one side", "next to the ", "near the "};
    /* Where some objects are usually found, said the way a description would. */
    static const char *const usual[][2] = {
        {"bicycle", "leaning against a wall"}, {"car", "parked nearby"},
        {"motorcycle", "parked nearby"},      {"truck", "parked nearby"},
        {"bus", "waiting nearby"},            {"boat", "floating nearby"},
        {"airplane", "flying overhead"},      {"kite", "flying overhead"},
        {"bird", "perched nearby"},           {"person", "standing in the background"},
        {"dog", "resting nearby"},            {"cat", "resting nearby"},
        {"backpack", "resting on the ground"}, {"suitcase", "resting on the ground"},
        {"handbag", "resting on the ground"}, {"potted plant", "in the corner"},
        {"clock", "on the wall"},             {"tv", "on the wall"},
        {"chair", "in the corner"},           {"umbrella", "leaning against a wall"},
    };
    strbuf place = {0};
    const char *name = pv_lexicon_name(d->lex, obj->cat);
    for (size_t i = 0; i < sizeof usual / sizeof usual[0] && !place.s; i++)
        if (strcmp(usual[i][0], name) == 0 && below(rng, 2) == 0)
            sb_str(&place, usual[i][1]);
    size_t pi = below(rng, sizeof places / sizeof places[0]);
    size_t real[MAX_MENTIONS], nr = 0;
    for (size_t i = 0; i < d->nmentions; i++)
        if (present_cat[d->mentions[i].category])
            real[nr++] = i;
    if (place.s) {
        /* the usual place */
    } else if (pi >= 4 && nr > 0) {
        const pv_mention *m = &d->mentions[real[below(rng, nr)]];
        char ref[96];
        lower_copy(ref, sizeof ref, d->text + m->start, m->end - m->start);
        sb_str(&place, places[pi]);
        sb_str(&place, ref);
    } else {
        sb_str(&place, places[pi < 4 ? pi : 0]);
    }
    size_t fi = below(rng, sizeof frames / sizeof frames[0]);
    char np[96];
    snprintf(np, sizeof np, "%s", obj->phrase);
    if (frames[fi][0][0] == '\0')
        capitalise(np);
    strbuf b = {0};
    sb_str(&b, frames[fi][0]);
    sb_str(&b, np);
    sb_str(&b, frames[fi][1]);
    sb_str(&b, place.s);
    sb_str(&b, ".");
    free(place.s);
    return sb_take(&b);
}

/* Whether replacing [s, e) (an insertion when s == e) clashes with edit c. */
static bool clashes(size_t s, size_t e, const cand *c)
{
    if (s == e && c->s == c->e)
        return s == c->s; /* two insertions at one place */
    if (s == e)
        return c->s < s && s < c->e;
    if (c->s == c->e)
        return s < c->s && c->s < e;
    return s < c->e && c->s < e;
}

static bool overlaps(const cands *chosen, size_t s, size_t e)
{
    for (size_t i = 0; i < chosen->n; i++)
        if (clashes(s, e, &chosen->v[i]))
            return true;
    return false;
}

/* Inserts one object from the pool into a free site; false when none is left. */
static bool insert_object(const doc *d, pool_item *pool, size_t *npool, site *sites,
                          size_t nsites, const bool *present_cat, uint64_t *rng, cands *chosen)
{
    if (*npool == 0)
        return false;
    size_t free_list[64], free_sent[64], nl = 0, ns = 0;
    for (size_t i = 0; i < nsites && i < 64; i++) {
        if (sites[i].used || overlaps(chosen, sites[i].s, sites[i].e))
            continue;
        if (sites[i].list)
            free_list[nl++] = i;
        else
            free_sent[ns++] = i;
    }
    if (nl + ns == 0)
        return false;
    /* The object: drawn in proportion to its co-occurrence score. */
    double total = 0;
    for (size_t i = 0; i < *npool; i++)
        total += pool[i].score;
    double r = (double)(pv_hal_next(rng) >> 11) / 9007199254740992.0 * total;
    size_t k = 0;
    while (k + 1 < *npool && r >= pool[k].score) {
        r -= pool[k].score;
        k++;
    }
    pool_item obj = pool[k];
    pool[k] = pool[--*npool];

    bool use_list = nl > 0 && (ns == 0 || below(rng, 2) == 0);
    site *st = &sites[use_list ? free_list[below(rng, nl)] : free_sent[below(rng, ns)]];
    st->used = true;
    cand *c = cand_push(chosen, PV_EDIT_OBJECT, st->s, st->e);
    strbuf b = {0};
    if (use_list) {
        /* "a dog and a frisbee" -> "a dog, a frisbee and a bench" */
        sb_str(&b, ", ");
        sb_add(&b, d->text + st->tail, st->e - st->tail);
        sb_str(&b, " and ");
        sb_str(&b, obj.phrase);
    } else {
        char *sentence = object_sentence(d, &obj, present_cat, rng);
        if (st->at_end_without_stop) {
            sb_str(&b, ". ");
            sentence[strlen(sentence) - 1] = '\0';
        } else {
            sb_str(&b, " ");
        }
        sb_str(&b, sentence);
        free(sentence);
    }
    c->repl = sb_take(&b);
    c->from = strdup(""); /* nothing was there */
    c->to = strdup(obj.phrase);
    c->object = strdup(pv_lexicon_name(d->lex, obj.cat));
    c->used = true;
    return true;
}

/* ---- the engine -------------------------------------------------------------- */

static int by_position(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    return a->s < b->s ? -1 : a->s > b->s ? 1 : 0;
}

/* Takes a random unused candidate of `type` that does not overlap the chosen ones. */
static bool take_candidate(cands *all, int type, uint64_t *rng, cands *chosen)
{
    size_t *ok = xmalloc((all->n + 1) * sizeof *ok), n = 0;
    for (size_t i = 0; i < all->n; i++)
        if (all->v[i].type == type && !all->v[i].used && !overlaps(chosen, all->v[i].s, all->v[i].e))
            ok[n++] = i;
    if (n > 0) {
        cand *src = &all->v[ok[below(rng, n)]];
        src->used = true;
        cand *c = cand_push(chosen, type, src->s, src->e);
        c->repl = strdup(src->repl);
        c->from = strdup(src->from);
        c->to = strdup(src->to);
    }
    free(ok);
    return n > 0;
}

size_t pv_hallucinate(const pv_hal_options *opt, const char *key, const char *chosen,
                      const char *const *objects, size_t nobjects, pv_hal_result *result)
{
    memset(result, 0, sizeof *result);
    uint64_t rng = pv_hal_stream_start(opt->seed, key ? key : chosen);
    doc *d = xmalloc(sizeof *d);
    doc_init(d, opt->lex, chosen);
    d->last_pronoun = find_last_pronoun(d);

    cands all = {0}, picked = {0};
    if (opt->types & PV_EDIT_ATTRIBUTE)
        attribute_candidates(d, &rng, &all);
    if (opt->types & PV_EDIT_RELATION)
        relation_candidates(d, &all);
    bool *present_cat = calloc((size_t)pv_lexicon_size(opt->lex) + 1, sizeof *present_cat);
    pool_item pool[OBJECT_POOL];
    size_t npool = 0, nsites = 0;
    site sites[64];
    if ((opt->types & PV_EDIT_OBJECT) && opt->cooccur) {
        npool = object_pool(d, opt->cooccur, objects, nobjects, present_cat, pool);
        nsites = find_sites(d, sites, 64);
    }

    /* Kinds take turns; objects first so that one edit already adds an object. */
    int order[3], norder = 0;
    if (opt->types & PV_EDIT_OBJECT)
        order[norder++] = PV_EDIT_OBJECT;
    int rest[2], nrest = 0;
    if (opt->types & PV_EDIT_ATTRIBUTE)
        rest[nrest++] = PV_EDIT_ATTRIBUTE;
    if (opt->types & PV_EDIT_RELATION)
        rest[nrest++] = PV_EDIT_RELATION;
    if (nrest == 2 && below(&rng, 2)) {
        int t = rest[0];
        rest[0] = rest[1];
        rest[1] = t;
    }
    for (int i = 0; i < nrest; i++)
        order[norder++] = rest[i];
    bool alive[3] = {true, true, true};
    int nalive = norder;
    while ((int)picked.n < opt->edits && nalive > 0) {
        for (int i = 0; i < norder && (int)picked.n < opt->edits; i++) {
            if (!alive[i])
                continue;
            bool ok = order[i] == PV_EDIT_OBJECT
                          ? insert_object(d, pool, &npool, sites, nsites, present_cat, &rng, &picked)
                          : take_candidate(&all, order[i], &rng, &picked);
            if (!ok) {
                alive[i] = false;
                nalive--;
            }
        }
    }

    if (picked.n > 0) {
        qsort(picked.v, picked.n, sizeof *picked.v, by_position);
        strbuf b = {0};
        size_t at = 0;
        result->edits = xmalloc(picked.n * sizeof *result->edits);
        for (size_t i = 0; i < picked.n; i++) {
            cand *c = &picked.v[i];
            sb_add(&b, chosen + at, c->s - at);
            sb_str(&b, c->repl);
            at = c->e;
            result->edits[i] = (pv_hal_edit){c->type, c->from, c->to, c->object};
            c->from = c->to = c->object = NULL;
        }
        sb_add(&b, chosen + at, d->len - at);
        result->text = sb_take(&b);
        result->n = picked.n;
    }
    for (size_t i = 0; i < all.n; i++)
        cand_free(&all.v[i]);
    for (size_t i = 0; i < picked.n; i++)
        cand_free(&picked.v[i]);
    free(all.v);
    free(picked.v);
    free(present_cat);
    free(d->words);
    free(d);
    return result->n;
}

void pv_hal_result_free(pv_hal_result *result)
{
    for (size_t i = 0; i < result->n; i++) {
        free(result->edits[i].from);
        free(result->edits[i].to);
        free(result->edits[i].object);
    }
    free(result->edits);
    free(result->text);
    memset(result, 0, sizeof *result);
}
