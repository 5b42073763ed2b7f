#include "pair_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diag.h"
#include "paths.h"
#include "records.h"

const char *const pv_dedupe_key_names[] = {"none", "id", "content", NULL};

void pv_pair_rules_require(pv_pair_rules *rules, const char *list)
{
    pv_pair_rules_free(rules);
    rules->require = NULL;
    rules->n_require = 0;
    if (!*list)
        return;
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    rules->require = calloc((size_t)n, sizeof *rules->require);
    if (!rules->require)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    const char *p = list;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            pv_usage_error("--require: empty field name in '%s'", list);
        rules->require[i] = strndup(p, len);
        if (!rules->require[i])
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        rules->n_require++;
        p += len + 1;
    }
    bool chosen = false, rejected = false;
    for (int i = 0; i < n; i++) {
        chosen |= strcmp(rules->require[i], "chosen") == 0;
        rejected |= strcmp(rules->require[i], "rejected") == 0;
    }
    rules->distinct = chosen && rejected;
}

void pv_pair_rules_free(pv_pair_rules *rules)
{
    for (int i = 0; i < rules->n_require; i++)
        free(rules->require[i]);
    free(rules->require);
    rules->require = NULL;
    rules->n_require = 0;
}

/* Fields that are not strings in DESIGN.md's table. */
static bool type_ok(const char *field, const cJSON *v, const char **want)
{
    if (strcmp(field, "id") == 0) {
        *want = "a string or a number";
        return cJSON_IsString(v) || cJSON_IsNumber(v);
    }
    if (strcmp(field, "objects") == 0) {
        *want = "an array of strings";
        if (!cJSON_IsArray(v))
            return false;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) return false;
        return true;
    }
    if (strcmp(field, "hallucination") == 0 || strcmp(field, "noise") == 0 ||
        strcmp(field, "chair") == 0) {
        *want = "an object";
        return cJSON_IsObject(v);
    }
    *want = "a string";
    return cJSON_IsString(v);
}

static bool image_exists(const char *root, const char *image)
{
    char *path = pv_path_resolve(root, image);
    struct stat st;
    bool found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return found;
}

int pv_pair_validate(const pv_pair_rules *rules, const cJSON *rec, const char *file, long line,
                     char *reason, size_t reason_size)
{
    for (int i = 0; i < rules->n_require; i++) {
        const char *field = rules->require[i], *want;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, field);
        if (!v || cJSON_IsNull(v)) {
            pv_bad_record(file, line, "missing \"%s\"", field);
            return PV_PAIR_BAD;
        }
        if (!type_ok(field, v, &want)) {
            pv_bad_record(file, line, "\"%s\" is not %s", field, want);
            return PV_PAIR_BAD;
        }
    }
    for (int i = 0; i < rules->n_require; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, rules->require[i]);
        if (cJSON_IsString(v) && !v->valuestring[0]) {
            snprintf(reason, reason_size, "empty \"%s\"", rules->require[i]);
            return PV_PAIR_DROP;
        }
    }
    if (rules->distinct) {
        const char *c = cJSON_GetObjectItemCaseSensitive(rec, "chosen")->valuestring;
        const char *r = cJSON_GetObjectItemCaseSensitive(rec, "rejected")->valuestring;
        if (strcmp(c, r) == 0) {
            snprintf(reason, reason_size, "\"chosen\" identical to \"rejected\"");
            return PV_PAIR_DROP;
        }
    }
    if (rules->check_images) {
        const cJSON *image = cJSON_GetObjectItemCaseSensitive(rec, "image");
        if (image && !cJSON_IsString(image)) {
            pv_bad_record(file, line, "\"image\" is not a string");
            return PV_PAIR_BAD;
        }
        if (!image) {
            snprintf(reason, reason_size, "no \"image\" to check");
            return PV_PAIR_DROP;
        }
        if (!image_exists(rules->image_root, image->valuestring)) {
            snprintf(reason, reason_size, "image file not found");
            return PV_PAIR_DROP;
        }
    }
    return PV_PAIR_KEEP;
}

void pv_dedupe_init(pv_dedupe *d, pv_dedupe_key key)
{
    d->key = key;
    d->seen = key == PV_DEDUPE_NONE ? NULL : pv_strmap_new();
}

/* Appends a field to the content key, prefixed with its length so that no two
 * different tuples give the same key ("-" marks an absent or non-string field). */
static size_t key_part(char **buf, size_t *cap, size_t len, const cJSON *v)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    if (len + n + 32 > *cap) {
        *cap = 2 * (len + n + 32);
        *buf = realloc(*buf, *cap);
        if (!*buf)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
    }
    if (!s)
        return len + (size_t)sprintf(*buf + len, "-;");
    len += (size_t)sprintf(*buf + len, "%zu:", n);
    memcpy(*buf + len, s, n);
    return len + n;
}

bool pv_dedupe_repeat(pv_dedupe *d, const cJSON *rec)
{
    if (d->key == PV_DEDUPE_NONE)
        return false;
    if (d->key == PV_DEDUPE_ID) {
        char buf[64];
        const char *id = pv_rec_id(rec, buf, sizeof buf);
        if (!id)
            return false;
        /* A number and a string that print alike are different ids. */
        const char kind = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "id")) ? 's' : 'n';
        size_t n = strlen(id);
        char *key = malloc(n + 2);
        if (!key)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        key[0] = kind;
        memcpy(key + 1, id, n + 1);
        bool repeat = !pv_strmap_add(d->seen, key, n + 1, NULL);
        free(key);
        return repeat;
    }
    static const char *const fields[] = {"image", "prompt", "chosen", "rejected"};
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (int i = 0; i < 4; i++)
        len = key_part(&buf, &cap, len, cJSON_GetObjectItemCaseSensitive(rec, fields[i]));
    bool repeat = !pv_strmap_add(d->seen, buf, len, NULL);
    free(buf);
    return repeat;
}

void pv_dedupe_free(pv_dedupe *d)
{
    pv_strmap_free(d->seen);
    d->seen = NULL;
}
