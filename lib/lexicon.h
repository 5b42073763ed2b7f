/* The object lexicon: the 80 COCO categories with their synonyms and CHAIR's
 * rules, and the search for object mentions in text.
 *
 * Built in (lib/lexicon_data.c, the project's own list) or loaded from a file in
 * the format of CHAIR's published synonyms.txt: one category per line, entries
 * separated by ", ", the first entry the category name. Multi-word names
 * ("hot dog", "teddy bear") match before their words; CHAIR's special rules:
 * "baby X"/"adult X" of an animal count as X, "passenger jet/train" as jet/train,
 * "bow tie" as tie, "toilet seat" as toilet, and "seat" is dropped when "toilet" is
 * mentioned in the same text. (X ranges over every word of the animal categories,
 * and "passenger" also applies to buses and boats; "train track" and "home
 * plate" are not objects: see lib/lexicon.c.) Entries and text are compared in
 * normalised form (pv_lexicon_normalize), so plurals match: "hot dogs", "mice".
 * File entries are trimmed and lower-cased; a synonym listed under two
 * categories belongs to the later one, as in CHAIR's code. Words are those of
 * words.h; a word longer than 47 bytes is never part of a mention. */
#ifndef PV_LEXICON_H
#define PV_LEXICON_H

#include <stddef.h>

typedef struct pv_lexicon pv_lexicon;

pv_lexicon *pv_lexicon_builtin(void);
/* Loads a synonyms file; NULL with a message ("file:line: ...") in err. */
pv_lexicon *pv_lexicon_load(const char *path, char *err, size_t errlen);
void pv_lexicon_free(pv_lexicon *lex);

int pv_lexicon_size(const pv_lexicon *lex);                  /* number of categories */
const char *pv_lexicon_name(const pv_lexicon *lex, int cat); /* category name */
/* Category of a name or synonym, singular or plural ("dogs", "hot dogs"); -1 if none. */
int pv_lexicon_lookup(const pv_lexicon *lex, const char *phrase);

typedef struct pv_mention {
    int category;        /* index into the lexicon */
    size_t start, end;   /* byte range of the matched words in the text */
} pv_mention;

/* Finds the object mentions in `text` in order of appearance, CHAIR's way
 * (lower-case, tokenise, singularise, two-word names first, special rules).
 * Writes at most `max` into out and returns the total number found. */
size_t pv_lexicon_mentions(const pv_lexicon *lex, const char *text, pv_mention *out, size_t max);

/* ---- additions (compatible) ---- */

/* The built-in list (lib/lexicon_data.c): lines of the synonyms-file format,
 * NULL-terminated. */
extern const char *const pv_lexicon_builtin_lines[];

/* Builds a lexicon from lines of the synonyms-file format (NULL-terminated);
 * NULL with a message ("line N: ...") in err. */
pv_lexicon *pv_lexicon_from_lines(const char *const *lines, char *err, size_t errlen);

/* Category index of a COCO category name ("dining table"), or -1. Unlike
 * pv_lexicon_lookup it matches category names only, not synonyms. */
int pv_lexicon_category(const pv_lexicon *lex, const char *name);

/* Writes the normalised form of a phrase (words lower-cased, singularised,
 * joined by one space) into buf; returns its length (0 for no words). This is
 * the form in which entries and text are compared. */
size_t pv_lexicon_normalize(const char *phrase, char *buf, size_t bufsize);

/* pv_lexicon_mentions that also stores the number of words of the text (words.h)
 * in *nwords when it is not NULL. */
size_t pv_lexicon_scan(const pv_lexicon *lex, const char *text, pv_mention *out, size_t max,
                       size_t *nwords);

#endif
