#include "vocab.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "words.h"

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

/* Opposites. Phrases are matched longest first, so "on the left" wins over "on the".
 * The third field marks prepositions: see pv_relation.needs_object. */
static const pv_relation relations[] = {
    {"to the left of", "to the right of", true},
    {"to the right of", "to the left of", true},
    {"on the left", "on the right", false},
    {"on the right", "on the left", false},
    {"left side", "right side", false},
    {"right side", "left side", false},
    {"in front of", "behind", true},
    {"behind", "in front of", true},
    {"on top of", "underneath", true},
    {"underneath", "on top of", true},
    {"above", "below", true},
    {"below", "above", true},
    {"beneath", "above", true},
    {"under", "on top of", true},
    {"on the", "under the", true},
    {"on a", "under a", true},
    {"on an", "under an", true},
    {"inside", "outside", true},
    {"outside", "inside", true},
    {"next to", "far from", true},
    {"beside", "far from", true},
    {"near", "far from", true},
    {"close to", "far away from", true},
    {"far from", "next to", true},
    {"in the foreground", "in the background", false},
    {"in the background", "in the foreground", false},
    {"into", "out of", true},
    {"out of", "into", true},
    {"towards", "away from", true},
    {"toward", "away from", true},
    {"holding", "dropping", false},
    {"holds", "drops", false},
    {"dropping", "holding", false},
    {"sitting", "standing", false},
    {"sits", "stands", false},
    {"standing", "sitting", false},
    {"stands", "sits", false},
    {"walking", "running", false},
    {"running", "walking", false},
    {"drops", "holds", false},
    {"smiling", "frowning", false},
    {"frowning", "smiling", false},
    {"away from", "towards", true},
    {"far away from", "close to", true},
    {"looking away from", "looking at", false},
    {"looking at", "looking away from", false},
    {"empty", "full", false},
    {"full", "empty", false},
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

bool pv_vocab_plural(const char *noun, size_t len, char *out, size_t outsize)
{
    /* Only the last word of a phrase inflects: "teddy bear" -> "teddy bears";
     * lib/words knows the irregular plurals. */
    size_t head = len;
    while (head > 0 && noun[head - 1] != ' ')
        head--;
    size_t wl = len - head;
    if (wl == 0 || wl > PV_WORD_MAX)
        return false;
    char lower[PV_WORD_MAX + 1], plural[2 * PV_WORD_MAX + 8];
    pv_lower(noun + head, wl, lower, sizeof lower);
    pv_plural(lower, plural, sizeof plural);
    if (isupper((unsigned char)noun[head]))
        plural[0] = (char)toupper((unsigned char)plural[0]);
    if (head + strlen(plural) + 1 > outsize)
        return false;
    memcpy(out, noun, head);
    strcpy(out + head, plural);
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
