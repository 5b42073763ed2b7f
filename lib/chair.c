/* CHAIR per record and pooled (chair.h). */
#include "chair.h"

#include <stdlib.h>
#include <string.h>


void pv_chair_record_init(pv_chair_record *r) { memset(r, 0, sizeof *r); }

void pv_chair_record_free(pv_chair_record *r)
{
    free(r->mentioned);
    free(r->hallucinated);
    free(r->recalled);
    free(r->m);
    free(r->in_gt);
    memset(r, 0, sizeof *r);
}

static int reserve(pv_chair_record *r, size_t n)
{
    if (n <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 64;
    while (cap < n)
        cap *= 2;
    int *mentioned = realloc(r->mentioned, cap * sizeof *mentioned);
    if (mentioned)
        r->mentioned = mentioned;
    bool *hallucinated = realloc(r->hallucinated, cap * sizeof *hallucinated);
    if (hallucinated)
        r->hallucinated = hallucinated;
    int *recalled = realloc(r->recalled, cap * sizeof *recalled);
    if (recalled)
        r->recalled = recalled;
    pv_mention *m = realloc(r->m, cap * sizeof *m);
    if (m)
        r->m = m;
    if (!mentioned || !hallucinated || !recalled || !m)
        return -1;
    r->cap = cap;
    return 0;
}

int pv_chair_score(const pv_lexicon *lex, const char *text, const int *gt, size_t n_gt,
                   pv_chair_record *r)
{
    int ncat = pv_lexicon_size(lex);
    if (r->ncat != ncat) {
        unsigned char *in_gt = realloc(r->in_gt, (size_t)ncat);
        if (!in_gt)
            return -1;
        r->in_gt = in_gt;
        r->ncat = ncat;
    }
    if (reserve(r, 64) != 0)
        return -1;
    /* in_gt: 0 = not ground truth, 1 = ground truth, 2 = ground truth and recalled */
    memset(r->in_gt, 0, (size_t)ncat);
    r->n_gt = 0;
    for (size_t i = 0; i < n_gt; i++)
        if (gt[i] >= 0 && gt[i] < ncat && !r->in_gt[gt[i]]) {
            r->in_gt[gt[i]] = 1;
            r->n_gt++;
        }
    size_t n = pv_lexicon_scan(lex, text, r->m, r->cap, &r->words);
    if (n > r->cap) {
        if (reserve(r, n) != 0)
            return -1;
        n = pv_lexicon_scan(lex, text, r->m, r->cap, NULL);
    }
    r->n_mentions = n;
    r->n_hallucinated = 0;
    r->n_recalled = 0;
    for (size_t i = 0; i < n; i++) {
        int c = r->m[i].category;
        r->mentioned[i] = c;
        r->hallucinated[i] = r->in_gt[c] == 0;
        r->n_hallucinated += r->hallucinated[i];
        if (r->in_gt[c] == 1) {
            r->in_gt[c] = 2;
            r->recalled[r->n_recalled++] = c;
        }
    }
    return 0;
}

void pv_chair_add(pv_chair_totals *t, const pv_chair_record *r)
{
    t->n++;
    t->hallucinated_records += r->n_hallucinated > 0;
    t->mentions += (long)r->n_mentions;
    t->hallucinated_mentions += (long)r->n_hallucinated;
    t->gt_objects += (long)r->n_gt;
    t->recalled_objects += (long)r->n_recalled;
    t->words += (long)r->words;
}

static cJSON *names(const pv_lexicon *lex, const int *cats, const bool *only, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        if (!only || only[i])
            cJSON_AddItemToArray(a, cJSON_CreateString(pv_lexicon_name(lex, cats[i])));
    return a;
}

cJSON *pv_chair_record_json(const pv_lexicon *lex, const pv_chair_record *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "mentioned", names(lex, r->mentioned, NULL, r->n_mentions));
    cJSON_AddItemToObject(o, "hallucinated",
                          names(lex, r->mentioned, r->hallucinated, r->n_mentions));
    cJSON_AddItemToObject(o, "recalled", names(lex, r->recalled, NULL, r->n_recalled));
    cJSON_AddNumberToObject(o, "words", (double)r->words);
    return o;
}

static void add_ratio(cJSON *o, const char *name, long num, long den)
{
    if (den > 0)
        cJSON_AddNumberToObject(o, name, (double)num / (double)den);
    else
        cJSON_AddNullToObject(o, name);
}

cJSON *pv_chair_summary_json(const pv_chair_totals *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "metric", "chair");
    cJSON_AddNumberToObject(o, "n", (double)t->n);
    add_ratio(o, "chair_s", t->hallucinated_records, t->n);
    add_ratio(o, "chair_i", t->hallucinated_mentions, t->mentions);
    add_ratio(o, "recall", t->recalled_objects, t->gt_objects);
    add_ratio(o, "mean_words", t->words, t->n);
    cJSON_AddNumberToObject(o, "mentions", (double)t->mentions);
    cJSON_AddNumberToObject(o, "hallucinated_mentions", (double)t->hallucinated_mentions);
    cJSON_AddNumberToObject(o, "hallucinated_records", (double)t->hallucinated_records);
    cJSON_AddNumberToObject(o, "gt_objects", (double)t->gt_objects);
    cJSON_AddNumberToObject(o, "recalled_objects", (double)t->recalled_objects);
    return o;
}

static void row_ratio(FILE *f, const char *name, long num, long den, bool percent)
{
    if (den <= 0)
        fprintf(f, "  %-12s %10s\n", name, "-");
    else if (percent)
        fprintf(f, "  %-12s %9.2f%%  (%ld / %ld)\n", name, 100.0 * num / den, num, den);
    else
        fprintf(f, "  %-12s %10.2f  (%ld / %ld)\n", name, (double)num / den, num, den);
}

void pv_chair_print_table(FILE *f, const pv_chair_totals *t, const char *field)
{
    fprintf(f, "CHAIR of \"%s\" over %ld record%s\n", field, t->n, t->n == 1 ? "" : "s");
    row_ratio(f, "CHAIR_s", t->hallucinated_records, t->n, true);
    row_ratio(f, "CHAIR_i", t->hallucinated_mentions, t->mentions, true);
    row_ratio(f, "recall", t->recalled_objects, t->gt_objects, true);
    row_ratio(f, "mean words", t->words, t->n, false);
}
