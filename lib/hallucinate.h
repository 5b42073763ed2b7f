/* The rules engine of pv-hallucinate: rewrites a ground-truth description into a
 * dispreferred one by injecting hallucinations of three kinds (POVID.md):
 *
 *   object     inserts an object that is neither in the record's `objects` nor
 *              mentioned, chosen among those that co-occur most with the present
 *              ones (lib/cooccur): into a list ("a dog and a frisbee" ->
 *              "a dog, a frisbee and a bench") or as a new sentence ("There is
 *              also a bench in the background.");
 *   attribute  swaps a colour, size or material word in front of a mentioned
 *              object, or raises its count with number agreement ("a dog sits" ->
 *              "two dogs sit", "two cats" -> "three cats");
 *   relation   swaps a spatial or logical relation for its opposite ("left" ->
 *              "right", "on the table" -> "under the table", "holding" -> "dropping").
 *
 * Deterministic: every random choice is drawn from a splitmix64 stream whose
 * state starts at seed XOR FNV-1a-64(key), where key is the record id (or the
 * text when there is none), so a record's result depends on the seed, its id
 * and its content, never on its position in the input.
 *
 * Edits never touch the words of an object mention (so the real objects stay
 * mentioned) and never add a word the lexicon reads as an object, except the
 * inserted objects themselves. */
#ifndef PV_HALLUCINATE_H
#define PV_HALLUCINATE_H

#include <stddef.h>
#include <stdint.h>

#include "cooccur.h"
#include "lexicon.h"

enum pv_edit_type {
    PV_EDIT_OBJECT = 1,
    PV_EDIT_ATTRIBUTE = 2,
    PV_EDIT_RELATION = 4,
    PV_EDIT_ALL = 7,
};

/* "object", "attribute" or "relation". */
const char *pv_edit_type_name(int type);
/* Parses "object,attribute" into a mask; 0 on an unknown name. */
unsigned pv_edit_types_parse(const char *list);

typedef struct pv_hal_options {
    const pv_lexicon *lex;
    const pv_cooccur *cooccur;
    unsigned types;   /* mask of enum pv_edit_type */
    int edits;        /* wanted edits per record (>= 1) */
    uint64_t seed;
} pv_hal_options;

typedef struct pv_hal_edit {
    int type;     /* enum pv_edit_type */
    char *from;   /* the words replaced ("" for an inserted object) */
    char *to;     /* their replacement */
    char *object; /* object edits: the category inserted; NULL otherwise */
} pv_hal_edit;

typedef struct pv_hal_result {
    char *text;   /* the rewritten description (NULL when no edit applied) */
    pv_hal_edit *edits;
    size_t n;
} pv_hal_result;

/* Rewrites `chosen`. `objects` are the ground-truth objects (category names or
 * synonyms; may be empty when object edits are not asked for). `key` seeds the
 * record's random stream (its id). Returns the number of edits made, from 0 (no
 * edit of the asked kinds applies: result->text is NULL) to opt->edits. */
size_t pv_hallucinate(const pv_hal_options *opt, const char *key, const char *chosen,
                      const char *const *objects, size_t nobjects, pv_hal_result *result);
void pv_hal_result_free(pv_hal_result *result);

/* The record's random stream (exposed for tests). */
uint64_t pv_hal_stream_start(uint64_t seed, const char *key);
uint64_t pv_hal_next(uint64_t *state);

#endif
