#include "pair_join.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "pair_input.h"
#include "pair_strmap.h"
#include "records.h"

struct pv_join {
    char *key;
    pv_strmap *table; /* key text -> cJSON record */
};

/* The key of `rec` as text: "s" or "n" (string or number, so that "1" and 1
 * differ) then the value. NULL when absent or of another type. */
static const char *key_text(const cJSON *rec, const char *field, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, field);
    if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) + 2 > size)
            return NULL;
        snprintf(buf, size, "s%s", v->valuestring);
        return buf;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d)
            snprintf(buf, size, "n%lld", (long long)d);
        else
            snprintf(buf, size, "n%.17g", d);
        return buf;
    }
    return NULL;
}

pv_join *pv_join_load(const char *path, const char *key)
{
    pv_pair_input *in = pv_pair_input_open(path);
    if (!in)
        pv_exit(PV_EXIT_SYSTEM);
    pv_join *j = calloc(1, sizeof *j);
    if (!j)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    j->key = strdup(key);
    j->table = pv_strmap_new();
    cJSON *rec;
    int rc;
    char buf[4096];
    while ((rc = pv_pair_input_next(in, &rec)) != 0) {
        if (rc < 0)
            continue;
        const char *name = pv_pair_input_name(in);
        long line = pv_pair_input_line(in);
        const char *k = key_text(rec, key, buf, sizeof buf);
        if (!k) {
            pv_bad_record(name, line, "missing \"%s\" (the --on key), or not a string or number "
                          "of at most %zu bytes", key, sizeof buf - 2);
            cJSON_Delete(rec);
            continue;
        }
        if (!pv_strmap_add(j->table, k, strlen(k), rec)) {
            pv_bad_record(name, line, "\"%s\" %s appears twice in the --join file", key, k + 1);
            cJSON_Delete(rec);
        }
    }
    pv_pair_input_close(in);
    return j;
}

bool pv_join_apply(const pv_join *j, cJSON *rec)
{
    char buf[4096];
    const char *k = key_text(rec, j->key, buf, sizeof buf);
    if (!k)
        return false;
    const cJSON *match = pv_strmap_get(j->table, k, strlen(k));
    if (!match)
        return false;
    const cJSON *item;
    cJSON_ArrayForEach(item, match)
    {
        if (strcmp(item->string, j->key) != 0)
            pv_rec_set(rec, item->string, cJSON_Duplicate(item, true));
    }
    return true;
}

long pv_join_size(const pv_join *j) { return (long)pv_strmap_count(j->table); }

static void free_record(void *rec) { cJSON_Delete(rec); }

void pv_join_free(pv_join *j)
{
    if (!j)
        return;
    pv_strmap_each_value(j->table, free_record);
    pv_strmap_free(j->table);
    free(j->key);
    free(j);
}
