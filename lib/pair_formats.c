#include "pair_formats.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

const char *const pv_pair_format_names[] = {"records", "llava", "trl", NULL};

static const char image_token[] = "<image>\n";

pv_pair_format pv_pair_detect(const cJSON *obj)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, "conversations"))
        return PV_PAIR_LLAVA;
    if (cJSON_GetObjectItemCaseSensitive(obj, "images") &&
        !cJSON_GetObjectItemCaseSensitive(obj, "image"))
        return PV_PAIR_TRL;
    return PV_PAIR_RECORDS;
}

static cJSON *must(cJSON *item)
{
    if (!item)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return item;
}

/* Moves `item` (detached) into `dst` under its own name. */
static void move_item(cJSON *dst, cJSON *item)
{
    cJSON_AddItemToObject(dst, item->string, item);
}

static bool name_is(const cJSON *item, const char *name)
{
    return item->string && strcmp(item->string, name) == 0;
}

/* A conversation turn {from: FROM, value: string} with nothing else. */
static const char *turn_value(const cJSON *turn, const char *from)
{
    if (!cJSON_IsObject(turn) || cJSON_GetArraySize(turn) != 2)
        return NULL;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(turn, "from");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(turn, "value");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, from) != 0 || !cJSON_IsString(v))
        return NULL;
    return v->valuestring;
}

/* Splits [{from: human, value}, {from: gpt, value}] into its two values. */
static bool split_conversation(const cJSON *conv, const char **human, const char **gpt)
{
    if (!cJSON_IsArray(conv) || cJSON_GetArraySize(conv) != 2)
        return false;
    *human = turn_value(conv->child, "human");
    *gpt = turn_value(conv->child->next, "gpt");
    return *human && *gpt;
}

static cJSON *make_conversation(const char *human, const char *gpt)
{
    cJSON *conv = must(cJSON_CreateArray());
    const char *from[2] = {"human", "gpt"}, *value[2] = {human, gpt};
    for (int i = 0; i < 2; i++) {
        cJSON *turn = must(cJSON_CreateObject());
        cJSON_AddItemToObject(turn, "from", must(cJSON_CreateString(from[i])));
        cJSON_AddItemToObject(turn, "value", must(cJSON_CreateString(value[i])));
        cJSON_AddItemToArray(conv, turn);
    }
    return conv;
}

/* The first of `names` that appears more than once in `obj` (JSON allows repeated
 * keys; a conversion would silently pick one), or NULL. */
static const char *repeated(const cJSON *obj, const char *const *names)
{
    for (; *names; names++) {
        int n = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, obj) n += item->string && strcmp(item->string, *names) == 0;
        if (n > 1)
            return *names;
    }
    return NULL;
}

static bool refuse_repeats(const cJSON *obj, const char *const *names, const char *file, long line)
{
    const char *twice = repeated(obj, names);
    if (twice)
        pv_bad_record(file, line, "key \"%s\" appears twice", twice);
    return twice != NULL;
}

/* The first of `names` that `obj` has, or NULL. */
static const char *has_any(const cJSON *obj, const char *const *names)
{
    for (; *names; names++)
        if (cJSON_GetObjectItemCaseSensitive(obj, *names))
            return *names;
    return NULL;
}

static cJSON *import_llava(cJSON *obj, const char *file, long line)
{
    static const char *const taken[] = {"prompt", "chosen", "rejected", NULL};
    static const char *const owned[] = {"conversations", "rejected_conversations", NULL};
    const char *clash = has_any(obj, taken);
    if (clash) {
        pv_bad_record(file, line, "llava object has a \"%s\" key of its own", clash);
        return NULL;
    }
    if (refuse_repeats(obj, owned, file, line))
        return NULL;
    const char *human = NULL, *chosen = NULL, *rhuman = NULL, *rejected = NULL;
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(obj, "conversations");
    const cJSON *rconv = cJSON_GetObjectItemCaseSensitive(obj, "rejected_conversations");
    if (!conv) {
        pv_bad_record(file, line, "missing \"conversations\"");
        return NULL;
    }
    if (!split_conversation(conv, &human, &chosen)) {
        pv_bad_record(file, line, "\"conversations\" is not [{from: human, value}, {from: gpt, value}]");
        return NULL;
    }
    if (rconv && !split_conversation(rconv, &rhuman, &rejected)) {
        pv_bad_record(file, line,
                      "\"rejected_conversations\" is not [{from: human, value}, {from: gpt, value}]");
        return NULL;
    }
    if (rconv && strcmp(human, rhuman) != 0) {
        pv_bad_record(file, line, "the human turns of \"conversations\" and "
                                  "\"rejected_conversations\" differ");
        return NULL;
    }
    size_t skip = strncmp(human, image_token, sizeof image_token - 1) == 0 ? sizeof image_token - 1 : 0;
    cJSON *rec = must(cJSON_CreateObject());
    cJSON *item;
    while ((item = obj->child)) {
        cJSON_DetachItemViaPointer(obj, item);
        if (name_is(item, "conversations")) {
            cJSON_AddItemToObject(rec, "prompt", must(cJSON_CreateString(human + skip)));
            cJSON_AddItemToObject(rec, "chosen", must(cJSON_CreateString(chosen)));
            cJSON_Delete(item);
        } else if (name_is(item, "rejected_conversations")) {
            cJSON_AddItemToObject(rec, "rejected", must(cJSON_CreateString(rejected)));
            cJSON_Delete(item);
        } else {
            move_item(rec, item);
        }
    }
    cJSON_Delete(obj);
    return rec;
}

static cJSON *import_trl(cJSON *obj, const char *file, long line)
{
    static const char *const strings[] = {"prompt", "chosen", "rejected", NULL};
    static const char *const owned[] = {"images", NULL};
    if (refuse_repeats(obj, owned, file, line))
        return NULL;
    for (const char *const *f = strings; *f; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, *f);
        if (cJSON_IsArray(v)) {
            pv_bad_record(file, line, "\"%s\": conversational TRL format is not supported "
                                      "(only plain strings)", *f);
            return NULL;
        }
        if (v && !cJSON_IsString(v)) {
            pv_bad_record(file, line, "\"%s\" is not a string", *f);
            return NULL;
        }
    }
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(obj, "images");
    if (images) {
        if (cJSON_GetObjectItemCaseSensitive(obj, "image")) {
            pv_bad_record(file, line, "trl object has both \"images\" and \"image\"");
            return NULL;
        }
        if (!cJSON_IsArray(images) || cJSON_GetArraySize(images) != 1 ||
            !cJSON_IsString(images->child)) {
            pv_bad_record(file, line, "\"images\" is not a list of one image path");
            return NULL;
        }
    }
    cJSON *rec = must(cJSON_CreateObject());
    cJSON *item;
    while ((item = obj->child)) {
        cJSON_DetachItemViaPointer(obj, item);
        if (name_is(item, "images")) {
            cJSON *path = cJSON_DetachItemViaPointer(item, item->child);
            cJSON_AddItemToObject(rec, "image", path);
            cJSON_Delete(item);
        } else {
            move_item(rec, item);
        }
    }
    cJSON_Delete(obj);
    return rec;
}

/* The converters leave `obj` to the caller when they refuse it. */
cJSON *pv_pair_import(cJSON *obj, pv_pair_format fmt, const char *file, long line)
{
    cJSON *rec = obj;
    if (fmt == PV_PAIR_LLAVA)
        rec = import_llava(obj, file, line);
    else if (fmt == PV_PAIR_TRL)
        rec = import_trl(obj, file, line);
    if (!rec)
        cJSON_Delete(obj);
    return rec;
}

/* A string field needed by an export: reported when missing or not a string. */
static const char *need_string(const cJSON *rec, const char *field, const char *fmt,
                               const char *file, long line)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, field);
    if (!v) {
        pv_bad_record(file, line, "cannot write %s: missing \"%s\"", fmt, field);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        pv_bad_record(file, line, "\"%s\" is not a string", field);
        return NULL;
    }
    return v->valuestring;
}

static cJSON *export_llava(cJSON *rec, const char *file, long line)
{
    static const char *const taken[] = {"conversations", "rejected_conversations", NULL};
    static const char *const owned[] = {"prompt", "chosen", "rejected", "image", NULL};
    const char *clash = has_any(rec, taken);
    if (clash) {
        pv_bad_record(file, line, "cannot write llava: the record already has \"%s\"", clash);
        return NULL;
    }
    if (refuse_repeats(rec, owned, file, line))
        return NULL;
    const char *prompt = need_string(rec, "prompt", "llava", file, line);
    const char *chosen = prompt ? need_string(rec, "chosen", "llava", file, line) : NULL;
    if (!chosen)
        return NULL;
    const char *rejected = NULL;
    if (cJSON_GetObjectItemCaseSensitive(rec, "rejected") &&
        !(rejected = need_string(rec, "rejected", "llava", file, line)))
        return NULL;
    char *human = NULL;
    if (cJSON_GetObjectItemCaseSensitive(rec, "image") && !strstr(prompt, "<image>")) {
        size_t n = strlen(prompt);
        human = malloc(sizeof image_token + n);
        if (!human)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        memcpy(human, image_token, sizeof image_token - 1);
        memcpy(human + sizeof image_token - 1, prompt, n + 1);
    }
    const char *turn = human ? human : prompt;
    cJSON *out = must(cJSON_CreateObject());
    cJSON *used = must(cJSON_CreateArray()); /* prompt, chosen, rejected: freed at the end,
                                                 after their strings were copied */
    cJSON *item;
    while ((item = rec->child)) {
        cJSON_DetachItemViaPointer(rec, item);
        if (name_is(item, "prompt"))
            cJSON_AddItemToObject(out, "conversations", make_conversation(turn, chosen));
        else if (name_is(item, "rejected"))
            cJSON_AddItemToObject(out, "rejected_conversations", make_conversation(turn, rejected));
        if (name_is(item, "prompt") || name_is(item, "chosen") || name_is(item, "rejected"))
            cJSON_AddItemToArray(used, item);
        else
            move_item(out, item);
    }
    free(human);
    cJSON_Delete(used);
    cJSON_Delete(rec);
    return out;
}

static cJSON *export_trl(cJSON *rec, const char *file, long line)
{
    static const char *const owned[] = {"image", NULL};
    if (cJSON_GetObjectItemCaseSensitive(rec, "images")) {
        pv_bad_record(file, line, "cannot write trl: the record already has \"images\"");
        return NULL;
    }
    if (refuse_repeats(rec, owned, file, line))
        return NULL;
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(rec, "image");
    if (image && !cJSON_IsString(image)) {
        pv_bad_record(file, line, "\"image\" is not a string");
        return NULL;
    }
    cJSON *out = must(cJSON_CreateObject());
    cJSON *item;
    while ((item = rec->child)) {
        cJSON_DetachItemViaPointer(rec, item);
        if (name_is(item, "image")) {
            cJSON *images = must(cJSON_CreateArray());
            cJSON_AddItemToArray(images, must(cJSON_CreateString(item->valuestring)));
            cJSON_AddItemToObject(out, "images", images);
            cJSON_Delete(item);
        } else {
            move_item(out, item);
        }
    }
    cJSON_Delete(rec);
    return out;
}

cJSON *pv_pair_export(cJSON *rec, pv_pair_format fmt, const char *file, long line)
{
    cJSON *out = rec;
    if (fmt == PV_PAIR_LLAVA)
        out = export_llava(rec, file, line);
    else if (fmt == PV_PAIR_TRL)
        out = export_trl(rec, file, line);
    if (!out)
        cJSON_Delete(rec);
    return out;
}
