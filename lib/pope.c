/* POPE answer rule and metrics (pope.h). */
#include "pope.h"

#include <string.h>

bool pv_pope_says_yes(const char *answer)
{
    /* text.split('.')[0], then .replace(',', ''), then .split(' '): walk the
     * first sentence once, building each space-separated piece without commas. */
    const char *end = strchr(answer, '.');
    if (!end)
        end = answer + strlen(answer);
    char piece[8]; /* only pieces up to "not" matter; longer ones are marked */
    size_t n = 0;
    bool too_long = false;
    for (const char *p = answer;; p++) {
        if (p == end || *p == ' ') {
            piece[n] = '\0';
            if (!too_long &&
                (strcmp(piece, "No") == 0 || strcmp(piece, "no") == 0 || strcmp(piece, "not") == 0))
                return false;
            if (p == end)
                return true;
            n = 0;
            too_long = false;
        } else if (*p != ',') {
            if (n < sizeof piece - 1)
                piece[n++] = *p;
            else
                too_long = true;
        }
    }
}

void pv_pope_add(pv_pope_counts *c, bool predicted_yes, bool label_yes)
{
    if (predicted_yes && label_yes)
        c->tp++;
    else if (predicted_yes)
        c->fp++;
    else if (label_yes)
        c->fn++;
    else
        c->tn++;
}

static void add_ratio(cJSON *o, const char *name, double num, double den)
{
    if (den > 0)
        cJSON_AddNumberToObject(o, name, num / den);
    else
        cJSON_AddNullToObject(o, name);
}

cJSON *pv_pope_summary_json(const pv_pope_counts *c, const char *group)
{
    long n = c->tp + c->fp + c->tn + c->fn;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "metric", "pope");
    if (group)
        cJSON_AddStringToObject(o, "group", group);
    else
        cJSON_AddNullToObject(o, "group");
    cJSON_AddNumberToObject(o, "n", (double)n);
    add_ratio(o, "accuracy", (double)(c->tp + c->tn), (double)n);
    add_ratio(o, "precision", (double)c->tp, (double)(c->tp + c->fp));
    add_ratio(o, "recall", (double)c->tp, (double)(c->tp + c->fn));
    /* F1 = 2PR/(P+R) = 2TP/(2TP+FP+FN); undefined when P or R is */
    if (c->tp + c->fp > 0 && c->tp + c->fn > 0)
        add_ratio(o, "f1", 2.0 * (double)c->tp, (double)(2 * c->tp + c->fp + c->fn));
    else
        cJSON_AddNullToObject(o, "f1");
    add_ratio(o, "yes_ratio", (double)(c->tp + c->fp), (double)n);
    cJSON_AddNumberToObject(o, "tp", (double)c->tp);
    cJSON_AddNumberToObject(o, "fp", (double)c->fp);
    cJSON_AddNumberToObject(o, "tn", (double)c->tn);
    cJSON_AddNumberToObject(o, "fn", (double)c->fn);
    return o;
}

void pv_pope_print_table_header(FILE *f)
{
    fprintf(f, "%-16s %6s %9s %9s %9s %9s %9s\n", "group", "n", "accuracy", "precision",
            "recall", "F1", "yes");
}

static void cell(FILE *f, double num, double den)
{
    if (den > 0)
        fprintf(f, " %8.2f%%", 100.0 * num / den);
    else
        fprintf(f, " %9s", "-");
}

void pv_pope_print_table_row(FILE *f, const pv_pope_counts *c, const char *group)
{
    long n = c->tp + c->fp + c->tn + c->fn;
    fprintf(f, "%-16.16s %6ld", group ? group : "(all)", n);
    cell(f, (double)(c->tp + c->tn), (double)n);
    cell(f, (double)c->tp, (double)(c->tp + c->fp));
    cell(f, (double)c->tp, (double)(c->tp + c->fn));
    if (c->tp + c->fp > 0 && c->tp + c->fn > 0)
        cell(f, 2.0 * (double)c->tp, (double)(2 * c->tp + c->fp + c->fn));
    else
        cell(f, 0, 0);
    cell(f, (double)(c->tp + c->fp), (double)n);
    fputc('\n', f);
}
