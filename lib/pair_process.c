#include "pair_process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "records.h"

static void count_drop(pv_pair *p, const char *reason)
{
    for (int i = 0; i < p->n_drops; i++) {
        if (strcmp(p->drops[i].reason, reason) == 0) {
            p->drops[i].count++;
            return;
        }
    }
    p->drops = realloc(p->drops, (size_t)(p->n_drops + 1) * sizeof *p->drops);
    if (!p->drops)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    pv_pair_drop_count *d = &p->drops[p->n_drops++];
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->count = 1;
}

static cJSON *drop(pv_pair *p, cJSON *rec, const char *reason, const char *file, long line)
{
    char buf[64];
    const char *id = pv_rec_id(rec, buf, sizeof buf);
    if (id)
        pv_info("%s:%ld: dropped: %s (id %s)", file, line, reason, id);
    else
        pv_info("%s:%ld: dropped: %s", file, line, reason);
    count_drop(p, reason);
    cJSON_Delete(rec);
    return NULL;
}

static cJSON *bad(pv_pair *p, cJSON *rec)
{
    p->bad++;
    cJSON_Delete(rec);
    return NULL;
}

void pv_pair_count_bad(pv_pair *p)
{
    p->read++;
    p->bad++;
}

cJSON *pv_pair_process(pv_pair *p, cJSON *obj, pv_pair_format from, const char *file, long line)
{
    p->read++;
    cJSON *rec = pv_pair_import(obj, from, file, line);
    if (!rec)
        return bad(p, NULL);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    if (p->assign_ids && (!id || cJSON_IsNull(id))) {
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", p->read);
        pv_rec_set_string(rec, "id", buf);
    }
    if (p->join && !pv_join_apply(p->join, rec) && !p->keep_unmatched)
        return drop(p, rec, "no match in the --join file", file, line);
    char reason[96];
    switch (pv_pair_validate(&p->rules, rec, file, line, reason, sizeof reason)) {
    case PV_PAIR_BAD:
        return bad(p, rec);
    case PV_PAIR_DROP:
        return drop(p, rec, reason, file, line);
    default:
        break;
    }
    if (pv_dedupe_repeat(&p->dedupe, rec))
        return drop(p, rec, p->dedupe.key == PV_DEDUPE_ID ? "duplicate id" : "duplicate content",
                    file, line);
    cJSON *out = pv_pair_export(rec, p->to, file, line);
    if (!out)
        return bad(p, NULL);
    p->kept++;
    return out;
}

void pv_pair_summary(const pv_pair *p)
{
    if (pv_quiet)
        return;
    long dropped = 0;
    for (int i = 0; i < p->n_drops; i++)
        dropped += p->drops[i].count;
    char text[2048];
    int n = snprintf(text, sizeof text, "%ld read, %ld kept, %ld dropped", p->read, p->kept, dropped);
    for (int i = 0; i < p->n_drops && n < (int)sizeof text; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%ld %s", i ? ", " : " (",
                      p->drops[i].count, p->drops[i].reason);
    if (p->n_drops && n < (int)sizeof text)
        n += snprintf(text + n, sizeof text - (size_t)n, ")");
    if (p->bad && n < (int)sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ", %ld bad", p->bad);
    pv_info("%s", text);
}

void pv_pair_free(pv_pair *p)
{
    pv_pair_rules_free(&p->rules);
    pv_dedupe_free(&p->dedupe);
    pv_join_free(p->join);
    free(p->drops);
}
