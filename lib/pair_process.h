/* What pv-pair does to each record, in order:
 *   import (from llava or trl) -> assign a missing id (--assign-ids)
 *   -> join (--join) -> validate -> dedupe -> export (to llava or trl),
 * and the tally of what was kept and why the rest was dropped. */
#ifndef PV_PAIR_PROCESS_H
#define PV_PAIR_PROCESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "pair_formats.h"
#include "pair_join.h"
#include "pair_validate.h"

typedef struct pv_pair_drop_count {
    char reason[96];
    long count;
} pv_pair_drop_count;

typedef struct pv_pair {
    pv_pair_format to;
    bool assign_ids;     /* a record without "id" gets its ordinal (1, 2, ...) */
    pv_pair_rules rules;
    pv_dedupe dedupe;
    pv_join *join;       /* NULL: no --join */
    bool keep_unmatched; /* with --join: pass records without a match unchanged */
    /* Tally. */
    long read, kept, bad;
    pv_pair_drop_count *drops;
    int n_drops;
} pv_pair;

/* Runs one object (in format `from`, ownership taken) through the steps. Returns
 * the object to write (in format p->to), or NULL when it was dropped (reason shown
 * unless -q) or bad (reported). */
cJSON *pv_pair_process(pv_pair *p, cJSON *obj, pv_pair_format from, const char *file, long line);
/* A bad input object seen before processing (e.g. invalid JSON): counted as read
 * and bad, so that read = kept + dropped + bad. */
void pv_pair_count_bad(pv_pair *p);
/* "N read, N kept, N dropped (reasons...)" on stderr unless -q. */
void pv_pair_summary(const pv_pair *p);
void pv_pair_free(pv_pair *p);

#endif
