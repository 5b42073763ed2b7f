#include "vocab.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Colours a rewrite may pick. "orange" is left out on purpose: it is also a COCO
 * object, and writing it would add an object mention. */
static const char *const colours[] = {
    "red",  "blue",   "green",  "yellow", "black", "white", "brown",
    "gray", "grey",   "pink",   "purple", "silver", "beige", "golden",
};
static const char *const sizes[] = {
    "large", "small", "big", "little", "tall", "short", "huge", "tiny", "long", "wide", "narrow",
};
/* Pairs of opposite sizes, both directions read from one table. */
static const char *const size_pairs[][2] = {
    {"large", "small"}, {"big", "small"}, {"little", "big"}, {"tall", "short"},
    {"huge", "tiny"},   {"long", "short"}, {"wide", "narrow"},
};
static const char *const materials[] = {
    "wooden",  "metal",    "plastic", "stone",   "brick", "leather", "ceramic",
    "wicker",  "steel",    "concrete", "marble", "paper", "cardboard", "glass",
};
/* Words that may stand between an article and its noun besides the attributes. */
static const char *const other_adjectives[] = {
    "young", "old",    "fluffy", "furry", "shiny", "dark",   "light", "bright", "cute",
    "adult", "baby",   "striped", "spotted", "clean", "dirty", "empty", "full", "open",
    "closed", "modern", "vintage", "wild", "fresh", "sliced", "half", "single", "parked",
    "sleeping", "small", "lone", "colorful", "colourful", "pretty", "beautiful", "busy",
};
static const char *const count_words[] = {
    "zero", "one", "two",   "three", "four",   "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
};

/* Opposites. Phrases are matched longest first, so "on the left" wins over "on the". */
static const pv_relation relations[] = {
    {"to the left of", "to the right of"},
    {"to the right of", "to the left of"},
    {"on the left", "on the right"},
    {"on the right", "on the left"},
    {"left side", "right side"},
    {"right side", "left side"},
    {"in front of", "behind"},
    {"behind", "in front of"},
    {"on top of", "underneath"},
    {"underneath", "on top of"},
    {"above", "below"},
    {"below", "above"},
    {"beneath", "above"},
    {"under", "on top of"},
    {"on the", "under the"},
    {"on a", "under a"},
    {"on an", "under an"},
    {"inside", "outside"},
    {"outside", "inside"},
    {"next to", "far from"},
    {"beside", "far from"},
    {"near", "far from"},
    {"close to", "far away from"},
    {"far from", "next to"},
    {"in the foreground", "in the background"},
    {"in the background", "in the foreground"},
    {"into", "out of"},
    {"out of", "into"},
    {"towards", "away from"},
    {"toward", "away from"},
    {"holding", "dropping"},
    {"holds", "drops"},
    {"dropping", "holding"},
    {"sitting", "standing"},
    {"sits", "stands"},
    {"standing", "sitting"},
    {"stands", "sits"},
    {"walking", "running"},
    {"running", "walking"},
    {"drops", "holds"},
    {"smiling", "frowning"},
    {"frowning", "smiling"},
    {"away from", "towards"},
    {"far away from", "close to"},
    {"looking away from", "looking at"},
    {"looking at", "looking away from"},
    {"empty", "full"},
    {"full", "empty"},
};

/* Verbs after a singular subject and their plural forms. */
static const char *const verbs[][2] = {
    {"is", "are"},         {"was", "were"},         {"has", "have"},       {"does", "do"},
    {"sits", "sit"},       {"stands", "stand"},     {"lies", "lie"},       {"rests", "rest"},
    {"holds", "hold"},     {"looks", "look"},       {"appears", "appear"}, {"seems", "seem"},
    {"sleeps", "sleep"},   {"waits", "wait"},       {"hangs", "hang"},     {"runs", "run"},
    {"walks", "walk"},     {"eats", "eat"},         {"plays", "play"},     {"rides", "ride"},
    {"carries", "carry"},  {"wears", "wear"},       {"contains", "contain"}, {"faces", "face"},
    {"grazes", "graze"},   {"stares", "stare"},     {"lays", "lay"},       {"perches", "perch"},
    {"flies", "fly"},      {"swims", "swim"},       {"drinks", "drink"},   {"occupies", "occupy"},
    {"leans", "lean"},     {"points", "point"},
    {"goes", "go"},        {"moves", "move"},       {"travels", "travel"}, {"crosses", "cross"},
};

/* Irregular plurals of nouns that descriptions use. */
static const char *const irregular[][2] = {
    {"person", "people"}, {"man", "men"},       {"woman", "women"},     {"child", "children"},
    {"mouse", "mice"},    {"knife", "knives"},  {"sheep", "sheep"},     {"skis", "skis"},
    {"scissors", "scissors"}, {"fish", "fish"}, {"deer", "deer"},       {"goose", "geese"},
    {"foot", "feet"},     {"tooth", "teeth"},   {"leaf", "leaves"},     {"shelf", "shelves"},
    {"wife", "wives"},    {"cattle", "cattle"}, {"people", "people"},   {"glasses", "glasses"},
    {"series", "series"}, {"broccoli", "broccoli"}, {"calf", "calves"}, {"wolf", "wolves"},
    {"potato", "potatoes"}, {"tomato", "tomatoes"}, {"bus", "buses"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool word_eq(const char *word, size_t len, const char *entry)
{
    /* The first letter rules out almost every entry cheaply. */
    return len > 0 && tolower((unsigned char)word[0]) == entry[0] && strlen(entry) == len &&
           strncasecmp(word, entry, len) == 0;
}

static bool in_list(const char *word, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (word_eq(word, len, list[i]))
            return true;
    return false;
}

pv_attr_class pv_vocab_attr_class(const char *word, size_t len)
{
    if (in_list(word, len, colours, COUNT(colours)))
        return PV_ATTR_COLOUR;
    if (in_list(word, len, sizes, COUNT(sizes)))
        return PV_ATTR_SIZE;
    if (in_list(word, len, materials, COUNT(materials)))
        return PV_ATTR_MATERIAL;
    return PV_ATTR_NONE;
}

size_t pv_vocab_attr_count(pv_attr_class c)
{
    switch (c) {
    case PV_ATTR_COLOUR: return COUNT(colours);
    case PV_ATTR_SIZE: return COUNT(sizes);
    case PV_ATTR_MATERIAL: return COUNT(materials);
    default: return 0;
    }
}

const char *pv_vocab_attr_word(pv_attr_class c, size_t i)
{
    if (i >= pv_vocab_attr_count(c))
        return NULL;
    switch (c) {
    case PV_ATTR_COLOUR: return colours[i];
    case PV_ATTR_SIZE: return sizes[i];
    case PV_ATTR_MATERIAL: return materials[i];
    default: return NULL;
    }
}

const char *pv_vocab_size_opposite(const char *word, size_t len)
{
    for (size_t i = 0; i < COUNT(size_pairs); i++) {
        if (word_eq(word, len, size_pairs[i][0]))
            return size_pairs[i][1];
        if (word_eq(word, len, size_pairs[i][1]))
            return size_pairs[i][0];
    }
    return NULL;
}

bool pv_vocab_is_adjective(const char *word, size_t len)
{
    return pv_vocab_attr_class(word, len) != PV_ATTR_NONE ||
           in_list(word, len, other_adjectives, COUNT(other_adjectives));
}

int pv_vocab_count_value(const char *word, size_t len)
{
    for (size_t i = 0; i < COUNT(count_words); i++)
        if (word_eq(word, len, count_words[i]))
            return (int)i;
    if (len == 0 || len > 2)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)word[i]))
            return -1;
        v = v * 10 + (word[i] - '0');
    }
    return v;
}

const char *pv_vocab_count_word(int n)
{
    return n >= 1 && n < (int)COUNT(count_words) ? count_words[n] : NULL;
}

size_t pv_vocab_relation_count(void) { return COUNT(relations); }

const pv_relation *pv_vocab_relation(size_t i)
{
    return i < COUNT(relations) ? &relations[i] : NULL;
}

const pv_relation *pv_vocab_relation_at(const char *text, size_t *len)
{
    const pv_relation *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < COUNT(relations); i++) {
        if (tolower((unsigned char)text[0]) != relations[i].phrase[0])
            continue;
        size_t n = strlen(relations[i].phrase);
        if (n <= best_len || strncasecmp(text, relations[i].phrase, n) != 0)
            continue;
        unsigned char after = (unsigned char)text[n];
        if (isalnum(after) || after == '-' || after == '\'')
            continue; /* "onto", "inside-out", "behind's" are other words */
        best = &relations[i];
        best_len = n;
    }
    if (best)
        *len = best_len;
    return best;
}

const char *pv_vocab_article(const char *next_word)
{
    /* Spelling decides except where the sound does not follow it. */
    static const char *const a_before_vowel[] = {"uni", "use", "usu", "uti", "one", "eu", "ur"};
    static const char *const an_before_consonant[] = {"hour", "honest", "honou", "heir"};
    for (size_t i = 0; i < COUNT(an_before_consonant); i++)
        if (strncasecmp(next_word, an_before_consonant[i], strlen(an_before_consonant[i])) == 0)
            return "an";
    for (size_t i = 0; i < COUNT(a_before_vowel); i++)
        if (strncasecmp(next_word, a_before_vowel[i], strlen(a_before_vowel[i])) == 0)
            return "a";
    return strchr("aeiouAEIOU", next_word[0]) && next_word[0] ? "an" : "a";
}

static bool ends_with(const char *w, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && strncasecmp(w + len - n, suffix, n) == 0;
}

bool pv_vocab_plural(const char *noun, size_t len, char *out, size_t outsize)
{
    /* Only the last word of a phrase inflects: "teddy bear" -> "teddy bears". */
    size_t head = len;
    while (head > 0 && noun[head - 1] != ' ')
        head--;
    const char *w = noun + head;
    size_t wl = len - head;
    char suffix[32];
    const char *stem_end = w + wl; /* the word is copied up to here, then the suffix */
    suffix[0] = '\0';
    bool done = false;
    for (size_t i = 0; i < COUNT(irregular) && !done; i++) {
        size_t n = strlen(irregular[i][0]);
        /* Compound words inflect their last part: "policeman", "snowman". */
        if (ends_with(w, wl, irregular[i][0]) && (n == wl || strcmp(irregular[i][0], "man") == 0)) {
            if (n != wl && wl >= 5 && strncasecmp(w + wl - 5, "human", 5) == 0)
                continue;
            stem_end = w + wl - n;
            snprintf(suffix, sizeof suffix, "%s", irregular[i][1]);
            done = true;
        }
    }
    if (!done) {
        if (ends_with(w, wl, "s") || ends_with(w, wl, "x") || ends_with(w, wl, "z") ||
            ends_with(w, wl, "ch") || ends_with(w, wl, "sh")) {
            snprintf(suffix, sizeof suffix, "es");
        } else if (wl >= 2 && (w[wl - 1] == 'y' || w[wl - 1] == 'Y') &&
                   !strchr("aeiouAEIOU", w[wl - 2])) {
            stem_end = w + wl - 1;
            snprintf(suffix, sizeof suffix, "ies");
        } else {
            snprintf(suffix, sizeof suffix, "s");
        }
    }
    size_t stem = (size_t)(stem_end - noun);
    size_t need = stem + strlen(suffix) + 1;
    if (need > outsize)
        return false;
    memcpy(out, noun, stem);
    strcpy(out + stem, suffix);
    return true;
}

const char *pv_vocab_verb_plural(const char *word, size_t len)
{
    for (size_t i = 0; i < COUNT(verbs); i++)
        if (word_eq(word, len, verbs[i][0]))
            return verbs[i][1];
    return NULL;
}

void pv_vocab_copy_case(const char *model, const char *word, char *out, size_t outsize)
{
    if (outsize == 0)
        return;
    snprintf(out, outsize, "%s", word);
    if (isupper((unsigned char)model[0]))
        out[0] = (char)toupper((unsigned char)out[0]);
}
