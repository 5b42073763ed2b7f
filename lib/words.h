/* English words in text: a tokenizer that keeps byte positions, ASCII
 * lower-casing, and a singulariser/pluraliser for nouns.
 *
 * Words follow the Penn Treebank tokenisation that CHAIR's published code uses
 * (nltk.word_tokenize): a word is a run of letters and digits; a hyphen between
 * two such characters joins them ("t-shirt", "man-made" are one word); an
 * apostrophe ends a word ("dog's" gives "dog" and "s"); bytes of non-ASCII UTF-8
 * characters count as letters, so a character is never split. Punctuation is not
 * a word.
 *
 * pv_singular() handles regular plurals (dogs, buses, glasses, boxes, benches,
 * dishes, berries, tomatoes), irregular ones (people, men, women, children,
 * mice, geese, teeth, feet, oxen, knives, leaves, wolves), words that end in -i
 * (skis, taxis), and leaves singulars alone (glass, bus, grass, dress, tennis,
 * cactus, sheep). It is meant for the nouns of image descriptions; it is not a
 * dictionary, and a word it does not know as plural is returned unchanged. */
#ifndef PV_WORDS_H
#define PV_WORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest word pv_singular/pv_plural handle; longer words are left unchanged. */
#define PV_WORD_MAX 64

typedef struct pv_word {
    size_t start, end; /* byte range [start, end) in the text */
} pv_word;

/* Splits text[0..len) into words. Writes at most `max` into out (out may be NULL
 * when max is 0) and returns the total number of words. */
size_t pv_words(const char *text, size_t len, pv_word *out, size_t max);

/* Lower-cases ASCII letters of s[0..len) into buf (NUL-terminated, truncated to
 * bufsize - 1 bytes). Returns the number of bytes written. */
size_t pv_lower(const char *s, size_t len, char *buf, size_t bufsize);

/* Singular of a lower-case word, written to buf (bufsize >= PV_WORD_MAX + 1 is
 * always enough). Returns buf. Words that are not plural come back unchanged. */
const char *pv_singular(const char *word, char *buf, size_t bufsize);

/* Lower-cases s[0..len) and makes it singular, into buf: the same as pv_lower
 * then pv_singular, in one step. Returns the length written. */
size_t pv_word_normalize(const char *s, size_t len, char *buf, size_t bufsize);

/* Plural of a lower-case singular noun ("bus" -> "buses", "person" -> "people",
 * "knife" -> "knives", "sheep" -> "sheep"), written to buf. Returns buf. */
const char *pv_plural(const char *word, char *buf, size_t bufsize);

/* True when pv_singular would change the word (it reads as a plural). */
bool pv_is_plural(const char *word);

#endif
