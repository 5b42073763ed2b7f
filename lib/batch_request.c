#include "batch_request.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "json_print.h"
#include "paths.h"
#include "records.h"

/* Our own wording of POVID's rewrite request (POVID.md, "Idea"). */
const char pv_batch_role[] =
    "You edit image descriptions to make training data for models that must learn not to "
    "hallucinate. You write fluent, natural English.";

const char pv_batch_instruction[] =
    "Rewrite the image description below so that it contains plausible hallucinations, "
    "while keeping its style, tone and length. Use all three kinds:\n"
    "1. Object co-occurrence: mention one or two objects that are not in the image but are "
    "often seen together with the objects that are.\n"
    "2. Logical relationships: change how objects relate to each other, such as their "
    "positions, actions or interactions.\n"
    "3. Attributes: change properties of the objects, such as their colour, number, size, "
    "shape or material.\n"
    "Change only some details and keep the rest of the text as it is. Do not mark or explain "
    "the changes. Reply with the rewritten description only.";

static const char image_note[] =
    "The image is attached: the hallucinations must be plausible for such a scene but wrong "
    "for this image.";

static const char objects_note[] =
    "Objects you add must not be among the objects really in the image: ";

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return p;
}

char *pv_base64(const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

const char *pv_image_mime(const unsigned char *data, size_t len)
{
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return "image/jpeg";
    if (len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    return NULL;
}

/* Reads a whole file; NULL with err set. */
static unsigned char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    char *data = pv_read_file(path, len);
    if (!data)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return (unsigned char *)data;
}

char *pv_batch_request_line(const pv_batch_request_opts *o, const char *custom_id,
                            const char *chosen, const char *objects, const char *image_path,
                            char *err, size_t errlen)
{
    size_t tlen = strlen(pv_batch_instruction) + strlen(image_note) + strlen(objects_note) +
                  (objects ? strlen(objects) : 0) + strlen(chosen) + 64;
    char *text = xmalloc(tlen);
    snprintf(text, tlen, "%s%s%s%s%s%s\n\nDescription:\n%s", pv_batch_instruction,
             image_path ? "\n" : "", image_path ? image_note : "", objects ? "\n" : "",
             objects ? objects_note : "", objects ? objects : "", chosen);

    cJSON *user = cJSON_CreateObject();
    cJSON_AddStringToObject(user, "role", "user");
    if (image_path) {
        size_t len;
        unsigned char *data = read_all(image_path, &len, err, errlen);
        const char *mime = data ? pv_image_mime(data, len) : NULL;
        if (data && !mime)
            snprintf(err, errlen, "%s: not a JPEG or PNG image", image_path);
        if (!mime) {
            free(data);
            free(text);
            cJSON_Delete(user);
            return NULL;
        }
        char *b64 = pv_base64(data, len);
        free(data);
        size_t ulen = strlen(b64) + 32;
        char *url = xmalloc(ulen);
        snprintf(url, ulen, "data:%s;base64,%s", mime, b64);
        free(b64);
        cJSON *parts = cJSON_AddArrayToObject(user, "content");
        cJSON *tp = cJSON_CreateObject();
        cJSON_AddStringToObject(tp, "type", "text");
        cJSON_AddStringToObject(tp, "text", text);
        cJSON_AddItemToArray(parts, tp);
        cJSON *ip = cJSON_CreateObject();
        cJSON_AddStringToObject(ip, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(ip, "image_url");
        cJSON_AddStringToObject(iu, "url", url);
        cJSON_AddItemToArray(parts, ip);
        free(url);
    } else {
        cJSON_AddStringToObject(user, "content", text);
    }
    free(text);

    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "custom_id", custom_id);
    cJSON_AddStringToObject(req, "method", "POST");
    cJSON_AddStringToObject(req, "url", "/v1/chat/completions");
    cJSON *body = cJSON_AddObjectToObject(req, "body");
    cJSON_AddStringToObject(body, "model", o->model);
    cJSON *messages = cJSON_AddArrayToObject(body, "messages");
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", pv_batch_role);
    cJSON_AddItemToArray(messages, sys);
    cJSON_AddItemToArray(messages, user);
    cJSON_AddNumberToObject(body, "temperature", o->temperature);
    char *line = pv_json_print(req);
    cJSON_Delete(req);
    if (!line)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return line;
}

/* ---- responses --------------------------------------------------------------- */

typedef struct response {
    char *id;
    char *content; /* NULL when failed */
    char *model;
    char *why;     /* failure reason */
    long line;
    bool used;
} response;

struct pv_batch_responses {
    response *v;
    size_t n, cap;
    size_t *slots; /* hash of ids: index + 1 */
    size_t nslots;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static response *lookup(const pv_batch_responses *r, const char *id)
{
    size_t mask = r->nslots - 1;
    for (size_t s = hash_id(id) & mask; r->slots[s]; s = (s + 1) & mask)
        if (strcmp(r->v[r->slots[s] - 1].id, id) == 0)
            return &r->v[r->slots[s] - 1];
    return NULL;
}

static void put_slot(pv_batch_responses *r, size_t i)
{
    size_t mask = r->nslots - 1, s = hash_id(r->v[i].id) & mask;
    while (r->slots[s])
        s = (s + 1) & mask;
    r->slots[s] = i + 1;
}

static void add(pv_batch_responses *r, response x)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        response *p = realloc(r->v, r->cap * sizeof *p);
        if (!p)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        r->v = p;
    }
    r->v[r->n++] = x;
    if (r->n * 2 > r->nslots) {
        free(r->slots);
        r->nslots = r->nslots ? r->nslots * 2 : 128;
        while (r->n * 2 > r->nslots)
            r->nslots *= 2;
        r->slots = calloc(r->nslots, sizeof *r->slots);
        if (!r->slots)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        for (size_t i = 0; i < r->n; i++)
            put_slot(r, i);
    } else {
        put_slot(r, r->n - 1);
    }
}

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return p;
}

/* A failure message from an "error" value: its "message" when it has one. */
static char *error_text(const cJSON *err, int status)
{
    const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : NULL;
    char buf[512];
    if (cJSON_IsString(msg))
        snprintf(buf, sizeof buf, "%.400s", msg->valuestring);
    else if (cJSON_IsString(err))
        snprintf(buf, sizeof buf, "%.400s", err->valuestring);
    else
        snprintf(buf, sizeof buf, "request failed");
    if (status) {
        char with[600];
        snprintf(with, sizeof with, "status %d: %s", status, buf);
        return dup_or_null(with);
    }
    return dup_or_null(buf);
}

/* Reads one response line into x; false (after reporting) when it is malformed. */
static bool parse_line(const pv_reader *rd, const cJSON *line, response *x)
{
    const char *file = pv_reader_name(rd);
    long lno = pv_reader_line(rd);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(line, "custom_id");
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
        pv_bad_record(file, lno, "response without a \"custom_id\" string");
        return false;
    }
    *x = (response){.id = dup_or_null(id->valuestring), .line = lno};
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(line, "error");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(line, "response");
    if (err && !cJSON_IsNull(err)) {
        x->why = error_text(err, 0);
        return true;
    }
    if (!cJSON_IsObject(resp)) {
        pv_bad_record(file, lno, "response \"%s\" has neither a \"response\" object nor an \"error\"",
                      x->id);
        free(x->id);
        return false;
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(resp, "status_code");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(resp, "body");
    if (status && !cJSON_IsNumber(status)) {
        pv_bad_record(file, lno, "response \"%s\": \"status_code\" is not a number", x->id);
        free(x->id);
        return false;
    }
    if (status && status->valueint != 200) {
        x->why = error_text(cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "error") : NULL,
                            status->valueint);
        return true;
    }
    const cJSON *choices = cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "choices") : NULL;
    const cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *message = cJSON_IsObject(first) ? cJSON_GetObjectItemCaseSensitive(first, "message") : NULL;
    if (!cJSON_IsObject(message)) {
        pv_bad_record(file, lno, "response \"%s\" has no response.body.choices[0].message", x->id);
        free(x->id);
        return false;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (cJSON_IsString(model))
        x->model = dup_or_null(model->valuestring);
    if (!cJSON_IsString(content)) {
        /* A refusal or a filtered answer: the request ran but gave no text. */
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(first, "finish_reason");
        char buf[160];
        snprintf(buf, sizeof buf, "no text in the answer (finish_reason %.80s)",
                 cJSON_IsString(reason) ? reason->valuestring : "unknown");
        x->why = dup_or_null(buf);
        return true;
    }
    x->content = dup_or_null(content->valuestring);
    return true;
}

pv_batch_responses *pv_batch_responses_load(const char *path)
{
    pv_reader *rd = pv_reader_open(path);
    if (!rd)
        pv_exit(PV_EXIT_SYSTEM);
    pv_batch_responses *r = calloc(1, sizeof *r);
    if (!r)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    r->nslots = 128;
    r->slots = calloc(r->nslots, sizeof *r->slots);
    if (!r->slots)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    cJSON *line;
    int rc;
    while ((rc = pv_reader_next(rd, &line)) != 0) {
        if (rc < 0)
            continue;
        response x;
        if (parse_line(rd, line, &x)) {
            response *prev = lookup(r, x.id);
            if (prev) {
                pv_bad_record(pv_reader_name(rd), x.line,
                              "duplicate custom_id \"%s\" (first on line %ld)", x.id, prev->line);
                free(prev->content);
                prev->content = NULL;
                free(prev->why);
                prev->why = dup_or_null("the responses file has this custom_id twice");
                free(x.id);
                free(x.content);
                free(x.model);
                free(x.why);
            } else {
                add(r, x);
            }
        }
        cJSON_Delete(line);
    }
    pv_reader_close(rd);
    return r;
}

void pv_batch_responses_free(pv_batch_responses *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].id);
        free(r->v[i].content);
        free(r->v[i].model);
        free(r->v[i].why);
    }
    free(r->v);
    free(r->slots);
    free(r);
}

enum pv_batch_status pv_batch_responses_get(pv_batch_responses *r, const char *id,
                                            const char **content, const char **model,
                                            const char **why)
{
    response *x = lookup(r, id);
    if (!x)
        return PV_BATCH_MISSING;
    x->used = true;
    *model = x->model;
    if (!x->content) {
        *why = x->why;
        return PV_BATCH_FAILED;
    }
    *content = x->content;
    return PV_BATCH_OK;
}

size_t pv_batch_responses_unused(const pv_batch_responses *r, const char **first)
{
    size_t n = 0;
    *first = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (!r->v[i].used && n++ == 0)
            *first = r->v[i].id;
    return n;
}

/* The id set reuses the responses table: an entry with only an id and a line. */
struct pv_batch_ids {
    pv_batch_responses table;
};

pv_batch_ids *pv_batch_ids_new(void)
{
    pv_batch_ids *ids = calloc(1, sizeof *ids);
    if (!ids)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    ids->table.nslots = 128;
    ids->table.slots = calloc(ids->table.nslots, sizeof *ids->table.slots);
    if (!ids->table.slots)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return ids;
}

long pv_batch_ids_add(pv_batch_ids *ids, const char *id, long line)
{
    const response *prev = lookup(&ids->table, id);
    if (prev)
        return prev->line;
    add(&ids->table, (response){.id = dup_or_null(id), .line = line});
    return 0;
}

void pv_batch_ids_free(pv_batch_ids *ids)
{
    if (!ids)
        return;
    for (size_t i = 0; i < ids->table.n; i++)
        free(ids->table.v[i].id);
    free(ids->table.v);
    free(ids->table.slots);
    free(ids);
}
