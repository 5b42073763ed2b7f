/* POPE (Li et al. 2023, POVID.md "Evaluation"): yes/no object probing.
 *
 * The answer rule is the one of the published evaluation script: keep the text
 * before the first '.', delete commas, split at single spaces; the answer is
 * "no" when one of the pieces is exactly "No", "no" or "not", else "yes".
 * "yes" is the positive class. */
#ifndef PV_POPE_H
#define PV_POPE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

/* True when the answer reads as "yes" under the rule above. */
bool pv_pope_says_yes(const char *answer);

typedef struct pv_pope_counts {
    long tp, fp, tn, fn;
} pv_pope_counts;

void pv_pope_add(pv_pope_counts *c, bool predicted_yes, bool label_yes);

/* {"metric":"pope", "group": group or null, n, accuracy, precision, recall, f1,
 *  yes_ratio, tp, fp, tn, fn}; undefined ratios (zero denominator) are null. */
cJSON *pv_pope_summary_json(const pv_pope_counts *c, const char *group);

void pv_pope_print_table_header(FILE *f);
void pv_pope_print_table_row(FILE *f, const pv_pope_counts *c, const char *group);

#endif
