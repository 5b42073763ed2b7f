/* pv-score: measures hallucination: CHAIR over descriptions, POPE over yes/no
 * answers. Per-record annotations as records, the summary as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chair.h"
#include "cli.h"
#include "coco.h"
#include "diag.h"
#include "json_print.h"
#include "lexicon.h"
#include "outfile.h"
#include "pope.h"
#include "progress.h"
#include "records.h"

static const char usage[] =
    "Usage: pv-score [OPTION]... [FILE]...\n"
    "Measure object hallucination: CHAIR over descriptions, POPE over yes/no answers.\n"
    "Reads records (JSONL, gzip or not) from the FILEs or standard input and prints\n"
    "the summary as one JSON object per line (with --annotate, after the records).\n"
    "\n"
    "      --metric NAME          chair (default) or pope\n"
    "      --field NAME           the text to score (default: caption for chair,\n"
    "                             answer for pope)\n"
    "      --annotate             also write each record, with a `chair` (or `pope`)\n"
    "                             object added\n"
    "      --summary FILE         write the summary to FILE (atomically) instead\n"
    "      --format FORMAT        json (default), or table: also print a table on stderr\n"
    "CHAIR:\n"
    "      --coco-instances FILE  ground truth from a COCO instances_*.json (repeatable);\n"
    "                             without it, each record's `objects` is the ground truth\n"
    "      --coco-captions FILE   objects of a COCO captions_*.json count as ground truth\n"
    "                             too (repeatable)\n"
    "      --synonyms FILE        object lexicon in CHAIR's synonyms.txt format\n"
    "                             (default: built-in)\n"
    "POPE:\n"
    "      --group FIELD          one summary per value of FIELD (e.g. a split), then\n"
    "                             the overall one\n"
    "Output and common options:\n"
    "  -o, --output FILE          write to FILE atomically (default: standard output)\n"
    "  -q, --quiet                no progress, no notes\n"
    "      --keep-going           skip bad records (exit status still 1)\n"
    "  -h, --help                 show this help\n"
    "      --version              show the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input records, 2 usage error, 3 system or I/O error\n"
    "(including an unreadable or malformed COCO or synonyms file).\n"
    "See pv-score(1) and pv-records(5).\n";

enum {
    OPT_METRIC, OPT_FIELD, OPT_ANNOTATE, OPT_SUMMARY, OPT_FORMAT, OPT_INSTANCES, OPT_CAPTIONS,
    OPT_SYNONYMS, OPT_GROUP, OPT_OUTPUT,
};

static const pv_option options[] = {
    {"metric", 0, PV_ARG_REQUIRED, OPT_METRIC},
    {"field", 0, PV_ARG_REQUIRED, OPT_FIELD},
    {"annotate", 0, PV_ARG_NONE, OPT_ANNOTATE},
    {"summary", 0, PV_ARG_REQUIRED, OPT_SUMMARY},
    {"format", 0, PV_ARG_REQUIRED, OPT_FORMAT},
    {"coco-instances", 0, PV_ARG_REQUIRED, OPT_INSTANCES},
    {"coco-captions", 0, PV_ARG_REQUIRED, OPT_CAPTIONS},
    {"synonyms", 0, PV_ARG_REQUIRED, OPT_SYNONYMS},
    {"group", 0, PV_ARG_REQUIRED, OPT_GROUP},
    {"output", 'o', PV_ARG_REQUIRED, OPT_OUTPUT},
    {0},
};

enum metric { METRIC_CHAIR, METRIC_POPE };
static const char *const metric_names[] = {"chair", "pope", NULL};
static const char *const format_names[] = {"json", "table", NULL};

typedef struct settings {
    int metric;
    bool annotate, table;
    const char *field, *summary, *synonyms, *group, *output;
    const char **instances, **captions, **inputs;
    int n_instances, n_captions, n_inputs;
} settings;

static void parse_options(int argc, char **argv, settings *s)
{
    *s = (settings){.metric = METRIC_CHAIR, .output = "-"};
    s->instances = calloc((size_t)argc, sizeof *s->instances);
    s->captions = calloc((size_t)argc, sizeof *s->captions);
    s->inputs = calloc((size_t)argc, sizeof *s->inputs);
    if (!s->instances || !s->captions || !s->inputs)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    pv_cli cli = pv_cli_start(argc, argv, options, usage);
    const char *val;
    int id;
    while ((id = pv_cli_next(&cli, &val)) != PV_CLI_END) {
        switch (id) {
        case OPT_METRIC: s->metric = pv_parse_choice("--metric", val, metric_names); break;
        case OPT_FIELD: s->field = val; break;
        case OPT_ANNOTATE: s->annotate = true; break;
        case OPT_SUMMARY: s->summary = val; break;
        case OPT_FORMAT: s->table = pv_parse_choice("--format", val, format_names) == 1; break;
        case OPT_INSTANCES: s->instances[s->n_instances++] = val; break;
        case OPT_CAPTIONS: s->captions[s->n_captions++] = val; break;
        case OPT_SYNONYMS: s->synonyms = val; break;
        case OPT_GROUP: s->group = val; break;
        case OPT_OUTPUT: s->output = val; break;
        case PV_CLI_POSITIONAL: s->inputs[s->n_inputs++] = val; break;
        }
    }
    if (!s->field)
        s->field = s->metric == METRIC_CHAIR ? "caption" : "answer";
    if (s->metric == METRIC_POPE && (s->n_instances || s->n_captions || s->synonyms))
        pv_usage_error("--coco-instances, --coco-captions and --synonyms are for --metric chair");
    if (s->metric == METRIC_CHAIR && s->group)
        pv_usage_error("--group is for --metric pope");
    if (s->n_captions && !s->n_instances)
        pv_usage_error("--coco-captions needs --coco-instances (the images' objects)");
}

/* Writes the summary lines to --summary FILE, or after the records. */
static void put_summaries(const settings *s, pv_writer *w, cJSON **objs, int n)
{
    if (!s->summary) {
        for (int i = 0; i < n; i++) {
            char *line = pv_json_print(objs[i]);
            if (!line)
                pv_die(PV_EXIT_SYSTEM, "out of memory");
            pv_writer_put_line(w, line, strlen(line));
            free(line);
        }
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char *line = pv_json_print(objs[i]);
        if (!line)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        fprintf(mem, "%s\n", line);
        free(line);
    }
    if (fclose(mem) != 0)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (pv_write_file_atomic(s->summary, text, len) != 0)
        pv_exit(PV_EXIT_SYSTEM);
    free(text);
}

/* ---- CHAIR ------------------------------------------------------------------------ */

/* The COCO image id of a record: its `image_id` (integer or digits), else the
 * digits that end its `image` file name; -1 after reporting a bad record. */
static long long record_image_id(const pv_reader *from, const cJSON *rec)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "image_id");
    if (v && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15 &&
        v->valuedouble == (double)(long long)v->valuedouble)
        return (long long)v->valuedouble;
    if (v && cJSON_IsString(v) && v->valuestring[0] &&
        strspn(v->valuestring, "0123456789") == strlen(v->valuestring) &&
        strlen(v->valuestring) <= 15)
        return atoll(v->valuestring);
    if (v && !cJSON_IsNull(v)) {
        pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                      "\"image_id\" is not a non-negative integer");
        return -1;
    }
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(rec, "image");
    if (img && cJSON_IsString(img)) {
        long long id = pv_coco_image_id_from_name(img->valuestring);
        if (id >= 0)
            return id;
        pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                      "no COCO image id in \"image\" \"%s\" (and no \"image_id\")",
                      img->valuestring);
        return -1;
    }
    pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                  "missing \"image_id\" or \"image\" (needed with --coco-instances)");
    return -1;
}

typedef struct chair_run {
    const settings *s;
    const pv_lexicon *lex;
    pv_coco *coco;
    int *gt;
    int gtcap;
    long unknown_objects; /* ground-truth names outside the lexicon */
} chair_run;

/* Ground-truth categories of a record into run->gt; their number, or -1 for a
 * bad record (reported). */
static int record_ground_truth(chair_run *run, const pv_reader *from, const cJSON *rec)
{
    int n;
    if (run->coco) {
        long long id = record_image_id(from, rec);
        if (id < 0)
            return -1;
        n = pv_coco_objects(run->coco, id, run->gt, run->gtcap);
        if (n < 0) {
            pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                          "image id %lld is not in the COCO annotations", id);
            return -1;
        }
        return n;
    }
    const cJSON *objects = pv_rec_string_array(from, rec, "objects", true);
    if (!objects)
        return -1;
    n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, objects) {
        int c = pv_lexicon_lookup(run->lex, o->valuestring);
        if (c < 0)
            run->unknown_objects++;
        else if (n < run->gtcap)
            run->gt[n++] = c;
    }
    return n;
}

static void run_chair(const settings *s, pv_writer *w)
{
    char err[1024];
    pv_lexicon *lex = s->synonyms ? pv_lexicon_load(s->synonyms, err, sizeof err)
                                  : pv_lexicon_builtin();
    if (!lex)
        pv_die(PV_EXIT_SYSTEM, "%s", s->synonyms ? err : "out of memory");
    chair_run run = {.s = s, .lex = lex, .gtcap = pv_lexicon_size(lex)};
    run.gt = malloc((size_t)run.gtcap * sizeof *run.gt);
    if (!run.gt)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (s->n_instances) {
        if (!(run.coco = pv_coco_new(lex)))
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        for (int i = 0; i < s->n_instances; i++)
            if (pv_coco_read_instances(run.coco, s->instances[i], err, sizeof err) != 0)
                pv_die(PV_EXIT_SYSTEM, "%s", err);
        for (int i = 0; i < s->n_captions; i++)
            if (pv_coco_read_captions(run.coco, s->captions[i], err, sizeof err) != 0)
                pv_die(PV_EXIT_SYSTEM, "%s", err);
        size_t nimg = pv_coco_images(run.coco);
        pv_info("COCO ground truth for %zu image%s", nimg, nimg == 1 ? "" : "s");
    }

    pv_chair_totals totals = {0};
    pv_chair_record r;
    pv_chair_record_init(&r);
    pv_progress prog;
    pv_progress_start(&prog, "records", 0);
    pv_inputs in;
    pv_inputs_init(&in, s->inputs, s->n_inputs);
    cJSON *rec;
    pv_reader *from;
    int rc;
    while ((rc = pv_inputs_next(&in, &rec, &from)) != 0) {
        if (rc < 0)
            continue;
        const char *text = pv_rec_string(from, rec, s->field, true);
        int ngt = text ? record_ground_truth(&run, from, rec) : -1;
        if (text && ngt >= 0) {
            if (pv_chair_score(lex, text, run.gt, (size_t)ngt, &r) != 0)
                pv_die(PV_EXIT_SYSTEM, "out of memory");
            pv_chair_add(&totals, &r);
            if (s->annotate) {
                pv_rec_set(rec, "chair", pv_chair_record_json(lex, &r));
                pv_writer_put(w, rec);
            }
        }
        cJSON_Delete(rec);
        pv_progress_add(&prog, 1);
    }
    pv_progress_finish(&prog);
    pv_inputs_close(&in);
    if (run.unknown_objects)
        pv_info("%ld ground-truth object name%s outside the lexicon ignored", run.unknown_objects,
                run.unknown_objects == 1 ? "" : "s");

    cJSON *summary = pv_chair_summary_json(&totals);
    put_summaries(s, w, &summary, 1);
    cJSON_Delete(summary);
    if (s->table)
        pv_chair_print_table(stderr, &totals, s->field);
    pv_chair_record_free(&r);
    pv_coco_free(run.coco);
    free(run.gt);
    pv_lexicon_free(lex);
}

/* ---- POPE ------------------------------------------------------------------------- */

typedef struct group {
    char *name;
    pv_pope_counts counts;
} group;

/* The text of a --group field: a string as is, a number printed; NULL for a bad
 * record (reported). */
static const char *group_value(const settings *s, const pv_reader *from, const cJSON *rec,
                               char *buf, size_t bufsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, s->group);
    if (v && cJSON_IsString(v))
        return v->valuestring;
    if (v && cJSON_IsNumber(v)) {
        snprintf(buf, bufsize, "%.17g", v->valuedouble);
        return buf;
    }
    pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                  v ? "\"%s\" is not a string or number" : "missing \"%s\" (--group)", s->group);
    return NULL;
}

static void run_pope(const settings *s, pv_writer *w)
{
    pv_pope_counts all = {0};
    group *groups = NULL;
    int ngroups = 0, capgroups = 0;
    pv_progress prog;
    pv_progress_start(&prog, "records", 0);
    pv_inputs in;
    pv_inputs_init(&in, s->inputs, s->n_inputs);
    cJSON *rec;
    pv_reader *from;
    int rc;
    while ((rc = pv_inputs_next(&in, &rec, &from)) != 0) {
        if (rc < 0)
            continue;
        pv_progress_add(&prog, 1);
        char gbuf[64];
        const char *answer = pv_rec_string(from, rec, s->field, true);
        const char *label = answer ? pv_rec_string(from, rec, "label", true) : NULL;
        const char *gname = label && s->group ? group_value(s, from, rec, gbuf, sizeof gbuf) : NULL;
        if (!label || (s->group && !gname)) {
            cJSON_Delete(rec);
            continue;
        }
        bool label_yes = strcasecmp(label, "yes") == 0;
        if (!label_yes && strcasecmp(label, "no") != 0) {
            pv_bad_record(pv_reader_name(from), pv_reader_line(from),
                          "\"label\" is \"%s\", not \"yes\" or \"no\"", label);
            cJSON_Delete(rec);
            continue;
        }
        bool yes = pv_pope_says_yes(answer);
        pv_pope_add(&all, yes, label_yes);
        if (gname) {
            int g = 0;
            while (g < ngroups && strcmp(groups[g].name, gname) != 0)
                g++;
            if (g == ngroups) {
                if (ngroups == capgroups) {
                    capgroups = capgroups ? capgroups * 2 : 8;
                    group *p = realloc(groups, (size_t)capgroups * sizeof *p);
                    if (!p)
                        pv_die(PV_EXIT_SYSTEM, "out of memory");
                    groups = p;
                }
                groups[ngroups] = (group){strdup(gname), {0}};
                if (!groups[ngroups++].name)
                    pv_die(PV_EXIT_SYSTEM, "out of memory");
            }
            pv_pope_add(&groups[g].counts, yes, label_yes);
        }
        if (s->annotate) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "prediction", yes ? "yes" : "no");
            cJSON_AddBoolToObject(o, "correct", yes == label_yes);
            pv_rec_set(rec, "pope", o);
            pv_writer_put(w, rec);
        }
        cJSON_Delete(rec);
    }
    pv_progress_finish(&prog);
    pv_inputs_close(&in);

    /* Groups in order of first appearance, then the overall summary. */
    cJSON **objs = malloc((size_t)(ngroups + 1) * sizeof *objs);
    if (!objs)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    for (int g = 0; g < ngroups; g++)
        objs[g] = pv_pope_summary_json(&groups[g].counts, groups[g].name);
    objs[ngroups] = pv_pope_summary_json(&all, NULL);
    put_summaries(s, w, objs, ngroups + 1);
    if (s->table) {
        pv_pope_print_table_header(stderr);
        for (int g = 0; g < ngroups; g++)
            pv_pope_print_table_row(stderr, &groups[g].counts, groups[g].name);
        pv_pope_print_table_row(stderr, &all, NULL);
    }
    for (int g = 0; g <= ngroups; g++)
        cJSON_Delete(objs[g]);
    for (int g = 0; g < ngroups; g++)
        free(groups[g].name);
    free(groups);
    free(objs);
}

int main(int argc, char **argv)
{
    pv_init(argv[0]);
    settings s;
    parse_options(argc, argv, &s);
    pv_writer *w = pv_writer_open(s.output);
    if (!w)
        pv_exit(PV_EXIT_SYSTEM);
    if (s.metric == METRIC_CHAIR)
        run_chair(&s, w);
    else
        run_pope(&s, w);
    pv_writer_close(w);
    free(s.instances);
    free(s.captions);
    free(s.inputs);
    return pv_final_status();
}
