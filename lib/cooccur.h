/* Object co-occurrence statistics: how often two objects appear in the same image.
 *
 * Counted from records that carry `objects` (each record counts once per object
 * and once per pair, duplicates within a record ignored), written to and read
 * from a JSON file:
 *
 *   {"format": "pv-cooccur", "version": 1, "records": 3,
 *    "objects": {"dog": 2, "frisbee": 1, ...},
 *    "pairs": {"dog": {"frisbee": 1, ...}, "frisbee": {"dog": 1}, ...}}
 *
 * `pairs` is symmetric; keys are sorted so that the file is reproducible.
 * The built-in table is the project's own common-sense list of COCO scenes
 * (kitchens, streets, fields with animals, ...), counted the same way.
 *
 * Ranking: for the objects present in an image, each other object c scores
 * sum over present s of pairs(s, c) / objects(s), an estimate of how often c is
 * seen where s is seen, added over the present objects. */
#ifndef PV_COOCCUR_H
#define PV_COOCCUR_H

#include <stddef.h>

typedef struct pv_cooccur pv_cooccur;

pv_cooccur *pv_cooccur_new(void);
void pv_cooccur_free(pv_cooccur *co);
/* The built-in table (a fresh copy each call). */
pv_cooccur *pv_cooccur_builtin(void);

/* Counts one image with these objects (names are lower-cased and trimmed;
 * empty names and repeats are ignored). */
void pv_cooccur_add(pv_cooccur *co, const char *const *names, size_t n);

long pv_cooccur_records(const pv_cooccur *co);
size_t pv_cooccur_size(const pv_cooccur *co);      /* distinct object names */
long pv_cooccur_count(const pv_cooccur *co, const char *name);
long pv_cooccur_pair(const pv_cooccur *co, const char *a, const char *b);

/* The statistics as JSON text (malloc'd, ends with a newline). */
char *pv_cooccur_to_json(const pv_cooccur *co);
/* Parses the JSON form; NULL with a message in err. */
pv_cooccur *pv_cooccur_from_json(const char *text, size_t len, char *err, size_t errlen);
/* Reads a file in the JSON form; NULL with a message (without the path) in err. */
pv_cooccur *pv_cooccur_load(const char *path, char *err, size_t errlen);

typedef struct pv_cooccur_candidate {
    const char *name; /* owned by the table */
    double score;
} pv_cooccur_candidate;

/* Objects that co-occur with `present`, not among them, best first (ties by name).
 * Writes at most max and returns how many were written. */
size_t pv_cooccur_rank(const pv_cooccur *co, const char *const *present, size_t n,
                       pv_cooccur_candidate *out, size_t max);

#endif
