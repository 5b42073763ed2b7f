/* Attribute and relation vocabularies for rewriting descriptions.
 *
 * Attributes come in classes (colour, size, material, number); a word of a class
 * can be swapped for another word of the same class. Relations are phrases with
 * an opposite ("on the left of" <-> "on the right of", "above" <-> "below").
 * Everything is lower-case ASCII; callers compare words case-insensitively and
 * restore capitals themselves (pv_vocab_copy_case).
 *
 * Small English helpers live here too because the rewrites need them: the
 * plural of a noun, the article a word takes ("a" or "an"), and the
 * singular <-> plural forms of the verbs that follow a subject. */
#ifndef PV_VOCAB_H
#define PV_VOCAB_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pv_attr_class {
    PV_ATTR_NONE = -1,
    PV_ATTR_COLOUR = 0,
    PV_ATTR_SIZE,
    PV_ATTR_MATERIAL,
    PV_ATTR_COUNT_CLASSES
} pv_attr_class;

/* Class of an attribute word ("red" -> colour, "wooden" -> material), or PV_ATTR_NONE.
 * `len` bytes of `word` are compared, case-insensitively. */
pv_attr_class pv_vocab_attr_class(const char *word, size_t len);
/* Number of words in a class and the i-th of them. */
size_t pv_vocab_attr_count(pv_attr_class c);
const char *pv_vocab_attr_word(pv_attr_class c, size_t i);
/* The size word of opposite sense ("large" -> "small"), or NULL. */
const char *pv_vocab_size_opposite(const char *word, size_t len);
/* Other words that may sit between an article and its noun without changing
 * number ("young", "fluffy", "old"): the attribute words plus a short list. */
bool pv_vocab_is_adjective(const char *word, size_t len);

/* Counts: "one".."twelve" and digits. Returns the value, or -1 when not a count word. */
int pv_vocab_count_value(const char *word, size_t len);
/* The word for a count 1..12 ("three"). NULL otherwise. */
const char *pv_vocab_count_word(int n);

/* A relation phrase and its opposite. Phrases are one to four words. */
typedef struct pv_relation {
    const char *phrase;
    const char *opposite;
    /* A preposition, swapped only where an object follows it: "on the table" ->
     * "under the table" is a plausible mistake, "on the grass" -> "under the
     * grass" is not. */
    bool needs_object;
} pv_relation;
size_t pv_vocab_relation_count(void);
const pv_relation *pv_vocab_relation(size_t i);
/* The relation whose phrase starts `text` at a word boundary (the longest one),
 * or NULL. On a match *len is its length in bytes. */
const pv_relation *pv_vocab_relation_at(const char *text, size_t *len);

/* "a" or "an" for the word that would follow it ("an orange", "a unicorn"). */
const char *pv_vocab_article(const char *next_word);
/* Plural of a singular noun (the last word of a phrase is inflected by
 * lib/words' pv_plural: "hot dog" -> "hot dogs", "Man" -> "Men"), written into
 * out. Returns false if it does not fit. */
bool pv_vocab_plural(const char *noun, size_t len, char *out, size_t outsize);
/* Plural form of a verb that follows a singular subject ("is" -> "are", "sits" ->
 * "sit", "has" -> "have"); NULL when the word is not a verb we know. */
const char *pv_vocab_verb_plural(const char *word, size_t len);

/* Writes `word` with the capitalisation of `model` (first letter only) into out. */
void pv_vocab_copy_case(const char *model, const char *word, char *out, size_t outsize);

#endif
