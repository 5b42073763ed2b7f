/* CHAIR (Rohrbach et al. 2018, POVID.md "Evaluation"): object hallucination in
 * image descriptions.
 *
 * For one text and its ground-truth categories, pv_chair_score finds the object
 * mentions (lexicon.h) and marks each as hallucinated when its category is not
 * in the ground truth. Totals pool the records:
 *   chair_s = records with at least one hallucinated mention / records
 *   chair_i = hallucinated mentions / mentions (every mention counts, repeats too)
 *   recall  = ground-truth categories mentioned / ground-truth categories, both
 *             summed over records (distinct per record), as CHAIR's code does
 *   mean_words = words (words.h) / records
 * A ratio with a zero denominator is undefined and written as JSON null. */
#ifndef PV_CHAIR_H
#define PV_CHAIR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lexicon.h"

typedef struct pv_chair_record {
    size_t n_mentions, n_hallucinated;
    int *mentioned;     /* category of each mention, in text order */
    bool *hallucinated; /* per mention */
    size_t n_recalled;
    int *recalled;      /* distinct ground-truth categories mentioned, by first mention */
    size_t n_gt;        /* distinct ground-truth categories */
    size_t words;
    /* scratch, owned */
    size_t cap;
    pv_mention *m;
    unsigned char *in_gt; /* per lexicon category */
    int ncat;
} pv_chair_record;

typedef struct pv_chair_totals {
    long n, hallucinated_records;
    long mentions, hallucinated_mentions;
    long gt_objects, recalled_objects;
    long words;
} pv_chair_totals;

void pv_chair_record_init(pv_chair_record *r);
void pv_chair_record_free(pv_chair_record *r);

/* Scores `text` against the ground-truth categories gt[0..n_gt) (repeats are
 * ignored). Returns 0, or -1 when out of memory. */
int pv_chair_score(const pv_lexicon *lex, const char *text, const int *gt, size_t n_gt,
                   pv_chair_record *r);

void pv_chair_add(pv_chair_totals *t, const pv_chair_record *r);

/* {"mentioned":[names], "hallucinated":[names], "recalled":[names], "words":N}:
 * mentioned and hallucinated list every mention in text order (repeats
 * included, so their lengths are the counts behind chair_i); recalled lists
 * each recalled category once. */
cJSON *pv_chair_record_json(const pv_lexicon *lex, const pv_chair_record *r);

/* {"metric":"chair", n, chair_s, chair_i, recall, mean_words, mentions,
 *  hallucinated_mentions, hallucinated_records, gt_objects, recalled_objects} */
cJSON *pv_chair_summary_json(const pv_chair_totals *t);

/* A human-readable table of the totals. */
void pv_chair_print_table(FILE *f, const pv_chair_totals *t, const char *field);

#endif
