/* Word tokenizer, lower-casing, singular and plural of English nouns (words.h).
 *
 * The singulariser is a short cascade of rules keyed on the word's ending; each
 * rule has the small list of exceptions that image descriptions actually meet.
 * Lists are only consulted for words with the matching ending, so the common
 * case (a word not ending in "s") costs a few byte comparisons. */
#include "words.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Bytes that make up words: ASCII letters and digits, and every byte of a
 * non-ASCII UTF-8 character (so that one is never split). */
static const unsigned char word_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Word boundaries are found 64 bytes at a time with bit masks rather than a
 * branch per byte: in running text the end of a word is an unpredictable branch,
 * and those mispredictions were most of the time of a byte loop. */
size_t pv_words(const char *text, size_t len, pv_word *out, size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, start = 0;
    bool in_word = false;
    uint64_t prev_word = 0, prev_joined = 0; /* bit 0: the byte before this chunk */
    for (size_t base = 0; base < len; base += 64) {
        size_t m = len - base < 64 ? len - base : 64;
        uint64_t word = 0, hyphen = 0;
        for (size_t i = 0; i < m; i++) {
            word |= (uint64_t)word_byte[s[base + i]] << i;
            hyphen |= (uint64_t)(s[base + i] == '-') << i;
        }
        uint64_t next_word = base + 64 < len ? word_byte[s[base + 64]] : 0;
        /* A hyphen joins when a word byte is on both sides ("t-shirt"), as the
         * Treebank tokenizer does. */
        uint64_t joined = word | (hyphen & ((word << 1) | prev_word) &
                                  ((word >> 1) | (next_word << 63)));
        /* A set bit where a word starts or has just ended. */
        uint64_t edges = joined ^ ((joined << 1) | prev_joined);
        while (edges) {
            size_t pos = base + (size_t)__builtin_ctzll(edges);
            edges &= edges - 1;
            if (!in_word) {
                start = pos;
            } else {
                if (n < max)
                    out[n] = (pv_word){start, pos};
                n++;
            }
            in_word = !in_word;
        }
        prev_word = (word >> (m - 1)) & 1;
        prev_joined = (joined >> (m - 1)) & 1;
    }
    if (in_word) {
        if (n < max)
            out[n] = (pv_word){start, len};
        n++;
    }
    return n;
}

size_t pv_lower(const char *s, size_t len, char *buf, size_t bufsize)
{
    if (bufsize == 0)
        return 0;
    if (len > bufsize - 1)
        len = bufsize - 1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[len] = '\0';
    return len;
}

/* ---- tables ---------------------------------------------------------------- */

typedef struct {
    const char *plural, *singular;
} pair;

/* Irregular plurals matched as whole words. */
static const pair irregular[] = {
    {"people", "person"}, {"men", "man"},       {"women", "woman"},   {"children", "child"},
    {"mice", "mouse"},    {"geese", "goose"},   {"teeth", "tooth"},   {"feet", "foot"},
    {"oxen", "ox"},       {"lice", "louse"},    {"cacti", "cactus"},  {"fungi", "fungus"},
    {"octopi", "octopus"}, {"leaves", "leaf"},  {"loaves", "loaf"},   {"wolves", "wolf"},
    {"halves", "half"},   {"calves", "calf"},   {"scarves", "scarf"}, {"thieves", "thief"},
    {"elves", "elf"},     {"selves", "self"},   {"hooves", "hoof"},   {"wharves", "wharf"},
    {"sheaves", "sheaf"}, {"lives", "life"},    {"busses", "bus"},    {"axes", "axe"},
    {"pickaxes", "pickaxe"}, {"quizzes", "quiz"}, {"dice", "die"},
    /* Greek and Latin -is nouns and -s singulars that take -es. */
    {"crises", "crisis"}, {"analyses", "analysis"}, {"theses", "thesis"}, {"oases", "oasis"},
    {"diagnoses", "diagnosis"}, {"hypotheses", "hypothesis"}, {"parentheses", "parenthesis"},
    {"canvases", "canvas"}, {"gases", "gas"},   {"atlases", "atlas"}, {"aliases", "alias"},
    {"biases", "bias"},   {"lenses", "lens"},   {"irises", "iris"},   {"trellises", "trellis"},
};

/* Irregular plurals that also end compounds: "policemen", "grandchildren",
 * "pocketknives", "bookshelves", "housewives". */
static const pair irregular_suffix[] = {
    {"women", "woman"}, {"men", "man"}, {"children", "child"}, {"knives", "knife"},
    {"wives", "wife"},  {"shelves", "shelf"}, {"mice", "mouse"},
};

/* Words that end like a compound of "men" but are not one. */
static const char *const not_men[] = {"specimen", "abdomen", "regimen", "stamen", "semen",
                                      "omen", "amen", "hymen", "ramen", "yemen", "women", NULL};

/* Same in singular and plural, or never singular. Only those ending in "s"
 * matter to pv_singular; the others matter to pv_plural. */
static const char *const invariant[] = {
    "sheep", "deer", "fish", "bison", "moose", "cattle", "aircraft", "swine", "salmon",
    "trout", "series", "species", "news", "scissors", "pants", "jeans", "shorts", "trousers",
    "pajamas", "pyjamas", "tongs", "binoculars", "clothes", "goggles", "tweezers", "pliers",
    "sunglasses", "eyeglasses", "means", "headquarters", "barracks", "crossroads", "innings",
    "gallows", "physics", "mathematics", "gymnastics", "athletics", "politics", "economics",
    "electronics", "aerobics", "billiards", "always", "perhaps", "towards", "afterwards",
    "backwards", "forwards", "sideways", "besides", "sometimes", "nevertheless", "hers",
    "ours", "yours", "theirs", "its", "thus", "plus", "yes", "whereas", "overseas",
    "police", "broccoli", "equipment", "furniture", "luggage", "baggage", NULL};

/* Nouns in -ie (their plural is -ies, not -y + ies). */
static const char *const ie_nouns[] = {
    "cookie", "movie", "brownie", "rookie", "hoodie", "selfie", "veggie", "goalie", "calorie",
    "prairie", "pixie", "beanie", "collie", "doggie", "zombie", "hippie", "smoothie", "auntie",
    "birdie", "genie", "magpie", "necktie", "bowtie", "sweetie", "pinkie", "budgie", "cutie",
    "goodie", "junkie", "nightie", "walkie", "talkie", "tie", "pie", "lie", "die", "boogie",
    "kiddie", "lassie", "bootie", "eyrie", "specie", NULL};

/* Nouns in -i (plural -is). */
static const char *const i_nouns[] = {
    "ski", "taxi", "kiwi", "bikini", "martini", "safari", "salami", "zucchini", "sushi",
    "yeti", "khaki", "mini", "semi", "alibi", "wasabi", "chili", "deli", "emoji", "tsunami",
    "jacuzzi", "origami", "pepperoni", "panini", "bonsai", "samurai", "rabbi", "broccoli", NULL};

/* Nouns in -u that take plain -s. */
static const char *const u_nouns[] = {"menu", "emu", "guru", "tutu", "zebu", "tofu", "haiku",
                                      "gnu", "tiramisu", "bayou", "caribou", "kudzu", NULL};

/* Nouns in -oe. */
static const char *const oe_nouns[] = {"shoe", "toe", "canoe", "hoe", "oboe", "floe", "foe",
                                       "sloe", "throe", "horseshoe", "snowshoe", "tiptoe", NULL};

/* Nouns in -o whose plural is -oes. */
static const char *const o_es_nouns[] = {"tomato", "potato", "hero", "echo", "volcano",
                                         "mosquito", "domino", "torpedo", "veto", "buffalo",
                                         "mango", "tornado", "embargo", NULL};

/* Nouns in -che (plural -ches, singular keeps the e). */
static const char *const che_nouns[] = {
    "ache", "headache", "toothache", "stomachache", "earache", "backache", "cache", "niche",
    "avalanche", "quiche", "creche", "psyche", "microfiche", "mustache", "moustache",
    "panache", "apache", "brioche", "cloche", "douche", "gouache", "cliche", NULL};

/* Nouns in -use whose plural is -uses with the e kept (not bus -> buses). */
static const char *const use_nouns[] = {"blouse", "mouse", "cause", "spouse", "pause", "muse",
                                        "fuse", "use", "excuse", "ruse", "abuse", "recluse",
                                        "house", "carouse", NULL};

/* Singulars in -os and -as (everything else in -os, -as takes off its s). */
static const char *const os_as_singulars[] = {
    "chaos", "cosmos", "kudos", "ethos", "pathos", "asbestos", "rhinoceros", "as", "was",
    "has", "gas", "canvas", "atlas", "alias", "bias", "christmas", "pancreas", "texas",
    "vegas", "pampas", "madras", "kansas", "arkansas", "dallas", "thomas", "douglas", NULL};

/* Nouns in -is, plural -es (their -is form is singular). */
static const char *const is_singulars_es[] = {"iris", "trellis", "pelvis", "tennis", NULL};

/* Words with a fixed answer: the irregular plurals (-> their singular), their
 * singulars and the invariant words (-> themselves). One hash probe per word
 * instead of scanning the tables: this is the hot path of CHAIR. */
typedef struct {
    const char *word, *singular;
} exact;
static exact exact_slots[512]; /* a power of two, over twice the entries */
static pthread_once_t exact_once = PTHREAD_ONCE_INIT;

static uint32_t word_hash(const char *w, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h;
}

static void exact_add(const char *word, const char *singular)
{
    size_t mask = sizeof exact_slots / sizeof *exact_slots - 1;
    for (size_t i = word_hash(word, strlen(word)) & mask;; i = (i + 1) & mask) {
        if (!exact_slots[i].word) {
            exact_slots[i] = (exact){word, singular};
            return;
        }
        if (strcmp(exact_slots[i].word, word) == 0)
            return; /* the first definition stands */
    }
}

static void exact_build(void)
{
    for (size_t i = 0; i < sizeof irregular / sizeof *irregular; i++)
        exact_add(irregular[i].plural, irregular[i].singular);
    for (size_t i = 0; i < sizeof irregular / sizeof *irregular; i++)
        exact_add(irregular[i].singular, irregular[i].singular);
    for (const char *const *w = invariant; *w; w++)
        exact_add(*w, *w);
}

static const char *exact_find(const char *w, size_t n)
{
    pthread_once(&exact_once, exact_build);
    size_t mask = sizeof exact_slots / sizeof *exact_slots - 1;
    for (size_t i = word_hash(w, n) & mask; exact_slots[i].word; i = (i + 1) & mask)
        if (strcmp(exact_slots[i].word, w) == 0)
            return exact_slots[i].singular;
    return NULL;
}

static bool in_list(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (**list == *w && strcmp(*list, w) == 0)
            return true;
    return false;
}

static inline bool ends_with(const char *w, size_t n, const char *suf)
{
    size_t k = strlen(suf); /* a literal: folded by the compiler */
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) /* short suffixes: a loop beats a memcmp call */
        if (w[n - k + i] != suf[i])
            return false;
    return true;
}

/* Copies w[0..n) + add into buf. */
static inline const char *put(char *buf, size_t bufsize, const char *w, size_t n,
                              const char *add)
{
    size_t k = strlen(add);
    if (bufsize == 0)
        return buf;
    if (n + k + 1 > bufsize) { /* does not fit: leave the word as it was */
        size_t m = strlen(w);
        if (m > bufsize - 1)
            m = bufsize - 1;
        memmove(buf, w, m);
        buf[m] = '\0';
        return buf;
    }
    memmove(buf, w, n);
    memcpy(buf + n, add, k + 1);
    return buf;
}

/* Is the stem w[0..n) + tail a word of `list`? */
static bool stem_in(const char *w, size_t n, const char *tail, const char *const *list)
{
    char tmp[PV_WORD_MAX + 8];
    size_t k = strlen(tail);
    if (n + k + 1 > sizeof tmp)
        return false;
    memcpy(tmp, w, n);
    memcpy(tmp + n, tail, k + 1);
    return in_list(tmp, list);
}

/* Singular of a word without hyphens. */
static const char *singular_simple(const char *w, size_t n, char *buf, size_t bufsize)
{
    if (n < 3 || n > PV_WORD_MAX)
        return put(buf, bufsize, w, n, "");
    char last = w[n - 1];
    /* Plurals end in s, n (men, oxen), e (mice), i (cacti), h (teeth) or t (feet). */
    if (last != 's' && last != 'n' && last != 'e' && last != 'i' && last != 'h' && last != 't')
        return put(buf, bufsize, w, n, "");
    const char *fixed = exact_find(w, n);
    if (fixed)
        return put(buf, bufsize, fixed, strlen(fixed), "");
    if (last != 's' && last != 'n' && last != 'e')
        return put(buf, bufsize, w, n, ""); /* the others are all exact words */
    for (size_t i = 0; i < sizeof irregular_suffix / sizeof *irregular_suffix; i++) {
        const pair *p = &irregular_suffix[i];
        size_t k = strlen(p->plural);
        if (!ends_with(w, n, p->plural))
            continue;
        if (strcmp(p->plural, "men") == 0 && (n < 6 || in_list(w, not_men)))
            continue; /* "omen", "specimen"; compounds are at least "xxxmen" */
        char tmp[PV_WORD_MAX + 8];
        memcpy(tmp, w, n - k);
        strcpy(tmp + n - k, p->singular);
        return put(buf, bufsize, tmp, strlen(tmp), "");
    }
    if (last != 's')
        return put(buf, bufsize, w, n, "");
    if (ends_with(w, n, "ss"))
        return put(buf, bufsize, w, n, ""); /* glass, grass, dress, chess */
    if (ends_with(w, n, "us"))               /* bus, cactus, various; but menus, emus */
        return put(buf, bufsize, w, stem_in(w, n - 1, "", u_nouns) ? n - 1 : n, "");
    if (ends_with(w, n, "is"))               /* tennis, this, iris; but skis, taxis */
        return put(buf, bufsize, w, stem_in(w, n - 1, "", i_nouns) ? n - 1 : n, "");
    if (ends_with(w, n, "ies")) {
        if (n == 4 || stem_in(w, n - 1, "", ie_nouns))
            return put(buf, bufsize, w, n - 1, ""); /* ties, cookies, collies */
        return put(buf, bufsize, w, n - 3, "y");    /* berries, puppies, ponies */
    }
    if (ends_with(w, n, "oes")) {
        if (stem_in(w, n - 1, "", oe_nouns) || ends_with(w, n, "shoes"))
            return put(buf, bufsize, w, n - 1, ""); /* shoes, canoes, horseshoes */
        return put(buf, bufsize, w, n - 2, "");     /* tomatoes, heroes */
    }
    if (ends_with(w, n, "sses"))
        return put(buf, bufsize, w, n - 2, ""); /* glasses, dresses */
    if (ends_with(w, n, "uses")) {
        if (ends_with(w, n, "houses") || stem_in(w, n - 1, "", use_nouns))
            return put(buf, bufsize, w, n - 1, ""); /* houses, blouses */
        return put(buf, bufsize, w, n - 2, "");     /* buses, minibuses, viruses */
    }
    if (ends_with(w, n, "xes"))
        return put(buf, bufsize, w, n - 2, ""); /* boxes, foxes */
    if (ends_with(w, n, "zzes") || ends_with(w, n, "tzes"))
        return put(buf, bufsize, w, n - 2, ""); /* buzzes, waltzes */
    if (ends_with(w, n, "ches")) {
        if (stem_in(w, n - 1, "", che_nouns) || ends_with(w, n, "staches"))
            return put(buf, bufsize, w, n - 1, ""); /* mustaches, headaches */
        return put(buf, bufsize, w, n - 2, "");     /* benches, sandwiches */
    }
    if (ends_with(w, n, "shes"))
        return put(buf, bufsize, w, n - 2, ""); /* dishes, brushes */
    if (ends_with(w, n, "ises") && stem_in(w, n - 2, "", is_singulars_es))
        return put(buf, bufsize, w, n - 2, ""); /* irises */
    if ((ends_with(w, n, "os") || ends_with(w, n, "as")) && in_list(w, os_as_singulars))
        return put(buf, bufsize, w, n, ""); /* chaos, gas, canvas, was */
    return put(buf, bufsize, w, n - 1, ""); /* dogs, horses, toys, gloves */
}

const char *pv_singular(const char *word, char *buf, size_t bufsize)
{
    /* In a hyphenated word only the last part is inflected: "t-shirts". */
    size_t n = 0;
    const char *dash = NULL;
    for (; word[n]; n++) /* length and last hyphen in one pass */
        if (word[n] == '-')
            dash = word + n;
    if (!dash || dash[1] == '\0')
        return singular_simple(word, n, buf, bufsize);
    char tail[PV_WORD_MAX + 8];
    size_t head = (size_t)(dash + 1 - word);
    singular_simple(dash + 1, n - head, tail, sizeof tail);
    if (head + strlen(tail) + 1 > bufsize || head > PV_WORD_MAX)
        return put(buf, bufsize, word, strlen(word), "");
    memmove(buf, word, head);
    strcpy(buf + head, tail);
    return buf;
}

size_t pv_word_normalize(const char *s, size_t len, char *buf, size_t bufsize)
{
    if (bufsize < 2)
        return pv_lower(s, len, buf, bufsize);
    len = pv_lower(s, len, buf, bufsize);
    char last = len ? buf[len - 1] : '\0';
    /* Only words ending like a plural can change (singular_simple's first test);
     * the rest, most words, are done. */
    if (len < 3 || (last != 's' && last != 'n' && last != 'e' && last != 'i' && last != 'h' &&
                    last != 't'))
        return len;
    char tmp[PV_WORD_MAX + 8];
    if (len > PV_WORD_MAX)
        return len;
    memcpy(tmp, buf, len + 1);
    return strlen(pv_singular(tmp, buf, bufsize));
}

bool pv_is_plural(const char *word)
{
    char buf[PV_WORD_MAX + 8];
    if (strlen(word) > PV_WORD_MAX)
        return false;
    return strcmp(pv_singular(word, buf, sizeof buf), word) != 0;
}

static bool is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

static const char *plural_simple(const char *w, char *buf, size_t bufsize)
{
    size_t n = strlen(w);
    if (n == 0 || n > PV_WORD_MAX || in_list(w, invariant))
        return put(buf, bufsize, w, n, "");
    for (size_t i = 0; i < sizeof irregular / sizeof *irregular; i++)
        if (irregular[i].singular[0] == w[0] && strcmp(irregular[i].singular, w) == 0 &&
            strcmp(irregular[i].plural, "busses") != 0 && strcmp(irregular[i].plural, "dice") != 0)
            return put(buf, bufsize, irregular[i].plural, strlen(irregular[i].plural), "");
    for (size_t i = 0; i < sizeof irregular_suffix / sizeof *irregular_suffix; i++) {
        const pair *p = &irregular_suffix[i];
        size_t k = strlen(p->singular);
        if (!ends_with(w, n, p->singular))
            continue;
        if (strcmp(p->singular, "man") == 0) {
            /* "policeman", "snowman"; not "human", "german", "roman", "woman" (above) */
            static const char *const not_man[] = {"human", "german", "roman", "shaman",
                                                  "ottoman", "caiman", "talisman", "woman", NULL};
            if (n < 6 || in_list(w, not_man))
                continue;
        }
        char tmp[PV_WORD_MAX + 16];
        memcpy(tmp, w, n - k);
        strcpy(tmp + n - k, p->plural);
        return put(buf, bufsize, tmp, strlen(tmp), "");
    }
    char last = w[n - 1];
    if (last == 's' || last == 'x' || ends_with(w, n, "ch") || ends_with(w, n, "sh"))
        return put(buf, bufsize, w, n, "es"); /* buses, glasses, boxes, benches, dishes */
    if (last == 'z')
        return put(buf, bufsize, w, n, ends_with(w, n, "zz") || n < 2 || !is_vowel(w[n - 2]) ? "es" : "zes");
    if (last == 'y' && n >= 2 && !is_vowel(w[n - 2]))
        return put(buf, bufsize, w, n - 1, "ies"); /* berries, but toys */
    if (last == 'o' && in_list(w, o_es_nouns))
        return put(buf, bufsize, w, n, "es");
    return put(buf, bufsize, w, n, "s");
}

const char *pv_plural(const char *word, char *buf, size_t bufsize)
{
    const char *dash = strrchr(word, '-');
    if (!dash || dash[1] == '\0')
        return plural_simple(word, buf, bufsize);
    char tail[PV_WORD_MAX + 16];
    size_t head = (size_t)(dash + 1 - word);
    plural_simple(dash + 1, tail, sizeof tail);
    if (head + strlen(tail) + 1 > bufsize || head > PV_WORD_MAX)
        return put(buf, bufsize, word, strlen(word), "");
    memmove(buf, word, head);
    strcpy(buf + head, tail);
    return buf;
}
