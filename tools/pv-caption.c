/* pv-caption: runs LLaVA on each record's image and prompt and writes the response;
 * or answers POPE questions (--pope); or scores a field as the response (--score). */
#include <cjson/cJSON.h>
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "caption_cuda.h"
#include "cli.h"
#include "clip_preprocess.h"
#include "diag.h"
#include "generate.h"
#include "llava_config.h"
#include "llava_forward.h"
#include "llava_model.h"
#include "omp_env.h"
#include "ops.h"
#include "paths.h"
#include "progress.h"
#include "records.h"
#include "tokenizer.h"
#include "train_io.h"

static const char usage[] =
    "Usage: pv-caption --model DIR [OPTION]... [FILE]...\n"
    "Runs a LLaVA-1.5 model on each record's image and prompt and writes its response.\n"
    "Records come from the FILEs (or standard input) and go to standard output.\n"
    "\n"
    "  -m, --model DIR          model folder (config.json, *.safetensors, tokenizer.json)\n"
    "      --adapter DIR        PEFT LoRA adapter to apply\n"
    "      --template NAME      llava_v1 (default, POVID's) or llava_hf\n"
    "      --prompt TEXT        instruction (default: the record's \"prompt\", else\n"
    "                           \"Describe this image in detail.\")\n"
    "      --max-new-tokens N   at most N generated tokens (512)\n"
    "      --temperature T      0 (default) is greedy; > 0 samples\n"
    "      --top-p P            nucleus sampling threshold (1)\n"
    "      --seed N             sampling seed (0)\n"
    "      --field NAME         output field (caption; answer with --pope)\n"
    "      --tokens             also write FIELD_tokens, the generated ids\n"
    "      --image-root DIR     where relative image paths resolve (.)\n"
    "      --image-aspect MODE  pad (default, LLaVA/POVID), resize, or crop\n"
    "      --pope               answer the yes/no question in \"text\" (or \"question\")\n"
    "      --score FIELD        write FIELD_logp and FIELD_tokens: the log-probability of\n"
    "                           the record's FIELD as the response, instead of generating\n"
    "      --describe           print the resolved configuration as JSON and exit\n"
    "      --device NAME        cpu (default) or cuda\n"
    "      --dtype TYPE         with cuda: weights as bf16 (default), fp16 or fp32\n"
    "      --batch N            with cuda: records generated at once (16)\n"
    "  -j, --threads N          compute threads\n"
    "      --timings            print a JSON line of timings on standard error at the end\n"
    "  -o, --output FILE        write records to FILE (atomically) instead of stdout\n"
    "  -q, --quiet              no progress or summary\n"
    "      --keep-going         skip bad records (exit status still 1)\n"
    "  -h, --help               this help\n"
    "      --version            version\n";

enum {
    OPT_MODEL, OPT_ADAPTER, OPT_TEMPLATE, OPT_PROMPT, OPT_MAX_NEW, OPT_TEMPERATURE, OPT_TOP_P,
    OPT_SEED, OPT_FIELD, OPT_TOKENS, OPT_IMAGE_ROOT, OPT_ASPECT, OPT_POPE, OPT_SCORE,
    OPT_DESCRIBE, OPT_DEVICE, OPT_THREADS, OPT_TIMINGS, OPT_OUTPUT, OPT_DTYPE, OPT_BATCH,
};

static const pv_option options[] = {
    {"model", 'm', PV_ARG_REQUIRED, OPT_MODEL},
    {"adapter", 0, PV_ARG_REQUIRED, OPT_ADAPTER},
    {"template", 0, PV_ARG_REQUIRED, OPT_TEMPLATE},
    {"prompt", 0, PV_ARG_REQUIRED, OPT_PROMPT},
    {"max-new-tokens", 0, PV_ARG_REQUIRED, OPT_MAX_NEW},
    {"temperature", 0, PV_ARG_REQUIRED, OPT_TEMPERATURE},
    {"top-p", 0, PV_ARG_REQUIRED, OPT_TOP_P},
    {"seed", 0, PV_ARG_REQUIRED, OPT_SEED},
    {"field", 0, PV_ARG_REQUIRED, OPT_FIELD},
    {"tokens", 0, PV_ARG_NONE, OPT_TOKENS},
    {"image-root", 0, PV_ARG_REQUIRED, OPT_IMAGE_ROOT},
    {"image-aspect", 0, PV_ARG_REQUIRED, OPT_ASPECT},
    {"pope", 0, PV_ARG_NONE, OPT_POPE},
    {"score", 0, PV_ARG_REQUIRED, OPT_SCORE},
    {"describe", 0, PV_ARG_NONE, OPT_DESCRIBE},
    {"device", 0, PV_ARG_REQUIRED, OPT_DEVICE},
    {"threads", 'j', PV_ARG_REQUIRED, OPT_THREADS},
    {"timings", 0, PV_ARG_NONE, OPT_TIMINGS},
    {"output", 'o', PV_ARG_REQUIRED, OPT_OUTPUT},
    {"dtype", 0, PV_ARG_REQUIRED, OPT_DTYPE},
    {"batch", 0, PV_ARG_REQUIRED, OPT_BATCH},
    {0},
};

#define DEFAULT_PROMPT "Describe this image in detail."
/* LLaVA's POPE evaluation appends this sentence to the question, after a newline. */
#define POPE_SUFFIX "Answer the question using a single word or phrase."

typedef struct settings {
    const char *model_dir, *adapter_dir, *prompt, *field, *image_root, *score_field, *output;
    const char *dtype; /* --device cuda only; NULL: the GPU path's default */
    enum pv_template template;
    enum pv_image_aspect aspect;
    int max_new_tokens, threads, batch;
    float temperature, top_p;
    uint64_t seed;
    bool pope, describe, tokens, timings, field_given, cuda, batch_given;
} settings;

/* What the run measured, for the summary and --timings. */
typedef struct timings {
    long records, prefill_tokens, decode_tokens;
    double image_s, prefill_s, decode_s, score_s;
    long score_tokens;
    double generate_s; /* --device cuda: prefill and decoding together, batched */
} timings;

/* Everything loaded once and reused for every record. */
typedef struct captioner {
    const settings *set;
    pv_llava_model model;
    pv_tokenizer *tok;
    int image_size, n_image_tokens, hidden, vocab, context;
    int32_t image_token, eos;
    float *pixels, *features, *logits;
    void *sample_scratch;
    pv_lm_session *session;
    int session_capacity;
    int32_t *generated;
    int max_generated; /* capacity of each generation buffer */
    timings t;
    pv_progress progress;
    /* --device cuda: records wait in a batch (in input order) until it is full. */
    pv_caption_gpu *gpu;
    int batch, queued;
    cJSON **queue;
    int32_t **queue_ids, **queue_out;
    int *queue_n_ids, *queue_n_out;
    float *batch_pixels, *batch_features;
} captioner;

static settings parse_options(int argc, char **argv, const char ***inputs, int *n_inputs)
{
    settings s = {.template = PV_TEMPLATE_LLAVA_V1, .aspect = PV_ASPECT_PAD,
                  .max_new_tokens = 512, .top_p = 1.0f, .field = "caption", .image_root = "."};
    *inputs = calloc((size_t)argc, sizeof **inputs);
    *n_inputs = 0;
    static const char *const templates[] = {"llava_v1", "llava_hf", NULL};
    static const char *const devices[] = {"cpu", "cuda", NULL};
    pv_cli cli = pv_cli_start(argc, argv, options, usage);
    const char *val;
    int id;
    while ((id = pv_cli_next(&cli, &val)) != PV_CLI_END) {
        switch (id) {
        case OPT_MODEL: s.model_dir = val; break;
        case OPT_ADAPTER: s.adapter_dir = val; break;
        case OPT_TEMPLATE:
            s.template = pv_parse_choice("--template", val, templates) == 0 ? PV_TEMPLATE_LLAVA_V1
                                                                            : PV_TEMPLATE_LLAVA_HF;
            break;
        case OPT_PROMPT: s.prompt = val; break;
        case OPT_MAX_NEW: s.max_new_tokens = (int)pv_parse_int("--max-new-tokens", val, 1, INT_MAX); break;
        case OPT_TEMPERATURE: s.temperature = (float)pv_parse_double("--temperature", val, 0, 100); break;
        case OPT_TOP_P: s.top_p = (float)pv_parse_double("--top-p", val, 0, 1); break;
        case OPT_SEED: s.seed = pv_parse_u64("--seed", val); break;
        case OPT_FIELD: s.field = val; s.field_given = true; break;
        case OPT_TOKENS: s.tokens = true; break;
        case OPT_IMAGE_ROOT: s.image_root = val; break;
        case OPT_ASPECT:
            s.aspect = (enum pv_image_aspect)pv_parse_choice("--image-aspect", val, pv_image_aspect_names);
            break;
        case OPT_POPE: s.pope = true; break;
        case OPT_SCORE: s.score_field = val; break;
        case OPT_DESCRIBE: s.describe = true; break;
        case OPT_DEVICE: s.cuda = pv_parse_choice("--device", val, devices) == 1; break;
        case OPT_DTYPE: s.dtype = val; break;
        case OPT_BATCH:
            s.batch = (int)pv_parse_int("--batch", val, 1, 4096);
            s.batch_given = true;
            break;
        case OPT_THREADS: s.threads = (int)pv_parse_int("--threads", val, 1, 1024); break;
        case OPT_TIMINGS: s.timings = true; break;
        case OPT_OUTPUT: s.output = val; break;
        case PV_CLI_POSITIONAL: (*inputs)[(*n_inputs)++] = val; break;
        }
    }
    if (!s.model_dir)
        pv_usage_error("--model DIR is required");
    if (s.pope && s.score_field)
        pv_usage_error("--pope and --score are different modes; give one");
    if (s.top_p <= 0)
        pv_usage_error("--top-p must be above 0");
    if (s.pope && !s.field_given)
        s.field = "answer";
    if (s.score_field && !*s.score_field)
        pv_usage_error("--score needs a field name");
    if (!s.cuda && (s.dtype || s.batch_given))
        pv_usage_error("--dtype and --batch apply to --device cuda");
    if (s.cuda && s.score_field)
        pv_usage_error("--score runs on --device cpu only");
    if (!s.batch_given)
        s.batch = 16;
    return s;
}

/* --describe: the configuration as transformers resolves it, and the parameter count. */
static int describe(const settings *s)
{
    char err[512];
    char *path = pv_path_join(s->model_dir, "config.json");
    pv_llava_config cfg;
    if (pv_llava_config_load(path, &cfg, err, sizeof err) != 0)
        pv_die(PV_EXIT_SYSTEM, "%s", err); /* err names the file */
    cJSON *out = pv_llava_config_to_json(&cfg);
    if (!out)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    /* The count and the image tokens, unless the configuration's JSON carries them. */
    if (!cJSON_GetObjectItemCaseSensitive(out, "num_parameters"))
        cJSON_AddNumberToObject(out, "num_parameters", (double)pv_llava_config_param_count(&cfg));
    if (!cJSON_GetObjectItemCaseSensitive(out, "image_tokens"))
        cJSON_AddNumberToObject(out, "image_tokens", pv_llava_config_image_tokens(&cfg));
    char *text = cJSON_Print(out);
    if (!text)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    puts(text);
    free(text);
    cJSON_Delete(out);
    free(path);
    return pv_final_status();
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return p;
}

static void captioner_open(captioner *c, const settings *s)
{
    char err[1024];
    memset(c, 0, sizeof *c);
    c->set = s;
    const pv_llava_config *cfg;
    if (s->cuda) {
        c->gpu = pv_caption_gpu_open(s->model_dir, s->adapter_dir, s->dtype, s->batch, err,
                                     sizeof err);
        if (!c->gpu)
            pv_die(PV_EXIT_SYSTEM, "--device cuda: %s", err);
        cfg = pv_caption_gpu_config(c->gpu);
        c->n_image_tokens = pv_llava_config_image_tokens(cfg);
    } else {
        if (pv_llava_load(s->model_dir, &c->model, err, sizeof err) != 0)
            pv_die(PV_EXIT_SYSTEM, "%s", err); /* err names the file */
        if (s->adapter_dir && pv_load_adapter_dir(&c->model, s->adapter_dir, err, sizeof err) != 0)
            pv_die(PV_EXIT_SYSTEM, "%s", err);
        cfg = &c->model.cfg;
        c->n_image_tokens = pv_llava_n_image_features(&c->model);
        const char *hint = pv_op_blas_hint();
        if (hint)
            pv_info("note: %s", hint);
    }
    char *tok_path = pv_path_join(s->model_dir, "tokenizer.json");
    c->tok = pv_tokenizer_load(tok_path, err, sizeof err);
    if (!c->tok)
        pv_die(PV_EXIT_SYSTEM, "%s: %s", tok_path, err);
    free(tok_path);
    c->image_size = cfg->vision.image_size;
    c->image_token = cfg->image_token_index;
    c->eos = cfg->text.eos_token_id;
    c->hidden = cfg->text.hidden_size;
    c->vocab = cfg->text.vocab_size;
    c->context = cfg->text.max_position_embeddings;
    c->pixels = xmalloc(sizeof(float) * 3 * (size_t)c->image_size * c->image_size);
    c->features = xmalloc(sizeof(float) * (size_t)c->n_image_tokens * c->hidden);
    c->logits = xmalloc(sizeof(float) * (size_t)c->vocab);
    c->sample_scratch = xmalloc(pv_sample_scratch_size(c->vocab));
    /* No generation outlives the context (generate() clips to it). */
    c->max_generated = s->max_new_tokens < c->context + 1 ? s->max_new_tokens : c->context + 1;
    c->generated = xmalloc(sizeof(int32_t) * (size_t)c->max_generated);
    if (c->gpu) {
        int b = c->batch = pv_caption_gpu_batch(c->gpu);
        c->queue = xmalloc(sizeof *c->queue * (size_t)b);
        c->queue_ids = xmalloc(sizeof *c->queue_ids * (size_t)b);
        c->queue_out = xmalloc(sizeof *c->queue_out * (size_t)b);
        c->queue_n_ids = xmalloc(sizeof *c->queue_n_ids * (size_t)b);
        c->queue_n_out = xmalloc(sizeof *c->queue_n_out * (size_t)b);
        for (int i = 0; i < b; i++)
            c->queue_out[i] = xmalloc(sizeof(int32_t) * (size_t)c->max_generated);
        c->batch_pixels = xmalloc(sizeof(float) * 3 * (size_t)c->image_size * c->image_size * b);
        c->batch_features = xmalloc(sizeof(float) * (size_t)c->n_image_tokens * c->hidden * b);
    }
}

static void captioner_close(captioner *c)
{
    pv_lm_session_free(c->session);
    pv_tokenizer_free(c->tok);
    if (c->gpu) {
        pv_caption_gpu_close(c->gpu);
        for (int i = 0; i < c->batch; i++)
            free(c->queue_out[i]);
        free(c->queue);
        free(c->queue_ids);
        free(c->queue_out);
        free(c->queue_n_ids);
        free(c->queue_n_out);
        free(c->batch_pixels);
        free(c->batch_features);
    } else {
        pv_llava_free(&c->model);
    }
    free(c->pixels);
    free(c->features);
    free(c->logits);
    free(c->sample_scratch);
    free(c->generated);
}

/* The record's image through CLIP and the projector into c->features. */
/* The record's image, CLIP-preprocessed into pixels. false after a bad record. */
static bool load_image(captioner *c, const pv_reader *r, const cJSON *rec, float *pixels)
{
    const char *image = pv_rec_string(r, rec, "image", true);
    if (!image)
        return false;
    char *path = pv_path_resolve(c->set->image_root, image);
    char err[512];
    double t0 = pv_now();
    bool ok = pv_clip_preprocess_file(path, c->image_size, c->set->aspect, pixels, err,
                                      sizeof err) == 0;
    c->t.image_s += pv_now() - t0;
    if (!ok)
        pv_bad_record(pv_reader_name(r), pv_reader_line(r), "%s: %s", path, err);
    free(path);
    return ok;
}

/* The record's image through CLIP and the projector into c->features (CPU). */
static bool encode_image(captioner *c, const pv_reader *r, const cJSON *rec)
{
    if (!load_image(c, r, rec, c->pixels))
        return false;
    double t0 = pv_now();
    if (pv_llava_image_features(&c->model, c->pixels, c->features) != 0)
        pv_die(PV_EXIT_SYSTEM, "out of memory running the vision tower");
    c->t.image_s += pv_now() - t0;
    return true;
}

/* The instruction: --pope builds it from the question, else --prompt, else the record's
 * "prompt", else the default. NULL after reporting a bad record. Malloc'd. */
static char *record_prompt(const captioner *c, const pv_reader *r, const cJSON *rec)
{
    const settings *s = c->set;
    if (s->pope) {
        const char *field = cJSON_GetObjectItemCaseSensitive(rec, "text") ? "text" : "question";
        const char *q = pv_rec_string(r, rec, field, true);
        if (!q)
            return NULL;
        /* LLaVA's own POPE question files already end with the sentence. */
        size_t lq = strlen(q), ls = strlen(POPE_SUFFIX);
        bool has = lq >= ls && strcmp(q + lq - ls, POPE_SUFFIX) == 0;
        size_t n = lq + ls + 2;
        char *p = xmalloc(n);
        snprintf(p, n, has ? "%s" : "%s\n%s", q, POPE_SUFFIX);
        return p;
    }
    const char *p = s->prompt;
    if (!p) {
        p = pv_rec_string(r, rec, "prompt", false);
        if (!p && cJSON_GetObjectItemCaseSensitive(rec, "prompt") &&
            !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(rec, "prompt")))
            return NULL; /* present but not a string: reported */
    }
    char *copy = strdup(p ? p : DEFAULT_PROMPT);
    if (!copy)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return copy;
}

/* A session whose cache holds at least `need` positions (grown, never shrunk). */
static pv_lm_session *session_for(captioner *c, int need)
{
    if (c->session && c->session_capacity >= need) {
        pv_lm_session_reset(c->session);
        return c->session;
    }
    pv_lm_session_free(c->session);
    c->session = pv_lm_session_new(&c->model, need, true);
    if (!c->session)
        pv_die(PV_EXIT_SYSTEM, "out of memory for a %d-token cache", need);
    c->session_capacity = need;
    return c->session;
}

static cJSON *ids_array(const int32_t *ids, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n && a; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    if (!a)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return a;
}

/* Removes leading and trailing white space in place, as LLaVA's evaluation does. */
static char *strip(char *s)
{
    char *e = s + strlen(s);
    while (e > s && strchr(" \t\r\n", e[-1]))
        *--e = '\0';
    while (*s && strchr(" \t\r\n", *s))
        s++;
    return s;
}

/* Prefill, then one token at a time until </s> or the limit. Returns the count. */
static int generate(captioner *c, const int32_t *prompt, int n_prompt, const pv_reader *r)
{
    const settings *s = c->set;
    /* The last token is never fed back, so a full context still yields one more. */
    int room = c->context - n_prompt + 1;
    int max_new = s->max_new_tokens < room ? s->max_new_tokens : room;
    pv_lm_session *sess = session_for(c, n_prompt + max_new - 1);
    double t0 = pv_now();
    if (pv_lm_prefill(sess, prompt, n_prompt, c->features, c->logits) != 0)
        pv_die(PV_EXIT_SYSTEM, "%s:%ld: %s", pv_reader_name(r), pv_reader_line(r),
               pv_lm_session_error(sess));
    double t1 = pv_now();
    c->t.prefill_s += t1 - t0;
    c->t.prefill_tokens += n_prompt;
    int n = 0;
    while (n < max_new) {
        double u = s->temperature > 0 ? pv_gen_uniform(s->seed, (uint64_t)n) : 0.0;
        int32_t next = pv_sample(c->logits, c->vocab, s->temperature, s->top_p, u,
                                 c->sample_scratch);
        if (next == c->eos)
            break;
        c->generated[n++] = next;
        pv_progress_add(&c->progress, 1);
        if (n == max_new)
            break;
        if (pv_lm_decode(sess, next, c->logits) != 0)
            pv_die(PV_EXIT_SYSTEM, "%s:%ld: %s", pv_reader_name(r), pv_reader_line(r),
                   pv_lm_session_error(sess));
    }
    c->t.decode_s += pv_now() - t1;
    c->t.decode_tokens += n;
    return n;
}

/* Captions (or answers) one record. false after a bad record. */
/* The response's fields: FIELD (decoded, stripped) and, with --tokens, FIELD_tokens. */
static void set_response(const captioner *c, cJSON *rec, const int32_t *ids, int k)
{
    const settings *s = c->set;
    char *text = pv_tokenizer_decode(c->tok, ids, (size_t)k, true);
    if (!text)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    pv_rec_set_string(rec, s->field, strip(text));
    free(text);
    if (s->tokens) {
        char name[256];
        snprintf(name, sizeof name, "%s_tokens", s->field);
        pv_rec_set(rec, name, ids_array(ids, k));
    }
}

enum record_result { RECORD_BAD, RECORD_DONE, RECORD_QUEUED };

/* --device cuda: generates for the queued records at once, fills in and writes them,
 * in input order. */
static void gpu_flush(captioner *c, pv_writer *w)
{
    int n = c->queued;
    if (n == 0)
        return;
    char err[512];
    size_t feat_size = (size_t)c->n_image_tokens * c->hidden;
    const float **feats = xmalloc(sizeof *feats * (size_t)n);
    int longest = 0;
    for (int i = 0; i < n; i++) {
        feats[i] = c->batch_features + (size_t)i * feat_size;
        longest = c->queue_n_ids[i] > longest ? c->queue_n_ids[i] : longest;
    }
    double t0 = pv_now();
    if (pv_caption_gpu_features(c->gpu, c->batch_pixels, n, c->batch_features, err, sizeof err) != 0)
        pv_die(PV_EXIT_SYSTEM, "--device cuda: %s", err);
    double t1 = pv_now();
    /* As on the CPU, no sequence outgrows the context: the last token is not fed back. */
    int room = c->context - longest + 1;
    pv_gen_params p = {
        .max_new_tokens = c->max_generated < room ? c->max_generated : room,
        .temperature = c->set->temperature,
        .top_p = c->set->top_p,
        .seed = c->set->seed,
        .eos = c->eos,
        .adapters_off = false,
    };
    if (pv_caption_gpu_generate(c->gpu, n, (const int32_t *const *)c->queue_ids, c->queue_n_ids,
                                feats, &p, c->queue_out, c->queue_n_out, err, sizeof err) != 0)
        pv_die(PV_EXIT_SYSTEM, "--device cuda: %s", err);
    c->t.image_s += t1 - t0;
    c->t.generate_s += pv_now() - t1;
    for (int i = 0; i < n; i++) {
        set_response(c, c->queue[i], c->queue_out[i], c->queue_n_out[i]);
        pv_writer_put(w, c->queue[i]);
        c->t.records++;
        c->t.prefill_tokens += c->queue_n_ids[i];
        c->t.decode_tokens += c->queue_n_out[i];
        pv_progress_add(&c->progress, c->queue_n_out[i]);
        cJSON_Delete(c->queue[i]);
        free(c->queue_ids[i]);
    }
    free(feats);
    c->queued = 0;
}

/* Captions (or answers) one record; with --device cuda, queues it for gpu_flush. */
static enum record_result caption_record(captioner *c, const pv_reader *r, cJSON *rec)
{
    const settings *s = c->set;
    char *prompt = record_prompt(c, r, rec);
    if (!prompt)
        return RECORD_BAD;
    int32_t *ids = NULL;
    long n = pv_chat_prompt_ids(c->tok, s->template, prompt, c->image_token,
                                c->n_image_tokens, &ids);
    enum record_result result = RECORD_BAD;
    size_t plane = 3 * (size_t)c->image_size * c->image_size;
    if (n < 0)
        pv_bad_record(pv_reader_name(r), pv_reader_line(r),
                      "cannot build the prompt (does it contain \"<image>\"?)");
    else if (n >= c->context)
        pv_bad_record(pv_reader_name(r), pv_reader_line(r),
                      "the prompt is %ld tokens, longer than the model's context of %d",
                      n, c->context);
    else if (c->gpu) {
        if (load_image(c, r, rec, c->batch_pixels + (size_t)c->queued * plane)) {
            c->queue[c->queued] = rec;
            c->queue_ids[c->queued] = ids;
            c->queue_n_ids[c->queued] = (int)n;
            c->queued++;
            ids = NULL; /* the queue owns it now */
            result = RECORD_QUEUED;
        }
    } else if (encode_image(c, r, rec)) {
        int k = generate(c, ids, (int)n, r);
        set_response(c, rec, c->generated, k);
        result = RECORD_DONE;
    }
    free(ids);
    free(prompt);
    return result;
}

/* --score FIELD: log p(FIELD + </s> | prompt, image), summed over the response. */
static bool score_record(captioner *c, const pv_reader *r, cJSON *rec)
{
    const settings *s = c->set;
    const char *response = pv_rec_string(r, rec, s->score_field, true);
    if (!response)
        return false;
    char *prompt = record_prompt(c, r, rec);
    if (!prompt)
        return false;
    int32_t *ids = NULL;
    long start = 0;
    long n = pv_chat_sequence_ids(c->tok, s->template, prompt, response,
                                  c->image_token, c->n_image_tokens, &ids, &start);
    bool ok = false;
    char err[512];
    if (n < 0)
        pv_bad_record(pv_reader_name(r), pv_reader_line(r),
                      "cannot build the sequence (does the prompt contain \"<image>\"?)");
    else if (n > c->context)
        pv_bad_record(pv_reader_name(r), pv_reader_line(r),
                      "prompt and \"%s\" are %ld tokens, more than the model's context of %d",
                      s->score_field,
                      n, c->context);
    else if (encode_image(c, r, rec)) {
        double t0 = pv_now();
        double logp = pv_llava_sequence_logp_err(&c->model, ids, (int)n, c->features, (int)start,
                                                 true, NULL, err, sizeof err);
        if (isnan(logp))
            pv_die(PV_EXIT_SYSTEM, "%s:%ld: %s", pv_reader_name(r), pv_reader_line(r), err);
        c->t.score_s += pv_now() - t0;
        c->t.score_tokens += n;
        pv_progress_add(&c->progress, n);
        char name[256];
        snprintf(name, sizeof name, "%s_logp", s->score_field);
        pv_rec_set_number(rec, name, logp);
        snprintf(name, sizeof name, "%s_tokens", s->score_field);
        pv_rec_set(rec, name, ids_array(ids + start, (int)(n - start)));
        ok = true;
    }
    free(ids);
    free(prompt);
    return ok;
}

static double rate(long n, double s)
{
    return s > 0 ? n / s : 0;
}

static void report(const captioner *c)
{
    const timings *t = &c->t;
    if (!pv_quiet) {
        if (c->gpu)
            pv_info("%ld record%s, %ld tokens generated at %.1f tokens/s (batches of %d, "
                    "prefill included)",
                    t->records, t->records == 1 ? "" : "s", t->decode_tokens,
                    rate(t->decode_tokens, t->generate_s), c->batch);
        else if (c->set->score_field)
            pv_info("%ld record%s scored, %ld tokens at %.1f tokens/s", t->records,
                    t->records == 1 ? "" : "s", t->score_tokens, rate(t->score_tokens, t->score_s));
        else
            pv_info("%ld record%s, prefill %.1f tokens/s, decode %.1f tokens/s (%ld tokens)",
                    t->records, t->records == 1 ? "" : "s", rate(t->prefill_tokens, t->prefill_s),
                    rate(t->decode_tokens, t->decode_s), t->decode_tokens);
    }
    if (c->set->timings)
        fprintf(stderr,
                "{\"records\":%ld,\"image_s\":%.6f,\"prefill_tokens\":%ld,\"prefill_s\":%.6f,"
                "\"decode_tokens\":%ld,\"decode_s\":%.6f,\"score_tokens\":%ld,\"score_s\":%.6f,"
                "\"generate_s\":%.6f}\n",
                t->records, t->image_s, t->prefill_tokens, t->prefill_s, t->decode_tokens,
                t->decode_s, t->score_tokens, t->score_s, t->generate_s);
}

int main(int argc, char **argv)
{
    pv_omp_passive_wait(argv);
    pv_init(argv[0]);
    const char **inputs;
    int n_inputs;
    settings s = parse_options(argc, argv, &inputs, &n_inputs);
    if (s.describe) {
        free(inputs);
        return describe(&s);
    }
    if (s.threads > 0) {
        omp_set_num_threads(s.threads);
        openblas_set_num_threads(s.threads);
    }
    captioner c;
    captioner_open(&c, &s);
    pv_writer *w = pv_writer_open(s.output ? s.output : "-");
    if (!w)
        pv_exit(PV_EXIT_SYSTEM);
    pv_inputs in;
    pv_inputs_init(&in, inputs, n_inputs);
    pv_progress_start(&c.progress, "tokens", 0);
    cJSON *rec;
    pv_reader *from;
    int got;
    while ((got = pv_inputs_next(&in, &rec, &from)) != 0) {
        if (got < 0)
            continue;
        enum record_result res = s.score_field ? (score_record(&c, from, rec) ? RECORD_DONE : RECORD_BAD)
                                               : caption_record(&c, from, rec);
        if (res == RECORD_DONE) {
            pv_writer_put(w, rec);
            c.t.records++;
        }
        if (res != RECORD_QUEUED)
            cJSON_Delete(rec);
        if (c.gpu && c.queued == c.batch)
            gpu_flush(&c, w);
    }
    if (c.gpu)
        gpu_flush(&c, w);
    pv_progress_finish(&c.progress);
    pv_inputs_close(&in);
    pv_writer_close(w);
    report(&c);
    captioner_close(&c);
    free(inputs);
    return pv_final_status();
}
