/* pv-dpo: trains a LLaVA model on preference pairs: DPO (sigmoid, hinge, IPO),
 * POVID stage 2 (hallucinated + noise-own terms), SFT; LoRA or full fine-tuning;
 * checkpoints and --resume; --eval; --save-grads. One JSON line of metrics per
 * optimiser step on stdout, with TRL's names. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat_template.h"
#include "cli.h"
#include "clip.h"
#include "diag.h"
#include "dpo_data.h"
#include "dpo_pair.h"
#include "llava_model.h"
#include "noise.h"
#include "omp_env.h"
#include "ops.h"
#include "optim.h"
#include "paths.h"
#include "progress.h"
#include "records.h"
#include "tokenizer.h"
#include "train_io.h"
#include "trainer.h"

static const char usage[] =
    "Usage: pv-dpo --model DIR --output DIR [OPTION]... [FILE]...\n"
    "Trains a LLaVA-1.5 model on preference pairs (records with id, image, prompt,\n"
    "chosen, rejected) from the FILEs or standard input. Metrics go to standard output,\n"
    "one JSON object per optimiser step.\n"
    "\n"
    "Model and data:\n"
    "  -m, --model DIR          base model folder (llava-hf layout)\n"
    "      --adapter DIR        start from this PEFT LoRA adapter (and its projector)\n"
    "  -o, --output DIR         adapter folder (LoRA) or model folder (full) to write\n"
    "      --merge              LoRA: also write the merged full model to OUTPUT/merged\n"
    "      --image-root DIR     where relative image paths resolve (.)\n"
    "      --image-aspect MODE  pad (default), resize or crop\n"
    "      --template NAME      llava_v1 (default) or llava_hf\n"
    "      --prompt TEXT        prompt of records without one\n"
    "                           (\"Describe this image in detail.\")\n"
    "      --max-length N       tokens per sequence, image included (1024)\n"
    "\n"
    "Objective:\n"
    "      --loss NAME          sigmoid (DPO, default), hinge, ipo, or sft\n"
    "      --beta B             DPO temperature (0.1)\n"
    "      --stage 1|2          1: DPO(chosen, rejected); 2: POVID, adds the noise-own term (1)\n"
    "      --noise-weight W     stage 2: (1-W) DPO(chosen, rejected) + W DPO(chosen, noise) (0.5)\n"
    "      --noise-step T       diffusion step of on-the-fly noise (500)\n"
    "      --sft-weight W       add W x NLL(chosen) to the DPO loss (0)\n"
    "\n"
    "Parameters:\n"
    "      --lora-r R           LoRA rank (128); 0 trains the language model in full\n"
    "      --lora-alpha A       LoRA alpha (2r)\n"
    "      --lora-dropout P     LoRA dropout (0.05)\n"
    "      --lora-targets LIST  q,k,v,o,gate,up,down (all)\n"
    "\n"
    "Optimisation:\n"
    "      --lr LR              learning rate of the language model (1e-6)\n"
    "      --projector-lr LR    learning rate of the projector (2e-5)\n"
    "      --weight-decay WD    AdamW weight decay (0)\n"
    "      --max-grad-norm N    gradient clipping, 0 for none (1.0)\n"
    "      --schedule NAME      cosine (default), linear or constant, after warmup\n"
    "      --warmup-ratio R     fraction of steps of linear warmup (0.03)\n"
    "      --batch N            pairs per micro-batch (1)\n"
    "      --grad-accum N       micro-batches per optimiser step (1)\n"
    "      --epochs N           passes over the pairs (1)\n"
    "      --max-steps N        stop after N optimiser steps of this run (the schedule\n"
    "                           still spans all epochs)\n"
    "      --seed N             shuffling, LoRA initialisation, dropout, noise (0)\n"
    "\n"
    "Runs:\n"
    "      --save-every N       checkpoint to OUTPUT/checkpoint-STEP every N steps (0: none)\n"
    "      --resume DIR         continue from a checkpoint folder\n"
    "      --eval               no training: one record per pair with log-probs, rewards,\n"
    "                           margins and losses\n"
    "      --save-grads FILE    write the gradients of the first step (safetensors), exit\n"
    "  -j, --threads N          compute threads\n"
    "  -q, --quiet              no progress or summary\n"
    "      --keep-going         skip bad records (exit status still 1)\n"
    "  -h, --help               this help\n"
    "      --version            version\n";

enum {
    OPT_MODEL, OPT_ADAPTER, OPT_OUTPUT, OPT_MERGE, OPT_IMAGE_ROOT, OPT_ASPECT, OPT_TEMPLATE,
    OPT_PROMPT, OPT_MAX_LENGTH, OPT_LOSS, OPT_BETA, OPT_STAGE, OPT_NOISE_WEIGHT, OPT_NOISE_STEP,
    OPT_SFT_WEIGHT, OPT_LORA_R, OPT_LORA_ALPHA, OPT_LORA_DROPOUT, OPT_LORA_TARGETS, OPT_LR,
    OPT_PROJ_LR, OPT_WD, OPT_MAX_GRAD_NORM, OPT_SCHEDULE, OPT_WARMUP, OPT_BATCH, OPT_ACCUM,
    OPT_EPOCHS, OPT_MAX_STEPS, OPT_SEED, OPT_SAVE_EVERY, OPT_RESUME, OPT_EVAL, OPT_SAVE_GRADS,
    OPT_THREADS,
};

static const pv_option options[] = {
    {"model", 'm', PV_ARG_REQUIRED, OPT_MODEL},
    {"adapter", 0, PV_ARG_REQUIRED, OPT_ADAPTER},
    {"output", 'o', PV_ARG_REQUIRED, OPT_OUTPUT},
    {"merge", 0, PV_ARG_NONE, OPT_MERGE},
    {"image-root", 0, PV_ARG_REQUIRED, OPT_IMAGE_ROOT},
    {"image-aspect", 0, PV_ARG_REQUIRED, OPT_ASPECT},
    {"template", 0, PV_ARG_REQUIRED, OPT_TEMPLATE},
    {"prompt", 0, PV_ARG_REQUIRED, OPT_PROMPT},
    {"max-length", 0, PV_ARG_REQUIRED, OPT_MAX_LENGTH},
    {"loss", 0, PV_ARG_REQUIRED, OPT_LOSS},
    {"beta", 0, PV_ARG_REQUIRED, OPT_BETA},
    {"stage", 0, PV_ARG_REQUIRED, OPT_STAGE},
    {"noise-weight", 0, PV_ARG_REQUIRED, OPT_NOISE_WEIGHT},
    {"noise-step", 0, PV_ARG_REQUIRED, OPT_NOISE_STEP},
    {"sft-weight", 0, PV_ARG_REQUIRED, OPT_SFT_WEIGHT},
    {"lora-r", 0, PV_ARG_REQUIRED, OPT_LORA_R},
    {"lora-alpha", 0, PV_ARG_REQUIRED, OPT_LORA_ALPHA},
    {"lora-dropout", 0, PV_ARG_REQUIRED, OPT_LORA_DROPOUT},
    {"lora-targets", 0, PV_ARG_REQUIRED, OPT_LORA_TARGETS},
    {"lr", 0, PV_ARG_REQUIRED, OPT_LR},
    {"projector-lr", 0, PV_ARG_REQUIRED, OPT_PROJ_LR},
    {"weight-decay", 0, PV_ARG_REQUIRED, OPT_WD},
    {"max-grad-norm", 0, PV_ARG_REQUIRED, OPT_MAX_GRAD_NORM},
    {"schedule", 0, PV_ARG_REQUIRED, OPT_SCHEDULE},
    {"warmup-ratio", 0, PV_ARG_REQUIRED, OPT_WARMUP},
    {"batch", 0, PV_ARG_REQUIRED, OPT_BATCH},
    {"grad-accum", 0, PV_ARG_REQUIRED, OPT_ACCUM},
    {"epochs", 0, PV_ARG_REQUIRED, OPT_EPOCHS},
    {"max-steps", 0, PV_ARG_REQUIRED, OPT_MAX_STEPS},
    {"seed", 0, PV_ARG_REQUIRED, OPT_SEED},
    {"save-every", 0, PV_ARG_REQUIRED, OPT_SAVE_EVERY},
    {"resume", 0, PV_ARG_REQUIRED, OPT_RESUME},
    {"eval", 0, PV_ARG_NONE, OPT_EVAL},
    {"save-grads", 0, PV_ARG_REQUIRED, OPT_SAVE_GRADS},
    {"threads", 'j', PV_ARG_REQUIRED, OPT_THREADS},
    {0},
};

typedef struct settings {
    const char *model_dir, *adapter_dir, *output, *image_root, *prompt, *resume, *save_grads;
    const char **inputs;
    int ninputs;
    bool merge, eval;
    enum pv_image_aspect aspect;
    enum pv_template tmpl;
    int max_length, stage, noise_step, lora_r, batch, accum, epochs, threads;
    long max_steps, save_every;
    int loss;             /* index into loss_names */
    unsigned lora_targets;
    double beta, noise_weight, sft_weight, lora_alpha, lora_dropout, lr, projector_lr, wd,
        max_grad_norm, warmup_ratio;
    enum pv_lr_schedule schedule;
    uint64_t seed;
    bool alpha_given;
} settings;

static const char *const loss_names[] = {"sigmoid", "hinge", "ipo", "sft", NULL};

static void parse(int argc, char **argv, settings *s)
{
    *s = (settings){.image_root = ".", .prompt = "Describe this image in detail.",
                    .max_length = 1024, .stage = 1, .noise_step = 500, .lora_r = 128,
                    .batch = 1, .accum = 1, .epochs = 1, .beta = 0.1, .noise_weight = 0.5,
                    .lora_dropout = 0.05, .lr = 1e-6, .projector_lr = 2e-5,
                    .max_grad_norm = 1.0, .warmup_ratio = 0.03, .lora_targets = PV_LORA_ALL};
    s->inputs = calloc((size_t)argc, sizeof *s->inputs);
    pv_cli cli = pv_cli_start(argc, argv, options, usage);
    const char *v;
    int id;
    while ((id = pv_cli_next(&cli, &v)) != PV_CLI_END) {
        switch (id) {
        case OPT_MODEL: s->model_dir = v; break;
        case OPT_ADAPTER: s->adapter_dir = v; break;
        case OPT_OUTPUT: s->output = v; break;
        case OPT_MERGE: s->merge = true; break;
        case OPT_IMAGE_ROOT: s->image_root = v; break;
        case OPT_ASPECT: s->aspect = pv_parse_choice("--image-aspect", v, pv_image_aspect_names); break;
        case OPT_TEMPLATE:
            if (pv_template_parse(v) < 0)
                pv_usage_error("--template: '%s' is not llava_v1 or llava_hf", v);
            s->tmpl = pv_template_parse(v);
            break;
        case OPT_PROMPT: s->prompt = v; break;
        case OPT_MAX_LENGTH: s->max_length = (int)pv_parse_int("--max-length", v, 2, 1 << 20); break;
        case OPT_LOSS: s->loss = pv_parse_choice("--loss", v, loss_names); break;
        case OPT_BETA: s->beta = pv_parse_double("--beta", v, 1e-9, 1e9); break;
        case OPT_STAGE: s->stage = (int)pv_parse_int("--stage", v, 1, 2); break;
        case OPT_NOISE_WEIGHT: s->noise_weight = pv_parse_double("--noise-weight", v, 0, 1); break;
        case OPT_NOISE_STEP: s->noise_step = (int)pv_parse_int("--noise-step", v, 0, 999); break;
        case OPT_SFT_WEIGHT: s->sft_weight = pv_parse_double("--sft-weight", v, 0, 1e9); break;
        case OPT_LORA_R: s->lora_r = (int)pv_parse_int("--lora-r", v, 0, 65536); break;
        case OPT_LORA_ALPHA:
            s->lora_alpha = pv_parse_double("--lora-alpha", v, 1e-9, 1e9);
            s->alpha_given = true;
            break;
        case OPT_LORA_DROPOUT: s->lora_dropout = pv_parse_double("--lora-dropout", v, 0, 0.99); break;
        case OPT_LORA_TARGETS: {
            int t = pv_lora_targets_parse(v);
            if (t < 0)
                pv_usage_error("--lora-targets: '%s' is not a list of q,k,v,o,gate,up,down", v);
            s->lora_targets = (unsigned)t;
            break;
        }
        case OPT_LR: s->lr = pv_parse_double("--lr", v, 0, 1e9); break;
        case OPT_PROJ_LR: s->projector_lr = pv_parse_double("--projector-lr", v, 0, 1e9); break;
        case OPT_WD: s->wd = pv_parse_double("--weight-decay", v, 0, 10); break;
        case OPT_MAX_GRAD_NORM: s->max_grad_norm = pv_parse_double("--max-grad-norm", v, 0, 1e9); break;
        case OPT_SCHEDULE: s->schedule = pv_parse_choice("--schedule", v, pv_lr_schedule_names); break;
        case OPT_WARMUP: s->warmup_ratio = pv_parse_double("--warmup-ratio", v, 0, 1); break;
        case OPT_BATCH: s->batch = (int)pv_parse_int("--batch", v, 1, 1 << 20); break;
        case OPT_ACCUM: s->accum = (int)pv_parse_int("--grad-accum", v, 1, 1 << 20); break;
        case OPT_EPOCHS: s->epochs = (int)pv_parse_int("--epochs", v, 1, 1 << 20); break;
        case OPT_MAX_STEPS: s->max_steps = pv_parse_int("--max-steps", v, 1, 1L << 40); break;
        case OPT_SEED: s->seed = pv_parse_u64("--seed", v); break;
        case OPT_SAVE_EVERY: s->save_every = pv_parse_int("--save-every", v, 0, 1L << 40); break;
        case OPT_RESUME: s->resume = v; break;
        case OPT_EVAL: s->eval = true; break;
        case OPT_SAVE_GRADS: s->save_grads = v; break;
        case OPT_THREADS: s->threads = (int)pv_parse_int("--threads", v, 1, 4096); break;
        case PV_CLI_POSITIONAL: s->inputs[s->ninputs++] = v; break;
        }
    }
    if (!s->model_dir)
        pv_usage_error("--model DIR is required");
    if (!s->output && !s->eval && !s->save_grads)
        pv_usage_error("--output DIR is required for training (or use --eval, --save-grads)");
    if (s->merge && s->lora_r == 0)
        pv_usage_error("--merge needs a LoRA run (--lora-r > 0)");
    if (!s->alpha_given)
        s->lora_alpha = 2.0 * s->lora_r;
    if (s->loss == 3 && s->stage == 2)
        pv_usage_error("--loss sft has no stage 2");
}

/* What a checkpoint must agree on to be resumed. */
static cJSON *run_options(const settings *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", s->model_dir);
    cJSON_AddStringToObject(o, "loss", loss_names[s->loss]);
    cJSON_AddNumberToObject(o, "stage", s->stage);
    cJSON_AddNumberToObject(o, "beta", s->beta);
    cJSON_AddNumberToObject(o, "noise_weight", s->noise_weight);
    cJSON_AddNumberToObject(o, "noise_step", s->noise_step);
    cJSON_AddNumberToObject(o, "sft_weight", s->sft_weight);
    cJSON_AddNumberToObject(o, "lora_r", s->lora_r);
    cJSON_AddNumberToObject(o, "lora_alpha", s->lora_alpha);
    cJSON_AddNumberToObject(o, "lora_targets", s->lora_targets);
    cJSON_AddNumberToObject(o, "lr", s->lr);
    cJSON_AddNumberToObject(o, "projector_lr", s->projector_lr);
    cJSON_AddNumberToObject(o, "weight_decay", s->wd);
    cJSON_AddStringToObject(o, "schedule", pv_lr_schedule_names[s->schedule]);
    cJSON_AddNumberToObject(o, "warmup_ratio", s->warmup_ratio);
    cJSON_AddNumberToObject(o, "batch", s->batch);
    cJSON_AddNumberToObject(o, "grad_accum", s->accum);
    cJSON_AddNumberToObject(o, "epochs", s->epochs);
    cJSON_AddNumberToObject(o, "max_length", s->max_length);
    cJSON_AddNumberToObject(o, "seed", (double)s->seed);
    cJSON_AddStringToObject(o, "template", pv_template_name(s->tmpl));
    return o;
}

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

/* Per-epoch order of the pairs: a Fisher-Yates shuffle driven by splitmix64 of
 * (seed, epoch), so that a resumed run sees the same order. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void epoch_order(long *order, long n, uint64_t seed, long epoch)
{
    uint64_t st = seed ^ ((uint64_t)epoch * 0xD1B54A32D192ED03ULL);
    for (long i = 0; i < n; i++)
        order[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(splitmix64(&st) % (uint64_t)(i + 1));
        long tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

typedef struct run {
    settings *s;
    pv_llava_model model, ref_full;
    const pv_llava_model *ref;
    pv_trainer *trainer;
    pv_tokenizer *tok;
    pv_schedule noise;
    pv_image_opts img;
    pv_dpo_opts dpo;
    pv_dpo_example *ex;
    long n;
    size_t sel_elems;
} run;

static void load(run *r)
{
    settings *s = r->s;
    char err[1024];
    if (pv_llava_load(s->model_dir, &r->model, err, sizeof err) != 0)
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    if (s->adapter_dir && pv_load_adapter_dir(&r->model, s->adapter_dir, err, sizeof err) != 0)
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    const char *hint = pv_op_blas_hint();
    if (hint)
        pv_info("note: %s", hint);
    if (s->adapter_dir && s->lora_r == 0)
        pv_die(PV_EXIT_USAGE, "full fine-tuning (--lora-r 0) from an adapter: merge it first");
    char *tok_path = pv_path_join(s->model_dir, "tokenizer.json");
    r->tok = pv_tokenizer_load(tok_path, err, sizeof err);
    free(tok_path);
    if (!r->tok)
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    pv_trainer_opts to = {.lora_r = s->lora_r, .lora_alpha = s->lora_alpha,
                          .lora_dropout = s->lora_dropout, .lora_targets = s->lora_targets,
                          .seed = s->seed};
    r->trainer = pv_trainer_new(&r->model, &to, err, sizeof err);
    if (!r->trainer)
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    r->ref = pv_trainer_reference(r->trainer);
    if (!r->ref && s->loss != 3) {
        /* Full fine-tuning: the reference is a frozen second copy. */
        if (pv_llava_load(s->model_dir, &r->ref_full, err, sizeof err) != 0)
            pv_die(PV_EXIT_SYSTEM, "%s", err);
        r->ref = &r->ref_full;
    }
    if (!r->ref)
        r->ref = &r->model; /* SFT with full fine-tuning needs no reference; features only */
    if (pv_schedule_make(&r->noise, PV_SCHEDULE_POVID, 1000) != 0)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    r->img = (pv_image_opts){.image_size = r->model.cfg.vision.image_size, .aspect = s->aspect,
                             .schedule = &r->noise, .noise_step = s->noise_step, .seed = s->seed};
    r->dpo = (pv_dpo_opts){.loss = s->loss == 3 ? PV_LOSS_SIGMOID : (enum pv_pref_loss)s->loss,
                           .sft = s->loss == 3, .beta = s->beta, .stage = s->stage,
                           .noise_weight = s->noise_weight, .sft_weight = s->sft_weight};
    r->sel_elems = (size_t)pv_llava_config_image_tokens(&r->model.cfg) *
                   r->model.cfg.vision.hidden_size;
}

static void read_pairs(run *r)
{
    settings *s = r->s;
    pv_dpo_data_opts o = {.tok = r->tok, .tmpl = s->tmpl, .default_prompt = s->prompt,
                          .image_root = s->image_root,
                          .image_token = r->model.cfg.image_token_index,
                          .n_image_tokens = pv_llava_config_image_tokens(&r->model.cfg),
                          .max_length = s->max_length, .need_rejected = s->loss != 3};
    pv_inputs in;
    pv_inputs_init(&in, s->inputs, s->ninputs);
    long cap = 0, truncated = 0;
    cJSON *rec;
    pv_reader *from;
    int rc;
    while ((rc = pv_inputs_next(&in, &rec, &from)) != 0) {
        if (rc < 0)
            continue;
        if (r->n == cap) {
            cap = cap ? 2 * cap : 256;
            r->ex = realloc(r->ex, (size_t)cap * sizeof *r->ex);
            if (!r->ex)
                pv_die(PV_EXIT_SYSTEM, "out of memory");
        }
        if (pv_dpo_example_make(from, rec, &o, &r->ex[r->n]) != 0) {
            cJSON_Delete(rec);
            continue;
        }
        truncated += r->ex[r->n].truncated;
        r->n++;
    }
    pv_inputs_close(&in);
    if (truncated)
        pv_info("%ld pair%s truncated to --max-length %d", truncated, truncated == 1 ? "" : "s",
                s->max_length);
    if (r->n == 0)
        pv_die(pv_bad_records ? PV_EXIT_BAD_INPUT : PV_EXIT_USAGE, "no pairs to train on");
}

/* Features of a pair's images; false (after reporting) when an image fails. */
static bool pair_features(run *r, const pv_dpo_example *ex, long epoch, float *sel, float *seln)
{
    char err[1024];
    if (pv_dpo_clean_features(&r->model, &r->img, ex, sel, err, sizeof err) != 0 ||
        (r->s->stage == 2 && r->s->loss != 3 &&
         pv_dpo_noisy_features(&r->model, &r->img, ex, epoch, seln, err, sizeof err) != 0)) {
        pv_bad_record(NULL, 0, "pair \"%s\": %s", ex->id, err);
        return false;
    }
    return true;
}

static pv_pair_input pair_input(const pv_dpo_example *ex, const float *sel, const float *seln,
                                int stage)
{
    return (pv_pair_input){.chosen = ex->chosen, .rejected = ex->rejected,
                           .n_chosen = ex->n_chosen, .n_rejected = ex->n_rejected,
                           .start_chosen = ex->start_chosen, .start_rejected = ex->start_rejected,
                           .selected = sel, .selected_noisy = stage == 2 ? seln : NULL};
}

/* --eval: one record per pair with everything the loss is made of. */
static void evaluate(run *r)
{
    pv_writer *w = pv_writer_open("-");
    float *sel = malloc(r->sel_elems * sizeof *sel), *seln = malloc(r->sel_elems * sizeof *seln);
    char err[1024];
    pv_progress prog;
    pv_progress_start(&prog, "pairs", r->n);
    for (long i = 0; i < r->n; i++) {
        pv_dpo_example *ex = &r->ex[i];
        if (!pair_features(r, ex, 0, sel, seln))
            continue;
        pv_pair_input in = pair_input(ex, sel, seln, r->s->stage);
        pv_pair_result res;
        if (pv_dpo_pair(r->trainer, r->ref, &r->dpo, &in, 0, false, 0, NULL, &res, err,
                        sizeof err) != 0) {
            pv_bad_record(NULL, 0, "pair \"%s\": %s", ex->id, err);
            continue;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON *pol = cJSON_AddObjectToObject(e, "policy");
        cJSON *ref = cJSON_AddObjectToObject(e, "reference");
        cJSON_AddNumberToObject(pol, "chosen", res.policy_chosen);
        cJSON_AddNumberToObject(ref, "chosen", res.ref_chosen);
        if (!r->dpo.sft) {
            cJSON_AddNumberToObject(pol, "rejected", res.policy_rejected);
            cJSON_AddNumberToObject(ref, "rejected", res.ref_rejected);
        }
        if (in.selected_noisy) {
            cJSON_AddNumberToObject(pol, "noise", res.policy_noise);
            cJSON_AddNumberToObject(ref, "noise", res.ref_noise);
        }
        if (!r->dpo.sft) {
            cJSON *rw = cJSON_AddObjectToObject(e, "rewards");
            cJSON_AddNumberToObject(rw, "chosen", res.reward_chosen);
            cJSON_AddNumberToObject(rw, "rejected", res.reward_rejected);
            cJSON_AddNumberToObject(rw, "margin", res.reward_chosen - res.reward_rejected);
            if (in.selected_noisy) {
                cJSON_AddNumberToObject(rw, "noise", res.reward_noise);
                cJSON_AddNumberToObject(rw, "noise_margin", res.reward_chosen - res.reward_noise);
            }
        }
        cJSON_AddNumberToObject(e, "loss", res.loss);
        if (!r->dpo.sft)
            cJSON_AddNumberToObject(e, "loss_hallucinated", res.loss_hallucinated);
        if (in.selected_noisy)
            cJSON_AddNumberToObject(e, "loss_noise", res.loss_noise);
        if (r->dpo.sft || r->dpo.sft_weight > 0)
            cJSON_AddNumberToObject(e, "loss_sft", res.loss_sft);
        pv_rec_set(ex->record, "dpo", e);
        pv_writer_put(w, ex->record);
        pv_progress_add(&prog, 1);
    }
    pv_progress_finish(&prog);
    pv_writer_close(w);
    free(sel);
    free(seln);
}

typedef struct step_metrics {
    double loss, rc, rr, rn, acc, pc, pr, pn, lh, ln, lsft;
    long pairs, tokens;
} step_metrics;

static void add_metrics(step_metrics *m, const pv_pair_result *res)
{
    m->loss += res->loss;
    m->rc += res->reward_chosen;
    m->rr += res->reward_rejected;
    m->rn += res->reward_noise;
    m->acc += res->reward_chosen > res->reward_rejected;
    m->pc += res->policy_chosen;
    m->pr += res->policy_rejected;
    m->pn += res->policy_noise;
    m->lh += res->loss_hallucinated;
    m->ln += res->loss_noise;
    m->lsft += res->loss_sft;
    m->pairs++;
    m->tokens += res->response_tokens;
}

static void checkpoint(run *r, const pv_train_state *st, const char *why)
{
    char dir[4096], err[1024];
    snprintf(dir, sizeof dir, "%s/checkpoint-%ld", r->s->output, st->step);
    cJSON *opts = run_options(r->s);
    mkdir(r->s->output, 0777);
    if (pv_checkpoint_save(r->trainer, st, opts, dir, err, sizeof err) != 0)
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    cJSON_Delete(opts);
    pv_info("%s: checkpoint %s", why, dir);
}

static char last_checkpoint[4096] = "none";

static void train(run *r)
{
    settings *s = r->s;
    char err[1024];
    long per_step = (long)s->batch * s->accum;
    long spe = (r->n + per_step - 1) / per_step; /* steps per epoch */
    pv_train_state st = {.total_steps = spe * s->epochs};
    if (s->resume) {
        cJSON *saved = NULL;
        if (pv_checkpoint_load(r->trainer, &st, &saved, s->resume, err, sizeof err) != 0)
            pv_die(PV_EXIT_SYSTEM, "%s", err);
        cJSON *now = run_options(s);
        cJSON *k;
        char differs[64] = "";
        cJSON_ArrayForEach(k, now) {
            cJSON *was = cJSON_GetObjectItemCaseSensitive(saved, k->string);
            if (!*differs && (!was || !cJSON_Compare(was, k, true)))
                snprintf(differs, sizeof differs, "%s", k->string);
        }
        cJSON_Delete(now);
        cJSON_Delete(saved);
        if (*differs)
            pv_die(PV_EXIT_USAGE, "--resume %s: option %s differs from the checkpoint's", s->resume,
                   differs);
        if (st.total_steps != spe * s->epochs)
            pv_die(PV_EXIT_USAGE, "--resume %s: the checkpoint was made for %ld steps, these "
                   "pairs make %ld (different input?)", s->resume, st.total_steps, spe * s->epochs);
        snprintf(last_checkpoint, sizeof last_checkpoint, "%s", s->resume);
    }
    long warmup = pv_warmup_steps(s->warmup_ratio, st.total_steps);
    pv_adamw adam = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = s->wd};
    size_t np;
    pv_train_param *params = pv_trainer_params(r->trainer, &np);
    float *sel = malloc(r->sel_elems * sizeof *sel), *seln = malloc(r->sel_elems * sizeof *seln);
    long *order = malloc((size_t)r->n * sizeof *order);
    long order_epoch = -1, steps_this_run = 0;
    pv_writer *w = pv_writer_open("-");
    pv_progress prog;
    pv_progress_start(&prog, "steps", st.total_steps - st.step);
    double t0 = pv_now();

    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    while (st.step < st.total_steps && (!s->max_steps || steps_this_run < s->max_steps)) {
        st.epoch = st.step / spe;
        st.position = (st.step % spe) * per_step;
        if (order_epoch != st.epoch) {
            epoch_order(order, r->n, s->seed, st.epoch);
            order_epoch = st.epoch;
        }
        long count = r->n - st.position < per_step ? r->n - st.position : per_step;
        double t_step = pv_now();
        pv_trainer_zero_grad(r->trainer);
        step_metrics m = {0};
        for (long i = 0; i < count; i++) {
            pv_dpo_example *ex = &r->ex[order[st.position + i]];
            if (!pair_features(r, ex, st.epoch, sel, seln))
                continue;
            pv_pair_input in = pair_input(ex, sel, seln, s->stage);
            /* Noise redrawn each epoch: the reference's noise term is cached only when
             * the record names its noisy image. */
            if (!ex->noisy_image)
                ex->cache.noise_valid = false;
            uint64_t key = s->seed ^ ((uint64_t)st.step << 20) ^ (uint64_t)i;
            pv_pair_result res;
            if (pv_dpo_pair(r->trainer, r->ref, &r->dpo, &in, 1.0 / (double)count, true, key,
                            &ex->cache, &res, err, sizeof err) != 0)
                pv_die(PV_EXIT_SYSTEM, "pair \"%s\": %s", ex->id, err);
            add_metrics(&m, &res);
        }
        if (m.pairs == 0)
            pv_die(PV_EXIT_BAD_INPUT, "step %ld: no pair could be used", st.step + 1);
        if (s->save_grads) {
            if (pv_save_grads(r->trainer, s->save_grads, err, sizeof err) != 0)
                pv_die(PV_EXIT_SYSTEM, "%s", err);
            pv_info("gradients of step 1 written to %s", s->save_grads);
            break;
        }
        double sq = 0;
        for (size_t i = 0; i < np; i++)
            sq += pv_sum_squares(params[i].grad, params[i].n);
        double norm = sqrt(sq);
        if (!isfinite(m.loss) || !isfinite(norm))
            pv_die(PV_EXIT_SYSTEM, "step %ld: the loss or the gradient is not finite (loss %g, "
                   "gradient norm %g); stopping without saving it. Last good checkpoint: %s",
                   st.step + 1, m.loss / m.pairs, norm, last_checkpoint);
        double clip = pv_clip_factor(norm, s->max_grad_norm);
        double lr = pv_lr_at(s->schedule, s->lr, st.step, warmup, st.total_steps);
        double plr = pv_lr_at(s->schedule, s->projector_lr, st.step, warmup, st.total_steps);
        for (size_t i = 0; i < np; i++) {
            pv_train_param *p = &params[i];
            if (clip != 1.0)
                for (size_t k = 0; k < p->n; k++)
                    p->grad[k] *= (float)clip;
            pv_adamw_update(&adam, p->projector ? plr : lr, st.step + 1, p->data, p->grad, p->m,
                            p->v, p->n);
        }
        st.step++;
        steps_this_run++;
        double now = pv_now();
        double n = (double)m.pairs;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", (double)st.step);
        cJSON_AddNumberToObject(o, "epoch", (double)st.step / (double)spe);
        cJSON_AddNumberToObject(o, "loss", m.loss / n);
        if (!r->dpo.sft) {
            cJSON_AddNumberToObject(o, "rewards/chosen", m.rc / n);
            cJSON_AddNumberToObject(o, "rewards/rejected", m.rr / n);
            cJSON_AddNumberToObject(o, "rewards/accuracies", m.acc / n);
            cJSON_AddNumberToObject(o, "rewards/margins", (m.rc - m.rr) / n);
        }
        cJSON_AddNumberToObject(o, "logps/chosen", m.pc / n);
        if (!r->dpo.sft)
            cJSON_AddNumberToObject(o, "logps/rejected", m.pr / n);
        if (s->stage == 2 && !r->dpo.sft) {
            cJSON_AddNumberToObject(o, "loss/hallucinated", m.lh / n);
            cJSON_AddNumberToObject(o, "loss/noise", m.ln / n);
            cJSON_AddNumberToObject(o, "rewards/noise", m.rn / n);
            cJSON_AddNumberToObject(o, "logps/noise", m.pn / n);
        }
        if (r->dpo.sft || s->sft_weight > 0)
            cJSON_AddNumberToObject(o, "loss/sft", m.lsft / n);
        cJSON_AddNumberToObject(o, "grad_norm", norm);
        cJSON_AddNumberToObject(o, "lr", lr);
        cJSON_AddNumberToObject(o, "projector_lr", plr);
        cJSON_AddNumberToObject(o, "tokens_per_s", (double)m.tokens / (now - t_step));
        cJSON_AddNumberToObject(o, "elapsed_s", now - t0);
        pv_writer_put(w, o);
        cJSON_Delete(o);
        pv_progress_add(&prog, 1);
        bool last = st.step == st.total_steps;
        if (s->save_every && st.step % s->save_every == 0 && !last) {
            checkpoint(r, &st, "step");
            snprintf(last_checkpoint, sizeof last_checkpoint, "%s/checkpoint-%ld", s->output,
                     st.step);
        }
        if (stop_signal) {
            pv_progress_finish(&prog);
            checkpoint(r, &st, stop_signal == SIGINT ? "interrupted" : "terminated");
            pv_writer_close(w);
            pv_exit(128 + stop_signal);
        }
    }
    pv_progress_finish(&prog);
    pv_writer_close(w);
    free(sel);
    free(seln);
    free(order);
    if (s->save_grads)
        return;
    if (st.step < st.total_steps) {
        /* --max-steps ended the run early: leave a checkpoint to resume from. */
        checkpoint(r, &st, "stopped at --max-steps");
        return;
    }
    if (s->lora_r > 0) {
        if (pv_save_adapter(r->trainer, s->output, s->model_dir, err, sizeof err) != 0)
            pv_die(PV_EXIT_SYSTEM, "%s", err);
        if (s->merge) {
            char *merged = pv_path_join(s->output, "merged");
            if (pv_llava_merge_lora(&r->model, err, sizeof err) != 0 ||
                pv_save_model_dir(&r->model, s->model_dir, merged, err, sizeof err) != 0)
                pv_die(PV_EXIT_SYSTEM, "%s", err);
            free(merged);
        }
    } else if (pv_save_model_dir(&r->model, s->model_dir, s->output, err, sizeof err) != 0) {
        pv_die(PV_EXIT_SYSTEM, "%s", err);
    }
    pv_info("%ld steps over %ld pairs in %.1f s; wrote %s", steps_this_run, r->n,
            pv_now() - t0, s->output);
}

int main(int argc, char **argv)
{
    pv_omp_passive_wait(argv);
    pv_init(argv[0]);
    settings s;
    parse(argc, argv, &s);
    if (s.threads > 0) {
        omp_set_num_threads(s.threads);
        openblas_set_num_threads(s.threads);
    }
    run r = {.s = &s};
    load(&r);
    read_pairs(&r);
    if (s.eval)
        evaluate(&r);
    else
        train(&r);
    for (long i = 0; i < r.n; i++)
        pv_dpo_example_free(&r.ex[i]);
    free(r.ex);
    pv_trainer_free(r.trainer);
    if (r.ref == &r.ref_full)
        pv_llava_free(&r.ref_full);
    pv_llava_free(&r.model);
    pv_tokenizer_free(r.tok);
    pv_schedule_free(&r.noise);
    free(s.inputs);
    return pv_final_status();
}
