#include "cooccur.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "json_print.h"
#include "paths.h"

/* One neighbour of an object and how many images hold both. */
typedef struct neighbour {
    size_t other;
    long count;
} neighbour;

typedef struct entry {
    char *name;
    long count;
    neighbour *adj;
    size_t nadj, capadj;
} entry;

struct pv_cooccur {
    entry *e;
    size_t n, cap;
    size_t *slots; /* open-addressing hash of names: index + 1, 0 = empty */
    size_t nslots;
    long records;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return q;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

pv_cooccur *pv_cooccur_new(void)
{
    pv_cooccur *co = calloc(1, sizeof *co);
    if (!co)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    co->nslots = 256;
    co->slots = calloc(co->nslots, sizeof *co->slots);
    if (!co->slots)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return co;
}

void pv_cooccur_free(pv_cooccur *co)
{
    if (!co)
        return;
    for (size_t i = 0; i < co->n; i++) {
        free(co->e[i].name);
        free(co->e[i].adj);
    }
    free(co->e);
    free(co->slots);
    free(co);
}

/* Index of `name`, or (size_t)-1. */
static size_t find(const pv_cooccur *co, const char *name)
{
    size_t mask = co->nslots - 1;
    for (size_t s = hash_name(name) & mask;; s = (s + 1) & mask) {
        size_t v = co->slots[s];
        if (v == 0)
            return (size_t)-1;
        if (strcmp(co->e[v - 1].name, name) == 0)
            return v - 1;
    }
}

static void rehash(pv_cooccur *co)
{
    free(co->slots);
    co->nslots *= 2;
    co->slots = calloc(co->nslots, sizeof *co->slots);
    if (!co->slots)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    size_t mask = co->nslots - 1;
    for (size_t i = 0; i < co->n; i++) {
        size_t s = hash_name(co->e[i].name) & mask;
        while (co->slots[s])
            s = (s + 1) & mask;
        co->slots[s] = i + 1;
    }
}

static size_t intern(pv_cooccur *co, const char *name)
{
    size_t i = find(co, name);
    if (i != (size_t)-1)
        return i;
    if (co->n == co->cap) {
        co->cap = co->cap ? co->cap * 2 : 64;
        co->e = xrealloc(co->e, co->cap * sizeof *co->e);
    }
    i = co->n++;
    co->e[i] = (entry){.name = strdup(name)};
    if (!co->e[i].name)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (co->n * 2 > co->nslots) {
        rehash(co);
    } else {
        size_t mask = co->nslots - 1, s = hash_name(name) & mask;
        while (co->slots[s])
            s = (s + 1) & mask;
        co->slots[s] = i + 1;
    }
    return i;
}

static void add_pair_one_way(pv_cooccur *co, size_t a, size_t b, long k)
{
    entry *e = &co->e[a];
    for (size_t j = 0; j < e->nadj; j++)
        if (e->adj[j].other == b) {
            e->adj[j].count += k;
            return;
        }
    if (e->nadj == e->capadj) {
        e->capadj = e->capadj ? e->capadj * 2 : 8;
        e->adj = xrealloc(e->adj, e->capadj * sizeof *e->adj);
    }
    e->adj[e->nadj++] = (neighbour){b, k};
}

/* Lower-cases and trims a name into buf; false when empty or too long. */
static int normalise(const char *name, char *buf, size_t size)
{
    while (*name && isspace((unsigned char)*name))
        name++;
    size_t n = strlen(name);
    while (n > 0 && isspace((unsigned char)name[n - 1]))
        n--;
    if (n == 0 || n >= size)
        return 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    buf[n] = '\0';
    return 1;
}

void pv_cooccur_add(pv_cooccur *co, const char *const *names, size_t n)
{
    size_t stack_ids[64];
    size_t *ids = n <= 64 ? stack_ids : xrealloc(NULL, n * sizeof *ids);
    size_t m = 0;
    char buf[256];
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !normalise(names[i], buf, sizeof buf))
            continue;
        size_t id = intern(co, buf);
        bool seen = false;
        for (size_t j = 0; j < m && !seen; j++)
            seen = ids[j] == id;
        if (!seen)
            ids[m++] = id;
    }
    co->records++;
    for (size_t i = 0; i < m; i++) {
        co->e[ids[i]].count++;
        for (size_t j = 0; j < m; j++)
            if (j != i)
                add_pair_one_way(co, ids[i], ids[j], 1);
    }
    if (ids != stack_ids)
        free(ids);
}

long pv_cooccur_records(const pv_cooccur *co) { return co->records; }
size_t pv_cooccur_size(const pv_cooccur *co) { return co->n; }

long pv_cooccur_count(const pv_cooccur *co, const char *name)
{
    size_t i = find(co, name);
    return i == (size_t)-1 ? 0 : co->e[i].count;
}

long pv_cooccur_pair(const pv_cooccur *co, const char *a, const char *b)
{
    size_t i = find(co, a), j = find(co, b);
    if (i == (size_t)-1 || j == (size_t)-1)
        return 0;
    for (size_t k = 0; k < co->e[i].nadj; k++)
        if (co->e[i].adj[k].other == j)
            return co->e[i].adj[k].count;
    return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

static const pv_cooccur *sort_table; /* qsort has no context argument */

static int by_name(const void *x, const void *y)
{
    return strcmp(sort_table->e[*(const size_t *)x].name, sort_table->e[*(const size_t *)y].name);
}

static int by_other_name(const void *x, const void *y)
{
    const neighbour *a = x, *b = y;
    return strcmp(sort_table->e[a->other].name, sort_table->e[b->other].name);
}

char *pv_cooccur_to_json(const pv_cooccur *co)
{
    size_t *order = xrealloc(NULL, co->n * sizeof *order);
    for (size_t i = 0; i < co->n; i++)
        order[i] = i;
    sort_table = co;
    qsort(order, co->n, sizeof *order, by_name);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "pv-cooccur");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddNumberToObject(root, "records", (double)co->records);
    cJSON *objects = cJSON_AddObjectToObject(root, "objects");
    cJSON *pairs = cJSON_AddObjectToObject(root, "pairs");
    for (size_t k = 0; k < co->n; k++) {
        const entry *e = &co->e[order[k]];
        cJSON_AddNumberToObject(objects, e->name, (double)e->count);
        if (e->nadj == 0)
            continue;
        neighbour *adj = xrealloc(NULL, e->nadj * sizeof *adj);
        memcpy(adj, e->adj, e->nadj * sizeof *adj);
        qsort(adj, e->nadj, sizeof *adj, by_other_name);
        cJSON *row = cJSON_AddObjectToObject(pairs, e->name);
        for (size_t j = 0; j < e->nadj; j++)
            cJSON_AddNumberToObject(row, co->e[adj[j].other].name, (double)adj[j].count);
        free(adj);
    }
    free(order);
    char *text = pv_json_print(root);
    cJSON_Delete(root);
    if (!text)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    size_t n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    return text;
}

static pv_cooccur *fail(pv_cooccur *co, cJSON *root, char *err, size_t errlen, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));

static pv_cooccur *fail(pv_cooccur *co, cJSON *root, char *err, size_t errlen, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    pv_cooccur_free(co);
    cJSON_Delete(root);
    return NULL;
}

static bool is_count(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e15 &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

pv_cooccur *pv_cooccur_from_json(const char *text, size_t len, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return fail(NULL, NULL, err, errlen, "not valid JSON");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsObject(root) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "pv-cooccur") != 0)
        return fail(NULL, root, err, errlen, "not a co-occurrence file (\"format\": \"pv-cooccur\" expected)");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
        return fail(NULL, root, err, errlen, "unsupported version (1 expected)");
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(root, "records");
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive(root, "objects");
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(root, "pairs");
    if (!is_count(records))
        return fail(NULL, root, err, errlen, "\"records\" is not a count");
    if (!cJSON_IsObject(objects) || !cJSON_IsObject(pairs))
        return fail(NULL, root, err, errlen, "\"objects\" and \"pairs\" must be objects");

    pv_cooccur *co = pv_cooccur_new();
    co->records = (long)records->valuedouble;
    const cJSON *o;
    cJSON_ArrayForEach(o, objects) {
        if (!is_count(o))
            return fail(co, root, err, errlen, "objects.\"%s\" is not a count", o->string);
        if (find(co, o->string) != (size_t)-1)
            return fail(co, root, err, errlen, "objects.\"%s\" appears twice", o->string);
        size_t i = intern(co, o->string); /* may move co->e */
        co->e[i].count = (long)o->valuedouble;
    }
    const cJSON *row;
    cJSON_ArrayForEach(row, pairs) {
        size_t a = find(co, row->string);
        if (a == (size_t)-1)
            return fail(co, root, err, errlen, "pairs.\"%s\" is not in \"objects\"", row->string);
        if (!cJSON_IsObject(row))
            return fail(co, root, err, errlen, "pairs.\"%s\" is not an object", row->string);
        const cJSON *p;
        cJSON_ArrayForEach(p, row) {
            size_t b = find(co, p->string);
            if (b == (size_t)-1 || b == a)
                return fail(co, root, err, errlen, "pairs.\"%s\".\"%s\": unknown or same object",
                            row->string, p->string);
            if (!is_count(p))
                return fail(co, root, err, errlen, "pairs.\"%s\".\"%s\" is not a count",
                            row->string, p->string);
            add_pair_one_way(co, a, b, (long)p->valuedouble);
        }
    }
    /* Both directions must agree, or the ranking would depend on which is read. */
    for (size_t a = 0; a < co->n; a++)
        for (size_t k = 0; k < co->e[a].nadj; k++) {
            size_t b = co->e[a].adj[k].other;
            long ab = co->e[a].adj[k].count;
            long ba = pv_cooccur_pair(co, co->e[b].name, co->e[a].name);
            if (ab != ba)
                return fail(co, root, err, errlen,
                            "pairs are not symmetric: \"%s\"/\"%s\" is %ld one way and %ld the other",
                            co->e[a].name, co->e[b].name, ab, ba);
        }
    cJSON_Delete(root);
    return co;
}

pv_cooccur *pv_cooccur_load(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *buf = pv_read_file(path, &len);
    if (!buf) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    pv_cooccur *co = pv_cooccur_from_json(buf, len, err, errlen);
    free(buf);
    return co;
}

/* ---- ranking --------------------------------------------------------------- */

static int by_score(const void *x, const void *y)
{
    const pv_cooccur_candidate *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->name, b->name);
}

size_t pv_cooccur_rank(const pv_cooccur *co, const char *const *present, size_t n,
                       pv_cooccur_candidate *out, size_t max)
{
    double *score = calloc(co->n ? co->n : 1, sizeof *score);
    bool *is_present = calloc(co->n ? co->n : 1, sizeof *is_present);
    if (!score || !is_present)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    char buf[256];
    for (size_t i = 0; i < n; i++) {
        size_t s;
        if (present[i] && normalise(present[i], buf, sizeof buf) &&
            (s = find(co, buf)) != (size_t)-1)
            is_present[s] = true;
    }
    for (size_t s = 0; s < co->n; s++) {
        if (!is_present[s] || co->e[s].count == 0)
            continue;
        for (size_t k = 0; k < co->e[s].nadj; k++)
            score[co->e[s].adj[k].other] += (double)co->e[s].adj[k].count / (double)co->e[s].count;
    }
    size_t m = 0;
    pv_cooccur_candidate *all = xrealloc(NULL, (co->n ? co->n : 1) * sizeof *all);
    for (size_t c = 0; c < co->n; c++)
        if (!is_present[c] && score[c] > 0)
            all[m++] = (pv_cooccur_candidate){co->e[c].name, score[c]};
    qsort(all, m, sizeof *all, by_score);
    if (m > max)
        m = max;
    memcpy(out, all, m * sizeof *out);
    free(all);
    free(score);
    free(is_present);
    return m;
}

/* ---- the built-in table ---------------------------------------------------- */

/* Typical COCO scenes, one per line, written for this project from common sense
 * about where things are found. Each line counts as one image. */
static const char *const scenes[] = {
    "oven,sink,refrigerator,microwave,bowl,cup,bottle",
    "oven,sink,knife,bowl,spoon,cup,person",
    "refrigerator,microwave,oven,toaster,sink,clock",
    "sink,refrigerator,bottle,potted plant,cup",
    "dining table,chair,cup,bowl,fork,knife,spoon,wine glass,bottle,person",
    "dining table,pizza,cup,knife,fork,person,chair",
    "dining table,pizza,wine glass,bottle,chair,person",
    "dining table,sandwich,cup,fork,knife,bowl",
    "dining table,cake,fork,knife,cup,person,chair",
    "dining table,donut,cup,person",
    "dining table,hot dog,bottle,cup,person",
    "dining table,broccoli,carrot,fork,bowl,knife",
    "dining table,banana,apple,orange,bowl",
    "dining table,wine glass,vase,chair,potted plant",
    "bowl,banana,orange,apple,knife",
    "pizza,knife,fork,cup,dining table",
    "couch,tv,remote,chair,potted plant,book,clock,vase",
    "couch,cat,remote,tv,laptop",
    "couch,dog,tv,remote,person",
    "couch,person,laptop,cup,remote",
    "bed,book,clock,laptop,teddy bear,chair",
    "bed,cat,book,laptop",
    "bed,dog,teddy bear,couch",
    "laptop,keyboard,mouse,tv,cell phone,cup,chair,book",
    "laptop,mouse,keyboard,cup,dining table,bottle",
    "tv,keyboard,mouse,chair,laptop",
    "toilet,sink,toothbrush,hair drier,cup,bottle",
    "toilet,sink,bottle",
    "sink,toothbrush,cup,scissors,bottle",
    "car,truck,traffic light,person,bus,stop sign",
    "car,traffic light,person,fire hydrant,parking meter",
    "bus,person,car,truck,traffic light",
    "motorcycle,person,car,truck",
    "bicycle,person,car,bench",
    "stop sign,car,truck,fire hydrant",
    "bench,person,bicycle,dog,handbag,umbrella",
    "person,umbrella,handbag,backpack,car",
    "parking meter,car,person,bicycle",
    "suitcase,person,backpack,handbag,train",
    "train,person,clock,bench",
    "airplane,person,truck,car,suitcase",
    "boat,person,bird,bench",
    "surfboard,person,boat",
    "person,sports ball,tennis racket,chair",
    "person,baseball bat,baseball glove,sports ball,bench",
    "person,skis,backpack",
    "person,snowboard,skis",
    "person,skateboard,car,bench",
    "person,frisbee,dog,bench",
    "person,kite,car,umbrella",
    "zebra,giraffe,elephant,bird",
    "giraffe,zebra,car",
    "elephant,person,truck",
    "cow,sheep,horse,person,dog,truck",
    "horse,person,dog,car",
    "sheep,dog,person",
    "bear,bird",
    "cat,dog,couch,bed",
    "bird,bench,boat",
    "dog,frisbee,person,car",
    "dog,person,bicycle,bench",
    "cake,cup,person,chair,dining table,bottle,knife",
    "person,cell phone,handbag,chair",
    "person,tie,cell phone,chair",
    "person,book,chair,laptop,cup",
    "vase,potted plant,dining table,chair,book",
    "clock,potted plant,vase,bench",
};

pv_cooccur *pv_cooccur_builtin(void)
{
    pv_cooccur *co = pv_cooccur_new();
    for (size_t s = 0; s < sizeof scenes / sizeof scenes[0]; s++) {
        char line[512];
        const char *names[32];
        size_t n = 0;
        snprintf(line, sizeof line, "%s", scenes[s]);
        for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok && n < 32;
             tok = strtok_r(NULL, ",", &save))
            names[n++] = tok;
        pv_cooccur_add(co, names, n);
    }
    return co;
}
