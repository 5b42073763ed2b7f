/* Golden tests of training (pv-dpo's core) against transformers + peft in float64
 * on the fixture: policy and reference log-probabilities, the stage-1 and stage-2
 * losses, the noisy-image argmax of policy and reference, and EVERY gradient of
 * the trainable tensors (LoRA A and B of every layer, the projector) for both
 * stages.
 *
 * Tolerances: scalars 1e-4 relative. Gradients 1e-4 relative with an absolute
 * floor of 1e-5 x the tensor's largest magnitude: a gradient is a sum over ~80
 * positions of products through the whole network, so fp32 rounding of its
 * large terms (~1e-7 relative each) leaves near-zero entries without a
 * meaningful relative error; the floor states that scale. LoRA A gradients of
 * layers whose B is small are themselves small differences, as the fixture's
 * README warns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "dpo_pair.h"
#include "golden.h"
#include "llava_forward.h"
#include "llava_model.h"
#include "paths.h"
#include "trainer.h"

static double golden_scalar(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) {
        printf("# golden.json has no %s\n", key);
        exit(1);
    }
    p = strchr(p, ':');
    return strtod(p + 1, NULL);
}

static void check_grads(pv_trainer *t, const char *stage)
{
    size_t np;
    pv_train_param *p = pv_trainer_params(t, &np);
    int checked = 0;
    for (size_t i = 0; i < np; i++) {
        char name[600];
        snprintf(name, sizeof name, "%s/%s", stage, p[i].name);
        const pv_st_tensor *gt = pv_st_find(&golden_file, name);
        if (!gt) {
            printf("# %s has no golden gradient\n", name);
            CHECK(0, name);
            continue;
        }
        float *want = golden_f32(name, p[i].n);
        golden_check(name, p[i].grad, want, p[i].n, 1e-4, 1e-5);
        free(want);
        checked++;
    }
    char what[96];
    snprintf(what, sizeof what, "%s: all 32 trainable tensors compared", stage);
    CHECK(checked == 32, what);
}

int main(void)
{
    if (golden_open() != 0)
        return check_skip_all("fixtures not found (set PV_SHARED)");
    char *gj = pv_read_file(fixture_path("golden.json"), NULL);
    char err[512];
    pv_llava_model m;
    if (pv_llava_load(fixture_path(""), &m, err, sizeof err) != 0 ||
        pv_llava_load_adapter(&m, fixture_path("adapter"), err, sizeof err) != 0) {
        printf("# %s\n", err);
        return 1;
    }
    pv_trainer_opts to = {.lora_r = 8, .lora_alpha = 16, .lora_dropout = 0,
                          .lora_targets = PV_LORA_ALL, .seed = 1};
    pv_trainer *t = pv_trainer_new(&m, &to, err, sizeof err);
    CHECK(t != NULL, "trainer made");
    size_t np;
    pv_trainer_params(t, &np);
    CHECK(np == 32, "28 LoRA tensors + 4 projector tensors trainable");

    int S = m.cfg.vision.image_size, n_img = pv_llava_config_image_tokens(&m.cfg);
    float *px = golden_f32("pixel_values", (size_t)3 * S * S);
    float *pxn = golden_f32("pixel_values_noisy", (size_t)3 * S * S);
    size_t sel_n = (size_t)n_img * m.cfg.vision.hidden_size;
    float *sel = malloc(sel_n * sizeof *sel), *seln = malloc(sel_n * sizeof *seln);
    pv_clip_features(&m, px, sel, NULL);
    pv_clip_features(&m, pxn, seln, NULL);
    int nc, nr, start = (int)golden_scalar(gj, "\"response_start\"");
    int32_t *chosen = golden_i32("chosen_ids", &nc), *rejected = golden_i32("rejected_ids", &nr);

    /* Noisy argmax of policy and reference. */
    const pv_llava_model *ref = pv_trainer_reference(t);
    size_t feat_n = (size_t)n_img * m.cfg.text.hidden_size;
    float *feat = malloc(feat_n * sizeof *feat);
    int32_t *arg = malloc((size_t)nc * sizeof *arg);
    int na;
    int32_t *want_arg = golden_i32("policy_noisy_argmax", &na);
    pv_llava_project(&m, seln, n_img, feat);
    pv_sequence_argmax(&m, true, chosen, nc, feat, 0, arg, err, sizeof err);
    CHECK(na == nc - 1 && memcmp(arg, want_arg, (size_t)na * sizeof *arg) == 0,
          "policy noisy argmax equals golden");
    free(want_arg);
    want_arg = golden_i32("ref_noisy_argmax", &na);
    pv_llava_project(ref, seln, n_img, feat);
    pv_sequence_argmax(ref, false, chosen, nc, feat, 0, arg, err, sizeof err);
    CHECK(na == nc - 1 && memcmp(arg, want_arg, (size_t)na * sizeof *arg) == 0,
          "reference noisy argmax equals golden");

    pv_pair_input in = {.chosen = chosen, .rejected = rejected, .n_chosen = nc, .n_rejected = nr,
                        .start_chosen = start, .start_rejected = start, .selected = sel,
                        .selected_noisy = seln};
    pv_dpo_opts o = {.loss = PV_LOSS_SIGMOID, .beta = golden_scalar(gj, "\"beta\""), .stage = 1,
                     .noise_weight = 0.5};
    pv_pair_result r;
    for (int stage = 1; stage <= 2; stage++) {
        o.stage = stage;
        pv_trainer_zero_grad(t);
        int rc = pv_dpo_pair(t, ref, &o, &in, 1.0, false, 0, NULL, &r, err, sizeof err);
        if (rc != 0)
            printf("# %s\n", err);
        CHECK(rc == 0, "pair computed");
        const char *lossname = stage == 1 ? "\"loss_stage1\"" : "\"loss_stage2\"";
        char what[64];
        snprintf(what, sizeof what, "stage %d: loss", stage);
        CHECK_CLOSE(r.loss, golden_scalar(gj, lossname), 1e-4, 0, what);
        if (stage == 1) {
            CHECK_CLOSE(r.policy_chosen, golden_scalar(gj, "\"policy_chosen\""), 1e-4, 0, "policy chosen");
            CHECK_CLOSE(r.policy_rejected, golden_scalar(gj, "\"policy_rejected\""), 1e-4, 0, "policy rejected");
            CHECK_CLOSE(r.ref_chosen, golden_scalar(gj, "\"ref_chosen\""), 1e-4, 0, "reference chosen");
            CHECK_CLOSE(r.ref_rejected, golden_scalar(gj, "\"ref_rejected\""), 1e-4, 0, "reference rejected");
            check_grads(t, "grad_stage1");
        } else {
            CHECK_CLOSE(r.policy_noise, golden_scalar(gj, "\"policy_noisy_own\""), 1e-4, 0, "policy noise-own");
            CHECK_CLOSE(r.ref_noise, golden_scalar(gj, "\"ref_noisy_own\""), 1e-4, 0, "reference noise-own");
            check_grads(t, "grad_stage2");
        }
    }
    printf("# stage-2 loss %.12g, golden %.12g\n", r.loss, golden_scalar(gj, "\"loss_stage2\""));
    pv_trainer_free(t);
    pv_llava_free(&m);
    free(gj);
    return check_done();
}
