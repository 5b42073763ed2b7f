/* pv-pair: imports, validates, joins and reshapes records into DPO pairs;
 * shuffles and splits with a seed; exports the interchange formats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "pair_formats.h"
#include "pair_input.h"
#include "pair_output.h"
#include "pair_process.h"
#include "pair_shuffle.h"
#include "progress.h"

static const char usage[] =
    "Usage: pv-pair [OPTION]... [FILE]...\n"
    "Import, check, join, shuffle, split and export preference pairs.\n"
    "Reads records (JSONL, a JSON array, gzip or not) from the FILEs or standard input.\n"
    "\n"
    "Formats:\n"
    "      --from FORMAT      input format: records, llava, trl (default: detected\n"
    "                         from the first object of each input)\n"
    "      --to FORMAT        output format: records (default), llava, trl\n"
    "      --array            write one JSON array instead of one object per line\n"
    "Checks:\n"
    "      --require FIELDS   comma-separated fields every record must have, non-empty\n"
    "                         (default id,image,prompt,chosen,rejected; '' for none);\n"
    "                         chosen must differ from rejected when both are required\n"
    "      --check-images     drop records whose image file does not exist\n"
    "      --image-root DIR   resolve relative image paths against DIR (default: .)\n"
    "      --dedupe KEY       drop repeats after the first: KEY is id, or content\n"
    "                         (image, prompt, chosen and rejected all equal)\n"
    "      --assign-ids       give a record without \"id\" its ordinal in the input\n"
    "Join:\n"
    "      --join FILE        add the fields of the records of FILE with the same key\n"
    "      --on FIELD         the key of --join (default id)\n"
    "      --keep-unmatched   keep records without a match (default: drop them)\n"
    "Order and split:\n"
    "      --shuffle          shuffle the kept records (SplitMix64 + Fisher-Yates)\n"
    "      --seed N           shuffle seed (default 0)\n"
    "      --split FRACTION   send this fraction of the kept records to --val, the\n"
    "                         rest to --train (after shuffling, if --shuffle)\n"
    "      --train FILE       training records (with --split)\n"
    "      --val FILE         validation records (with --split)\n"
    "Output and common options:\n"
    "  -o, --output FILE      write to FILE atomically (default: standard output)\n"
    "  -q, --quiet            no drop reasons, no summary\n"
    "      --keep-going       skip bad records (exit status still 1)\n"
    "  -h, --help             show this help\n"
    "      --version          show the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input records, 2 usage error, 3 system or I/O error.\n"
    "See pv-pair(1) and pv-records(5).\n";

enum {
    OPT_FROM, OPT_TO, OPT_ARRAY, OPT_REQUIRE, OPT_CHECK_IMAGES, OPT_IMAGE_ROOT, OPT_DEDUPE,
    OPT_ASSIGN_IDS, OPT_JOIN, OPT_ON, OPT_KEEP_UNMATCHED, OPT_SHUFFLE, OPT_SEED, OPT_SPLIT,
    OPT_TRAIN, OPT_VAL, OPT_OUTPUT,
};

static const pv_option options[] = {
    {"from", 0, PV_ARG_REQUIRED, OPT_FROM},
    {"to", 0, PV_ARG_REQUIRED, OPT_TO},
    {"array", 0, PV_ARG_NONE, OPT_ARRAY},
    {"require", 0, PV_ARG_REQUIRED, OPT_REQUIRE},
    {"check-images", 0, PV_ARG_NONE, OPT_CHECK_IMAGES},
    {"image-root", 0, PV_ARG_REQUIRED, OPT_IMAGE_ROOT},
    {"dedupe", 0, PV_ARG_REQUIRED, OPT_DEDUPE},
    {"assign-ids", 0, PV_ARG_NONE, OPT_ASSIGN_IDS},
    {"join", 0, PV_ARG_REQUIRED, OPT_JOIN},
    {"on", 0, PV_ARG_REQUIRED, OPT_ON},
    {"keep-unmatched", 0, PV_ARG_NONE, OPT_KEEP_UNMATCHED},
    {"shuffle", 0, PV_ARG_NONE, OPT_SHUFFLE},
    {"seed", 0, PV_ARG_REQUIRED, OPT_SEED},
    {"split", 0, PV_ARG_REQUIRED, OPT_SPLIT},
    {"train", 0, PV_ARG_REQUIRED, OPT_TRAIN},
    {"val", 0, PV_ARG_REQUIRED, OPT_VAL},
    {"output", 'o', PV_ARG_REQUIRED, OPT_OUTPUT},
    {0},
};

typedef struct settings {
    int from; /* a pv_pair_format, or -1: detect */
    bool array, shuffle, split;
    uint64_t seed;
    double val_fraction;
    const char *output, *train, *val, *join, *on;
    const char **inputs;
    int n_inputs;
} settings;

static void parse_options(int argc, char **argv, settings *s, pv_pair *p)
{
    const char *require = PV_PAIR_DEFAULT_REQUIRE;
    bool keep_unmatched_given = false, on_given = false;
    s->inputs = calloc((size_t)argc, sizeof *s->inputs);
    if (!s->inputs)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    pv_cli cli = pv_cli_start(argc, argv, options, usage);
    const char *val;
    int id;
    while ((id = pv_cli_next(&cli, &val)) != PV_CLI_END) {
        switch (id) {
        case OPT_FROM: s->from = pv_parse_choice("--from", val, pv_pair_format_names); break;
        case OPT_TO: p->to = (pv_pair_format)pv_parse_choice("--to", val, pv_pair_format_names); break;
        case OPT_ARRAY: s->array = true; break;
        case OPT_REQUIRE: require = val; break;
        case OPT_CHECK_IMAGES: p->rules.check_images = true; break;
        case OPT_IMAGE_ROOT: p->rules.image_root = val; break;
        case OPT_DEDUPE:
            pv_dedupe_init(&p->dedupe, (pv_dedupe_key)pv_parse_choice("--dedupe", val, pv_dedupe_key_names));
            break;
        case OPT_ASSIGN_IDS: p->assign_ids = true; break;
        case OPT_JOIN: s->join = val; break;
        case OPT_ON: s->on = val; on_given = true; break;
        case OPT_KEEP_UNMATCHED: p->keep_unmatched = keep_unmatched_given = true; break;
        case OPT_SHUFFLE: s->shuffle = true; break;
        case OPT_SEED: s->seed = pv_parse_u64("--seed", val); break;
        case OPT_SPLIT: s->split = true; s->val_fraction = pv_parse_double("--split", val, 0, 1); break;
        case OPT_TRAIN: s->train = val; break;
        case OPT_VAL: s->val = val; break;
        case OPT_OUTPUT: s->output = val; break;
        case PV_CLI_POSITIONAL: s->inputs[s->n_inputs++] = val; break;
        }
    }
    if (s->split && (!s->train || !s->val))
        pv_usage_error("--split needs --train FILE and --val FILE");
    if (!s->split && (s->train || s->val))
        pv_usage_error("--train and --val go with --split FRACTION");
    if (s->split && s->output)
        pv_usage_error("--split writes --train and --val; -o does not apply");
    if (!s->join && (on_given || keep_unmatched_given))
        pv_usage_error("--on and --keep-unmatched go with --join FILE");
    if (p->rules.image_root && !p->rules.check_images)
        pv_usage_error("--image-root goes with --check-images");
    pv_pair_rules_require(&p->rules, require);
}

static void put_all(pv_pair_output *out, char **texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pv_pair_output_put_text(out, texts[i]);
}

int main(int argc, char **argv)
{
    pv_init(argv[0]);
    settings s = {.from = -1, .on = "id"};
    pv_pair p = {.to = PV_PAIR_RECORDS};
    parse_options(argc, argv, &s, &p);
    if (s.join)
        p.join = pv_join_load(s.join, s.on);

    /* Shuffling and splitting need every record first; otherwise stream. */
    bool buffered = s.shuffle || s.split;
    pv_pair_output *out = buffered ? NULL : pv_pair_output_open(s.output ? s.output : "-", s.array);
    char **texts = NULL;
    size_t n_texts = 0, cap = 0;

    static const char *stdin_only[] = {"-"};
    const char **inputs = s.n_inputs ? s.inputs : stdin_only;
    int n_inputs = s.n_inputs ? s.n_inputs : 1;
    pv_progress progress;
    pv_progress_start(&progress, "records", 0);
    for (int i = 0; i < n_inputs; i++) {
        pv_pair_input *in = pv_pair_input_open(inputs[i]);
        if (!in)
            pv_exit(PV_EXIT_SYSTEM);
        int from = s.from;
        cJSON *obj;
        int rc;
        while ((rc = pv_pair_input_next(in, &obj)) != 0) {
            pv_progress_add(&progress, 1);
            if (rc < 0) {
                pv_pair_count_bad(&p);
                continue;
            }
            if (from < 0)
                from = (int)pv_pair_detect(obj);
            cJSON *rec = pv_pair_process(&p, obj, (pv_pair_format)from, pv_pair_input_name(in),
                                         pv_pair_input_line(in));
            if (!rec)
                continue;
            if (!buffered) {
                pv_pair_output_put(out, rec);
            } else {
                if (n_texts == cap) {
                    cap = cap ? 2 * cap : 1024;
                    texts = realloc(texts, cap * sizeof *texts);
                    if (!texts)
                        pv_die(PV_EXIT_SYSTEM, "out of memory");
                }
                texts[n_texts++] = pv_pair_print(rec);
            }
            cJSON_Delete(rec);
        }
        pv_pair_input_close(in);
    }
    pv_progress_finish(&progress);

    if (s.shuffle)
        pv_shuffle((void **)texts, n_texts, s.seed);
    size_t n_val = s.split ? (size_t)llround(s.val_fraction * (double)n_texts) : 0;
    if (s.split) {
        /* Both files are complete before either is renamed into place. */
        pv_pair_output *train = pv_pair_output_open(s.train, s.array);
        pv_pair_output *val = pv_pair_output_open(s.val, s.array);
        put_all(train, texts, n_texts - n_val);
        put_all(val, texts + (n_texts - n_val), n_val);
        pv_pair_output_close(train);
        pv_pair_output_close(val);
    } else if (buffered) {
        out = pv_pair_output_open(s.output ? s.output : "-", s.array);
        put_all(out, texts, n_texts);
        pv_pair_output_close(out);
    } else {
        pv_pair_output_close(out);
    }
    pv_pair_summary(&p);
    if (s.split)
        pv_info("%zu to %s, %zu to %s", n_texts - n_val, s.train, n_val, s.val);
    free(texts);
    free(s.inputs);
    pv_pair_free(&p);
    return pv_final_status();
}
