/* pv-hallucinate: writes `rejected` from `chosen` by injecting hallucinations,
 * with offline rules (default) or through an LLM as an OpenAI-format batch. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_request.h"
#include "cli.h"
#include "cooccur.h"
#include "diag.h"
#include "hallucinate.h"
#include "lexicon.h"
#include "outfile.h"
#include "paths.h"
#include "progress.h"
#include "records.h"

static const char usage[] =
    "Usage: pv-hallucinate [OPTION]... [FILE]...\n"
    "Write a hallucinated `rejected` response from each record's `chosen`.\n"
    "Reads records (JSONL, gzip or not) from the FILEs or standard input.\n"
    "\n"
    "Engines:\n"
    "      --engine NAME      rules (default): offline edits, seeded;\n"
    "                         request: print one OpenAI batch request per record;\n"
    "                         merge: read a batch's answers (--responses) into `rejected`\n"
    "Rules engine:\n"
    "      --types LIST       edit kinds, comma-separated: object, attribute, relation\n"
    "                         (default: all three)\n"
    "      --edits N          edits per record (default 3)\n"
    "      --seed N           random seed (default 0); results depend on the seed and\n"
    "                         each record's id, not on the order of the records\n"
    "      --cooccur FILE     object co-occurrence statistics (default: built-in table)\n"
    "      --build-cooccur    count co-occurrences of the records' `objects` and write\n"
    "                         them as JSON instead of records\n"
    "      --synonyms FILE    object lexicon in CHAIR's synonyms.txt format\n"
    "                         (default: built-in)\n"
    "Request and merge engines:\n"
    "      --model NAME       model named in the requests (default gpt-4o)\n"
    "      --temperature T    sampling temperature in the requests (default 0.7)\n"
    "      --with-image       attach each record's image as a base64 data URL\n"
    "      --image-root DIR   resolve relative image paths against DIR (default: .)\n"
    "      --responses FILE   the batch output to merge (engine merge)\n"
    "Output and common options:\n"
    "  -o, --output FILE      write to FILE atomically (default: standard output)\n"
    "  -q, --quiet            no progress, no summary\n"
    "      --keep-going       skip bad records (exit status still 1)\n"
    "  -h, --help             show this help\n"
    "      --version          show the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input records, 2 usage error, 3 system or I/O error.\n"
    "See pv-hallucinate(1) and pv-records(5).\n";

enum {
    OPT_ENGINE, OPT_TYPES, OPT_EDITS, OPT_SEED, OPT_COOCCUR, OPT_BUILD_COOCCUR, OPT_SYNONYMS,
    OPT_MODEL, OPT_TEMPERATURE, OPT_WITH_IMAGE, OPT_IMAGE_ROOT, OPT_RESPONSES, OPT_OUTPUT,
};

static const pv_option options[] = {
    {"engine", 0, PV_ARG_REQUIRED, OPT_ENGINE},
    {"types", 0, PV_ARG_REQUIRED, OPT_TYPES},
    {"edits", 0, PV_ARG_REQUIRED, OPT_EDITS},
    {"seed", 0, PV_ARG_REQUIRED, OPT_SEED},
    {"cooccur", 0, PV_ARG_REQUIRED, OPT_COOCCUR},
    {"build-cooccur", 0, PV_ARG_NONE, OPT_BUILD_COOCCUR},
    {"synonyms", 0, PV_ARG_REQUIRED, OPT_SYNONYMS},
    {"model", 0, PV_ARG_REQUIRED, OPT_MODEL},
    {"temperature", 0, PV_ARG_REQUIRED, OPT_TEMPERATURE},
    {"with-image", 0, PV_ARG_NONE, OPT_WITH_IMAGE},
    {"image-root", 0, PV_ARG_REQUIRED, OPT_IMAGE_ROOT},
    {"responses", 0, PV_ARG_REQUIRED, OPT_RESPONSES},
    {"output", 'o', PV_ARG_REQUIRED, OPT_OUTPUT},
    {0},
};

enum engine { ENGINE_RULES, ENGINE_REQUEST, ENGINE_MERGE };
static const char *const engine_names[] = {"rules", "request", "merge", NULL};

typedef struct settings {
    int engine;
    bool build_cooccur, with_image, model_given;
    pv_hal_options hal;
    pv_batch_request_opts req;
    const char *types_text, *cooccur, *synonyms, *image_root, *responses, *output;
    const char **inputs;
    int n_inputs;
} settings;

static void parse_options(int argc, char **argv, settings *s)
{
    *s = (settings){.engine = ENGINE_RULES, .types_text = "object,attribute,relation",
                    .image_root = ".", .output = "-"};
    s->hal = (pv_hal_options){.types = PV_EDIT_ALL, .edits = 3};
    s->req = (pv_batch_request_opts){.model = "gpt-4o", .temperature = 0.7};
    s->inputs = calloc((size_t)argc, sizeof *s->inputs);
    if (!s->inputs)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    pv_cli cli = pv_cli_start(argc, argv, options, usage);
    const char *val;
    int id;
    while ((id = pv_cli_next(&cli, &val)) != PV_CLI_END) {
        switch (id) {
        case OPT_ENGINE: s->engine = pv_parse_choice("--engine", val, engine_names); break;
        case OPT_TYPES:
            s->types_text = val;
            s->hal.types = pv_edit_types_parse(val);
            if (!s->hal.types)
                pv_usage_error("--types: '%s' is not a list of object, attribute, relation", val);
            break;
        case OPT_EDITS: s->hal.edits = (int)pv_parse_int("--edits", val, 1, 100); break;
        case OPT_SEED: s->hal.seed = pv_parse_u64("--seed", val); break;
        case OPT_COOCCUR: s->cooccur = val; break;
        case OPT_BUILD_COOCCUR: s->build_cooccur = true; break;
        case OPT_SYNONYMS: s->synonyms = val; break;
        case OPT_MODEL: s->req.model = val; s->model_given = true; break;
        case OPT_TEMPERATURE: s->req.temperature = pv_parse_double("--temperature", val, 0, 2); break;
        case OPT_WITH_IMAGE: s->with_image = true; break;
        case OPT_IMAGE_ROOT: s->image_root = val; break;
        case OPT_RESPONSES: s->responses = val; break;
        case OPT_OUTPUT: s->output = val; break;
        case PV_CLI_POSITIONAL: s->inputs[s->n_inputs++] = val; break;
        }
    }
    if (s->engine == ENGINE_MERGE && !s->responses)
        pv_usage_error("--engine merge needs --responses FILE");
    if (s->responses && s->engine != ENGINE_MERGE)
        pv_usage_error("--responses is for --engine merge");
    if (s->with_image && s->engine != ENGINE_REQUEST)
        pv_usage_error("--with-image is for --engine request");
    if (s->build_cooccur && s->engine != ENGINE_RULES)
        pv_usage_error("--build-cooccur does not go with --engine %s", engine_names[s->engine]);
}

/* ---- --build-cooccur ------------------------------------------------------------ */

static void build_cooccur(const settings *s, const pv_lexicon *lex)
{
    pv_cooccur *co = pv_cooccur_new();
    pv_inputs in;
    pv_inputs_init(&in, s->inputs, s->n_inputs);
    cJSON *rec;
    pv_reader *from;
    int rc;
    while ((rc = pv_inputs_next(&in, &rec, &from)) != 0) {
        if (rc < 0)
            continue;
        const cJSON *objects = pv_rec_string_array(from, rec, "objects", true);
        if (objects) {
            /* Synonyms count as their category, so the table speaks the lexicon's names. */
            size_t n = (size_t)cJSON_GetArraySize(objects), k = 0;
            const char **names = calloc(n + 1, sizeof *names);
            const cJSON *o;
            cJSON_ArrayForEach(o, objects) {
                int cat = pv_lexicon_lookup(lex, o->valuestring);
                names[k++] = cat >= 0 ? pv_lexicon_name(lex, cat) : o->valuestring;
            }
            pv_cooccur_add(co, names, k);
            free(names);
        }
        cJSON_Delete(rec);
    }
    pv_inputs_close(&in);
    char *json = pv_cooccur_to_json(co);
    pv_outfile *out = pv_outfile_open(s->output);
    if (!out || pv_outfile_write(out, json, strlen(json)) != 0 || pv_outfile_commit(out) != 0)
        pv_exit(PV_EXIT_SYSTEM);
    long n = pv_cooccur_records(co);
    pv_info("counted %ld record%s, %zu distinct objects", n, n == 1 ? "" : "s", pv_cooccur_size(co));
    free(json);
    pv_cooccur_free(co);
}

/* ---- per-record work ---------------------------------------------------------- */

/* `chosen`, required and not blank; NULL after reporting. */
static const char *chosen_text(const pv_reader *from, const cJSON *rec)
{
    const char *chosen = pv_rec_string(from, rec, "chosen", true);
    if (!chosen)
        return NULL;
    const char *p = chosen;
    while (*p && isspace((unsigned char)*p))
        p++;
    if (!*p) {
        pv_bad_record(pv_reader_name(from), pv_reader_line(from), "\"chosen\" is empty");
        return NULL;
    }
    return chosen;
}

static bool rules_record(const settings *s, const pv_reader *from, cJSON *rec)
{
    const char *chosen = chosen_text(from, rec);
    if (!chosen)
        return false;
    const cJSON *objects = pv_rec_string_array(from, rec, "objects", s->hal.types & PV_EDIT_OBJECT);
    if (!objects && (s->hal.types & PV_EDIT_OBJECT))
        return false;
    size_t n = objects ? (size_t)cJSON_GetArraySize(objects) : 0, k = 0;
    const char **names = calloc(n + 1, sizeof *names);
    const cJSON *o;
    if (objects)
        cJSON_ArrayForEach(o, objects) names[k++] = o->valuestring;
    char idbuf[64];
    const char *key = pv_rec_id(rec, idbuf, sizeof idbuf);
    pv_hal_result res;
    size_t made = pv_hallucinate(&s->hal, key, chosen, names, k, &res);
    free(names);
    if (made > 0 && strcmp(res.text, chosen) == 0) {
        pv_hal_result_free(&res); /* cannot happen by construction; never write it */
        made = 0;
    }
    if (made == 0) {
        /* Never write rejected == chosen: a pair without a difference teaches nothing. */
        pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                      "no edit of the asked kinds (%s) applies to \"chosen\"", s->types_text);
        return false;
    }
    cJSON *hal = cJSON_CreateObject();
    cJSON_AddStringToObject(hal, "engine", "rules");
    cJSON_AddNumberToObject(hal, "seed", (double)s->hal.seed);
    cJSON *edits = cJSON_AddArrayToObject(hal, "edits");
    for (size_t i = 0; i < res.n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", pv_edit_type_name(res.edits[i].type));
        cJSON_AddStringToObject(e, "from", res.edits[i].from);
        cJSON_AddStringToObject(e, "to", res.edits[i].to);
        if (res.edits[i].object)
            cJSON_AddStringToObject(e, "object", res.edits[i].object);
        cJSON_AddItemToArray(edits, e);
    }
    pv_rec_set_string(rec, "rejected", res.text);
    pv_rec_set(rec, "hallucination", hal);
    pv_hal_result_free(&res);
    return true;
}

/* The record's id, required; NULL after reporting. */
static const char *record_id(const pv_reader *from, const cJSON *rec, char *buf, size_t size)
{
    const char *id = pv_rec_id(rec, buf, size);
    if (!id || !*id)
        pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                      "missing \"id\" (it becomes the request's custom_id)");
    return id && *id ? id : NULL;
}

static void request_record(const settings *s, const pv_reader *from, const cJSON *rec,
                           pv_batch_ids *ids, pv_writer *w)
{
    char idbuf[64];
    const char *id = record_id(from, rec, idbuf, sizeof idbuf);
    const char *chosen = id ? chosen_text(from, rec) : NULL;
    if (!chosen)
        return;
    char path[4096];
    if (s->with_image) {
        const char *image = pv_rec_string(from, rec, "image", true);
        if (!image)
            return;
        char *resolved = pv_path_resolve(s->image_root, image);
        snprintf(path, sizeof path, "%s", resolved);
        free(resolved);
    }
    long first = pv_batch_ids_add(ids, id, pv_reader_line(from));
    if (first) {
        pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                      "duplicate id \"%s\" (first on line %ld): custom_ids must be unique", id,
                      first);
        return;
    }
    char err[4200];
    /* The real objects, so that the model adds others. */
    const cJSON *objects = pv_rec_string_array(from, rec, "objects", false);
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(rec, "objects");
    if (!objects && given && !cJSON_IsNull(given))
        return; /* present but not strings: reported */
    char *list = NULL;
    if (objects && cJSON_GetArraySize(objects) > 0) {
        size_t len = 1;
        const cJSON *o;
        cJSON_ArrayForEach(o, objects) len += strlen(o->valuestring) + 2;
        list = calloc(len, 1);
        if (!list)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        cJSON_ArrayForEach(o, objects) {
            if (list[0])
                strcat(list, ", ");
            strcat(list, o->valuestring);
        }
        strcat(list, ".");
    }
    char *line = pv_batch_request_line(&s->req, id, chosen, list, s->with_image ? path : NULL,
                                       err, sizeof err);
    free(list);
    if (!line) {
        pv_bad_record(pv_reader_name(from), pv_reader_line(from), "image %s", err);
        return;
    }
    pv_writer_put_line(w, line, strlen(line));
    free(line);
}

static bool merge_record(const settings *s, const pv_reader *from, cJSON *rec,
                         pv_batch_responses *answers)
{
    char idbuf[64];
    const char *id = record_id(from, rec, idbuf, sizeof idbuf);
    const char *chosen = id ? chosen_text(from, rec) : NULL;
    if (!chosen)
        return false;
    const char *file = pv_reader_name(from);
    long line = pv_reader_line(from);
    const char *content = NULL, *model = NULL, *why = NULL;
    switch (pv_batch_responses_get(answers, id, &content, &model, &why)) {
    case PV_BATCH_MISSING:
        pv_bad_record(file, line, "no response for id \"%s\" in %s", id, s->responses);
        return false;
    case PV_BATCH_FAILED:
        pv_bad_record(file, line, "request for id \"%s\" failed: %s", id, why);
        return false;
    case PV_BATCH_OK: break;
    }
    /* The answer without surrounding blank space. */
    while (isspace((unsigned char)*content))
        content++;
    size_t len = strlen(content);
    while (len > 0 && isspace((unsigned char)content[len - 1]))
        len--;
    if (len == 0) {
        pv_bad_record(file, line, "the answer for id \"%s\" is empty", id);
        return false;
    }
    char *text = strndup(content, len);
    if (!text)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (strcmp(text, chosen) == 0) {
        pv_bad_record(file, line, "the answer for id \"%s\" is the same as \"chosen\"", id);
        free(text);
        return false;
    }
    cJSON *hal = cJSON_CreateObject();
    cJSON_AddStringToObject(hal, "engine", "llm");
    const char *m = model ? model : s->model_given ? s->req.model : NULL;
    if (m)
        cJSON_AddStringToObject(hal, "model", m);
    pv_rec_set_string(rec, "rejected", text);
    pv_rec_set(rec, "hallucination", hal);
    free(text);
    return true;
}

int main(int argc, char **argv)
{
    pv_init(argv[0]);
    settings s;
    parse_options(argc, argv, &s);

    char err[512];
    pv_lexicon *lex = s.synonyms ? pv_lexicon_load(s.synonyms, err, sizeof err) : pv_lexicon_builtin();
    if (!lex)
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    s.hal.lex = lex;
    if (s.build_cooccur) {
        build_cooccur(&s, lex);
        pv_lexicon_free(lex);
        free(s.inputs);
        return pv_final_status();
    }
    pv_cooccur *co = NULL;
    if (s.engine == ENGINE_RULES) {
        co = s.cooccur ? pv_cooccur_load(s.cooccur, err, sizeof err) : pv_cooccur_builtin();
        if (!co)
            pv_die(PV_EXIT_SYSTEM, "%s: %s", s.cooccur, err);
        s.hal.cooccur = co;
    }
    pv_batch_responses *answers = s.engine == ENGINE_MERGE ? pv_batch_responses_load(s.responses) : NULL;
    pv_batch_ids *ids = s.engine == ENGINE_REQUEST ? pv_batch_ids_new() : NULL;

    pv_writer *w = pv_writer_open(s.output);
    if (!w)
        pv_exit(PV_EXIT_SYSTEM);
    pv_progress progress;
    pv_progress_start(&progress, "records", 0);
    pv_inputs in;
    pv_inputs_init(&in, s.inputs, s.n_inputs);
    cJSON *rec;
    pv_reader *from;
    int rc;
    while ((rc = pv_inputs_next(&in, &rec, &from)) != 0) {
        if (rc < 0)
            continue;
        if (s.engine == ENGINE_REQUEST) {
            request_record(&s, from, rec, ids, w);
        } else {
            bool ok = s.engine == ENGINE_RULES ? rules_record(&s, from, rec)
                                               : merge_record(&s, from, rec, answers);
            if (ok) {
                pv_writer_put(w, rec);
            }
        }
        cJSON_Delete(rec);
        pv_progress_add(&progress, 1);
    }
    pv_inputs_close(&in);
    pv_progress_finish(&progress);
    pv_writer_close(w);
    if (answers) {
        const char *first;
        size_t unused = pv_batch_responses_unused(answers, &first);
        if (unused)
            pv_info("%zu response%s match%s no record (first: \"%s\")", unused,
                    unused == 1 ? "" : "s", unused == 1 ? "es" : "", first);
    }
    pv_batch_responses_free(answers);
    pv_batch_ids_free(ids);
    pv_cooccur_free(co);
    pv_lexicon_free(lex);
    free(s.inputs);
    return pv_final_status();
}
