/* Golden tests of the fp32 forward pass against transformers + peft (float64) on the
 * fixture model: every value of every tensor the forward pass produces, the scored
 * log-probabilities with and without the LoRA adapter, greedy decoding, and the KV
 * cache against a full prefill.
 *
 * Tolerance: 1e-4 relative (fp32 against a float64 reference), with an absolute
 * floor of 1e-5 x the largest magnitude in the tensor. The floor is what fp32 can
 * promise for a value that is a small difference of large terms: every value here is
 * a sum of products whose size is that of the tensor's large entries, and fp32
 * rounds each sum to ~6e-8 of that size (times sqrt of the number of terms), so an
 * element near zero has no meaningful relative error. Worst errors are printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "golden.h"
#include "generate.h"
#include "llava_forward.h"
#include "llava_model.h"
#include "ops.h"
#include "safetensors.h"

#define RTOL 1e-4
#define ATOL_OF_MAX 1e-5

static void check_golden(const char *what, const float *got, const float *want, size_t n)
{
    golden_check(what, got, want, n, RTOL, ATOL_OF_MAX);
}


/* Test buffers, freed together at the end (so that ASan's leak check stays quiet). */
static void *owned[64];
static int n_owned;

static void *talloc(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p || n_owned == (int)(sizeof owned / sizeof *owned)) {
        printf("# out of memory\n");
        exit(1);
    }
    return owned[n_owned++] = p;
}

static void free_all(void)
{
    while (n_owned)
        free(owned[--n_owned]);
}

static double json_number(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) {
        printf("# golden.json has no %s\n", key);
        exit(1);
    }
    return strtod(p + strlen(pat), NULL);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *s = malloc((size_t)len + 1);
    s[fread(s, 1, (size_t)len, f)] = '\0';
    fclose(f);
    return s;
}

static void check_scalar(const char *what, double got, double want)
{
    printf("# %s: got %.10g want %.10g (rel err %.3g)\n", what, got, want,
           fabs(got - want) / fabs(want));
    CHECK_CLOSE(got, want, RTOL, 0.0, what);
}

/* The argmax of each row of logits [n][vocab] equals want[0..n). */
static void check_argmax_rows(const char *what, const float *logits, int n, int vocab,
                              const int32_t *want)
{
    int mismatches = 0;
    for (int t = 0; t < n; t++) {
        const float *row = logits + (size_t)t * vocab;
        int best = 0;
        for (int i = 1; i < vocab; i++)
            if (row[i] > row[best])
                best = i;
        if (best != want[t]) {
            if (mismatches++ < 3)
                printf("# %s: position %d: got %d want %d\n", what, t, best, (int)want[t]);
        }
    }
    CHECK(mismatches == 0, what);
}

int main(void)
{
    const char *shared = getenv("PV_SHARED") ? getenv("PV_SHARED") : "../shared";
    char dir[1024], path[1200], err[512];
    snprintf(dir, sizeof dir, "%s/fixtures/tiny-llava", shared);
    struct stat st;
    if (stat(dir, &st) != 0)
        return check_skip_all("no fixture model (PV_SHARED/fixtures/tiny-llava)");

    pv_llava_model m;
    if (pv_llava_load(dir, &m, err, sizeof err) < 0) {
        printf("# %s\n", err);
        CHECK(0, "fixture model loads");
        return check_done();
    }
    CHECK(pv_llava_check_supported(&m.cfg, err, sizeof err) == 0, "the fixture model is supported");
    /* model.safetensors is F16: transformers then runs RoPE with float16 inv_freq. */
    CHECK(pv_llava_weight_bits(&m) == 11, "the fixture's weights are recognised as float16");
    const char *blas_hint = pv_op_blas_hint();
    printf("# BLAS: %s\n", blas_hint ? blas_hint : "kernels match the CPU");
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    if (pv_st_open(path, &golden_file, err, sizeof err) < 0) {
        printf("# %s\n", err);
        CHECK(0, "golden.safetensors opens");
        return check_done();
    }
    snprintf(path, sizeof path, "%s/golden.json", dir);
    char *json = read_text(path);
    CHECK(json != NULL, "golden.json reads");
    if (!json)
        return check_done();

    const int V = m.cfg.text.vocab_size, D = m.cfg.text.hidden_size;
    const int DV = m.cfg.vision.hidden_size, n_img = pv_llava_n_image_features(&m);
    const int patches1 = n_img + 1; /* strategy "default": CLS dropped */
    const int response_start = (int)json_number(json, "response_start");

    /* Vision tower and projector. */
    float *pixels = golden_f32("pixel_values", (size_t)3 * 56 * 56);
    float *emb = talloc((size_t)patches1 * DV * sizeof *emb);
    float *sel = talloc((size_t)n_img * DV * sizeof *sel);
    float *feat = talloc((size_t)n_img * D * sizeof *feat);
    pv_forward_probe vprobe = {.vision_embeddings = emb, .vision_selected = sel};
    CHECK(pv_llava_image_features_probe(&m, pixels, feat, &vprobe) == 0, "image features run");
    check_golden("vision_embeddings", emb, golden_f32("vision_embeddings", (size_t)patches1 * DV),
                 (size_t)patches1 * DV);
    check_golden("vision_selected", sel, golden_f32("vision_selected", (size_t)n_img * DV),
                 (size_t)n_img * DV);
    check_golden("image_features", feat, golden_f32("image_features", (size_t)n_img * D),
                 (size_t)n_img * D);

    /* Language model over chosen_ids, every position, base model. */
    int n;
    int32_t *ids = golden_i32("chosen_ids", &n);
    float *layer0 = talloc((size_t)n * D * sizeof *layer0);
    float *final = talloc((size_t)n * D * sizeof *final);
    float *logits = talloc((size_t)n * V * sizeof *logits);
    pv_forward_probe tprobe = {.text_layer0_out = layer0, .text_final_norm_out = final};
    pv_lm_session *s = pv_lm_session_new(&m, n, false);
    pv_lm_session_set_probe(s, &tprobe);
    CHECK(pv_lm_prefill_all(s, ids, n, feat, logits) == 0, "prefill of chosen_ids runs");
    pv_lm_session_free(s);
    check_golden("text_layer0_out", layer0, golden_f32("text_layer0_out", (size_t)n * D),
                 (size_t)n * D);
    check_golden("text_final_norm_out", final,
                 golden_f32("text_final_norm_out", (size_t)n * D), (size_t)n * D);
    check_golden("logits_last8", logits + (size_t)(n - 8) * V,
                 golden_f32("logits_last8", (size_t)8 * V), (size_t)8 * V);
    float *lse = talloc((size_t)n * sizeof *lse);
    for (int t = 0; t < n; t++) {
        const float *row = logits + (size_t)t * V;
        double mx = row[0], sum = 0;
        for (int i = 1; i < V; i++)
            mx = fmax(mx, row[i]);
        for (int i = 0; i < V; i++)
            sum += exp(row[i] - mx);
        lse[t] = (float)(mx + log(sum));
    }
    check_golden("logsumexp", lse, golden_f32("logsumexp", (size_t)n), (size_t)n);
    int n_arg;
    int32_t *want_argmax = golden_i32("argmax", &n_arg);
    check_argmax_rows("argmax (exact, every position)", logits, n, V, want_argmax);

    /* Scoring: per-token log-probs and the response sum. */
    float *token_logps = talloc((size_t)(n - 1) * sizeof *token_logps);
    double sum = pv_llava_sequence_logp(&m, ids, n, feat, response_start, false, token_logps);
    check_golden("chosen_token_logps", token_logps,
                 golden_f32("chosen_token_logps", (size_t)n - 1), (size_t)n - 1);
    check_scalar("chosen_logp_sum_base", sum, json_number(json, "chosen_logp_sum_base"));
    double sum_only = pv_llava_sequence_logp(&m, ids, n, feat, response_start, false, NULL);
    printf("# sum without per-token values: %.10g (diff %.3g)\n", sum_only, sum_only - sum);
    CHECK_CLOSE(sum_only, sum, 1e-6, 0.0, "sum without per-token values is the same");

    /* KV cache: prefill in pieces, then one token at a time, against the full prefill. */
    float *step = talloc((size_t)V * sizeof *step);
    s = pv_lm_session_new(&m, n, false);
    /* The first call holds every image token (image rows restart at each call);
     * a second call prefills the text up to `first`; then tokens one at a time. */
    int after_image = 0;
    for (int t = 0; t < n; t++)
        if (ids[t] == m.cfg.image_token_index)
            after_image = t + 1;
    int first = response_start - 10;
    double worst = 0;
    int ok = pv_lm_prefill(s, ids, after_image, feat, step) == 0;
    ok = ok && pv_lm_prefill(s, ids + after_image, first - after_image, NULL, step) == 0;
    ok = ok && pv_lm_session_pos(s) == first;
    for (int t = first; ok && t <= n; t++) {
        const float *want = logits + (size_t)(t - 1) * V;
        double row_max = 0, row_err = 0;
        for (int i = 0; i < V; i++) {
            row_max = fmax(row_max, fabs(want[i]));
            row_err = fmax(row_err, fabs(step[i] - want[i]));
        }
        worst = fmax(worst, row_err / row_max);
        if (t < n)
            ok = pv_lm_decode(s, ids[t], step) == 0;
    }
    pv_lm_session_free(s);
    /* The same arithmetic in another order (matrix-vector instead of matrix-matrix
     * products): differences of fp32 rounding only, a few ulp of the largest logit. */
    printf("# KV cache decoding vs full prefill: worst abs diff %.3g of the row's largest "
           "logit over %d positions\n", worst, n - first + 1);
    CHECK(ok && worst < 1e-5, "KV-cache decoding gives the full prefill's logits");

    /* Prefill in steps of 5 rows (the image tokens straddle steps) against one step. */
    {
        float *stepped = malloc((size_t)n * V * sizeof *stepped);
        s = pv_lm_session_new(&m, n, false);
        pv_lm_session_set_chunk(s, 5);
        CHECK(pv_lm_prefill_all(s, ids, n, feat, stepped) == 0, "prefill in 5-row steps runs");
        pv_lm_session_free(s);
        double worst_step = 0, biggest = 0;
        for (size_t i = 0; i < (size_t)n * V; i++) {
            worst_step = fmax(worst_step, fabs(stepped[i] - logits[i]));
            biggest = fmax(biggest, fabs(logits[i]));
        }
        printf("# 5-row prefill steps vs one step: worst abs diff %.3g (largest logit %.3g)\n",
               worst_step, biggest);
        CHECK(worst_step < 1e-5 * biggest, "prefill in steps gives the same logits");
        free(stepped);
    }

    /* Greedy decoding from the prompt. */
    int n_prompt, n_greedy;
    int32_t *prompt = golden_i32("prompt_ids", &n_prompt);
    int32_t *want_greedy = golden_i32("greedy12", &n_greedy);
    pv_gen_params gp = pv_gen_params_default(&m);
    gp.max_new_tokens = n_greedy;
    int32_t out[64];
    int got = pv_generate(&m, prompt, n_prompt, feat, &gp, out, err, sizeof err);
    int same = got == n_greedy;
    for (int i = 0; same && i < n_greedy; i++)
        same = out[i] == want_greedy[i];
    if (!same) {
        printf("# greedy: %d tokens:", got);
        for (int i = 0; i < got && i < 64; i++)
            printf(" %d", (int)out[i]);
        printf("\n");
    }
    CHECK(same, "greedy12 identical");

    /* Sampling is reproducible for a seed. */
    gp.temperature = 0.8f;
    gp.top_p = 0.9f;
    gp.seed = 7;
    int32_t out2[64];
    int got1 = pv_generate(&m, prompt, n_prompt, feat, &gp, out, err, sizeof err);
    int got2 = pv_generate(&m, prompt, n_prompt, feat, &gp, out2, err, sizeof err);
    CHECK(got1 == got2 && got1 > 0 && memcmp(out, out2, (size_t)got1 * sizeof *out) == 0,
          "sampling with a seed is reproducible");

    /* The sampler on a known distribution: p = 0.5, 0.3, 0.15, 0.05 (logits = log p).
     * top_p 0.7 keeps the first two (0.5 < 0.7 before the second, 0.8 >= 0.7 after),
     * renormalised to 0.625 / 0.375: u below 0.625 picks 0, above picks 1. */
    {
        const double probs[4] = {0.5, 0.3, 0.15, 0.05};
        float lg[4];
        void *scratch = malloc(pv_sample_scratch_size(4));
        int picks[4][2] = {{0}}; /* [u case][top_p case] */
        const double us[4] = {0.0, 0.62, 0.63, 0.999};
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 2; k++) {
                for (int i = 0; i < 4; i++)
                    lg[i] = (float)log(probs[i]);
                picks[c][k] = pv_sample(lg, 4, 1.0f, k ? 1.0f : 0.7f, us[c], scratch);
            }
        CHECK(picks[0][0] == 0 && picks[1][0] == 0 && picks[2][0] == 1 && picks[3][0] == 1,
              "top_p 0.7 samples only the nucleus {0, 1} in proportion");
        CHECK(picks[0][1] == 0 && picks[1][1] == 1 && picks[2][1] == 1 && picks[3][1] == 3,
              "top_p 1 samples the whole distribution by cumulative probability");
        for (int i = 0; i < 4; i++)
            lg[i] = (float)log(probs[3 - i]);
        CHECK(pv_sample(lg, 4, 0.0f, 0.5f, 0.9, scratch) == 3, "temperature 0 is the argmax");
        free(scratch);
    }

    /* Noisy image: argmax under policy and reference. */
    int n_rej;
    int32_t *rejected = golden_i32("rejected_ids", &n_rej);
    float *noisy_pixels = golden_f32("pixel_values_noisy", (size_t)3 * 56 * 56);
    float *noisy_feat = talloc((size_t)n_img * D * sizeof *noisy_feat);
    CHECK(pv_llava_image_features(&m, noisy_pixels, noisy_feat) == 0, "noisy image features");
    s = pv_lm_session_new(&m, n, false);
    pv_lm_prefill_all(s, ids, n, noisy_feat, logits);
    pv_lm_session_free(s);
    int n_noisy;
    check_argmax_rows("ref_noisy_argmax", logits, n - 1, V, golden_i32("ref_noisy_argmax", &n_noisy));

    /* Base model (reference) scores. */
    check_scalar("ref_chosen",
                 pv_llava_sequence_logp(&m, ids, n, feat, response_start, false, NULL),
                 json_number(json, "ref_chosen"));
    check_scalar("ref_rejected",
                 pv_llava_sequence_logp(&m, rejected, n_rej, feat, response_start, false, NULL),
                 json_number(json, "ref_rejected"));

    /* With the LoRA adapter: the policy, and adapters off = still the reference. */
    snprintf(path, sizeof path, "%s/adapter", dir);
    pv_lm_session *early = pv_lm_session_new(&m, 8, true); /* sized without LoRA */
    if (pv_llava_load_adapter(&m, path, err, sizeof err) < 0) {
        printf("# %s\n", err);
        CHECK(0, "adapter loads");
        return check_done();
    }
    CHECK(pv_lm_prefill(early, ids, 8, NULL, step) < 0 && strstr(pv_lm_session_error(early), "LoRA"),
          "a session older than the adapter refuses to run it");
    pv_lm_session_free(early);
    check_scalar("policy_chosen",
                 pv_llava_sequence_logp(&m, ids, n, feat, response_start, true, NULL),
                 json_number(json, "policy_chosen"));
    check_scalar("policy_rejected",
                 pv_llava_sequence_logp(&m, rejected, n_rej, feat, response_start, true, NULL),
                 json_number(json, "policy_rejected"));
    check_scalar("ref_chosen with adapter loaded, use_lora=false",
                 pv_llava_sequence_logp(&m, ids, n, feat, response_start, false, NULL),
                 json_number(json, "ref_chosen"));
    check_scalar("ref_rejected with adapter loaded, use_lora=false",
                 pv_llava_sequence_logp(&m, rejected, n_rej, feat, response_start, false, NULL),
                 json_number(json, "ref_rejected"));
    s = pv_lm_session_new(&m, n, true);
    pv_lm_prefill_all(s, ids, n, noisy_feat, logits);
    pv_lm_session_free(s);
    check_argmax_rows("policy_noisy_argmax", logits, n - 1, V,
                      golden_i32("policy_noisy_argmax", &n_noisy));

    /* A configuration this forward pass does not compute is named. */
    {
        pv_llava_config odd = m.cfg;
        strcpy(odd.text.hidden_act, "gelu");
        CHECK(pv_llava_check_supported(&odd, err, sizeof err) < 0 && strstr(err, "silu"),
              "an unsupported activation is refused by name");
        printf("# message: %s\n", err);
    }

    /* Errors leave the session usable. */
    s = pv_lm_session_new(&m, 8, false);
    int32_t bad_id = V;
    CHECK(pv_lm_prefill(s, &bad_id, 1, NULL, step) < 0 && pv_lm_session_pos(s) == 0,
          "an id outside the vocabulary is refused");
    printf("# message: %s\n", pv_lm_session_error(s));
    int32_t image_id = m.cfg.image_token_index;
    CHECK(pv_lm_prefill(s, &image_id, 1, NULL, step) < 0, "image token without features refused");
    CHECK(pv_lm_prefill(s, ids, 9, NULL, step) < 0 && pv_lm_session_pos(s) == 0,
          "prefill past the context is refused");
    CHECK(pv_lm_prefill(s, ids, 8, NULL, step) == 0 && pv_lm_decode(s, 2, step) < 0,
          "decoding into a full cache is refused");
    pv_lm_session_free(s);

    pv_st_close(&golden_file);
    pv_llava_free(&m);
    free(json);
    free_all();
    return check_done();
}
