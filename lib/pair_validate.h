/* pv-pair's checks: what a record must have to be kept, and --dedupe.
 *
 * Two kinds of failure, on purpose:
 *  - a required field that is missing, or not of its type (a string; "id" may
 *    also be a number; "objects" a list of strings), is a bad record: reported
 *    through pv_bad_record (exit status 1, skipped with --keep-going);
 *  - a record that is well formed but unusable is dropped with a reason and the
 *    run goes on (status 0): a required string that is empty, "chosen" identical
 *    to "rejected" (checked when both are required), an image file that does not
 *    exist (with --check-images), a duplicate (with --dedupe). */
#ifndef PV_PAIR_VALIDATE_H
#define PV_PAIR_VALIDATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "pair_strmap.h"

#define PV_PAIR_DEFAULT_REQUIRE "id,image,prompt,chosen,rejected"

typedef struct pv_pair_rules {
    char **require;         /* field names; may be empty */
    int n_require;
    bool distinct;          /* chosen != rejected (both are required) */
    bool check_images;      /* the image file must exist ... */
    const char *image_root; /* ... relative paths resolved here (NULL: current directory) */
} pv_pair_rules;

/* Sets the required fields from a comma-separated list ("" for none); a usage
 * error for an empty name in the list. */
void pv_pair_rules_require(pv_pair_rules *rules, const char *list);
void pv_pair_rules_free(pv_pair_rules *rules);

enum { PV_PAIR_BAD = -1, PV_PAIR_KEEP = 0, PV_PAIR_DROP = 1 };

/* Checks one record. PV_PAIR_DROP fills `reason` (a short phrase, also used to
 * count drops by kind: it never contains record data); PV_PAIR_BAD means it was
 * reported as a bad record. */
int pv_pair_validate(const pv_pair_rules *rules, const cJSON *rec, const char *file, long line,
                     char *reason, size_t reason_size);

/* --dedupe: which key makes two records the same. */
typedef enum pv_dedupe_key {
    PV_DEDUPE_NONE = 0,
    PV_DEDUPE_ID = 1,      /* the "id" value */
    PV_DEDUPE_CONTENT = 2, /* image, prompt, chosen and rejected together */
} pv_dedupe_key;

extern const char *const pv_dedupe_key_names[]; /* "none", "id", "content", NULL */

typedef struct pv_dedupe {
    pv_dedupe_key key;
    pv_strmap *seen;
} pv_dedupe;

void pv_dedupe_init(pv_dedupe *d, pv_dedupe_key key);
/* True when a record with the same key was seen before (the first one is kept).
 * A record without an id is never a duplicate under PV_DEDUPE_ID. */
bool pv_dedupe_repeat(pv_dedupe *d, const cJSON *rec);
void pv_dedupe_free(pv_dedupe *d);

#endif
