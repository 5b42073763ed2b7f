/* Preference losses against golden.json (transformers + peft in float64) and
 * AdamW / schedules against values worked out by hand from PyTorch's formulas. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dpo_loss.h"
#include "optim.h"
#include "paths.h"

static double num(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItem(o, k)->valuedouble;
}

static void golden_losses(void)
{
    const char *shared = getenv("PV_SHARED") ? getenv("PV_SHARED") : "../shared";
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/tiny-llava/golden.json", shared);
    char *text = pv_read_file(path, NULL);
    if (!text) {
        printf("ok %d - golden losses # SKIP %s absent\n", ++check_count, path);
        return;
    }
    cJSON *g = cJSON_Parse(text);
    double beta = num(g, "beta");
    pv_pref_terms s1 = pv_pref_loss(PV_LOSS_SIGMOID, beta, num(g, "policy_chosen"),
                                    num(g, "policy_rejected"), num(g, "ref_chosen"),
                                    num(g, "ref_rejected"));
    CHECK_CLOSE(s1.loss, num(g, "loss_stage1"), 1e-12, 0, "stage-1 DPO loss equals golden");
    pv_pref_terms own = pv_pref_loss(PV_LOSS_SIGMOID, beta, num(g, "policy_chosen"),
                                     num(g, "policy_noisy_own"), num(g, "ref_chosen"),
                                     num(g, "ref_noisy_own"));
    CHECK_CLOSE(0.5 * s1.loss + 0.5 * own.loss, num(g, "loss_stage2"), 1e-12, 0,
                "stage-2 loss (0.5 hallucinated + 0.5 noise-own) equals golden");
    cJSON_Delete(g);
    free(text);
}

/* dL/dh against a central difference of L. */
static void derivatives(void)
{
    for (int k = 0; k < 3; k++) {
        for (double h0 = -30; h0 <= 30; h0 += 7.5) {
            double eps = 1e-5;
            pv_pref_terms t = pv_pref_loss(k, 0.1, h0, 0, 0, 0);
            double lp = pv_pref_loss(k, 0.1, h0 + eps, 0, 0, 0).loss;
            double lm = pv_pref_loss(k, 0.1, h0 - eps, 0, 0, 0).loss;
            char what[96];
            snprintf(what, sizeof what, "%s: dL/dh at h=%g matches central difference",
                     pv_pref_loss_names[k], h0);
            CHECK_CLOSE(t.dloss_dh, (lp - lm) / (2 * eps), 1e-6, 1e-8, what);
        }
    }
    CHECK_CLOSE(pv_log_sigmoid(-800), -800, 1e-15, 0, "log sigmoid does not overflow");
}

static void adamw(void)
{
    /* Two steps by hand, PyTorch AdamW (lr 0.1, wd 0.01, betas 0.9/0.999, eps 1e-8). */
    pv_adamw opt = {0.9, 0.999, 1e-8, 0.01, 0};
    float p = 1.0f, m = 0, v = 0;
    float g1 = 0.5f, g2 = -0.25f;
    pv_adamw_update(&opt, 0.1, 1, &p, &g1, &m, &v, 1);
    /* step 1: p = 1 * (1 - 0.001) = 0.999; m = 0.05; v = 0.00025; mhat = 0.5, vhat = 0.25
     * p -= 0.1 * 0.5 / (0.5 + 1e-8) -> 0.899 (+2e-9) */
    CHECK_CLOSE(p, 0.899 + 0.1 * 0.5 * 1e-8 / (0.5 * 0.5), 1e-7, 0, "AdamW step 1");
    pv_adamw_update(&opt, 0.1, 2, &p, &g2, &m, &v, 1);
    double pp = 0.899 * (1 - 0.001);
    double mm = 0.9 * 0.05 + 0.1 * -0.25, vv = 0.999 * 0.00025 + 0.001 * 0.0625;
    double want = pp - 0.1 / (1 - 0.81) * mm / (sqrt(vv) / sqrt(1 - 0.998001) + 1e-8);
    CHECK_CLOSE(p, want, 1e-6, 0, "AdamW step 2");
    CHECK_CLOSE(pv_clip_factor(4.0, 1.0), 1.0 / (4.0 + 1e-6), 1e-12, 0, "clip factor below");
    CHECK(pv_clip_factor(0.5, 1.0) == 1.0, "no clipping under max norm");
}

static void schedules(void)
{
    long total = 100, warm = pv_warmup_steps(0.03, total);
    CHECK(warm == 3, "warmup = ceil(0.03 * 100)");
    CHECK(pv_warmup_steps(0.03, 10) == 1, "warmup = ceil(0.3) = 1");
    CHECK(pv_lr_at(PV_LR_COSINE, 1e-6, 0, warm, total) == 0, "lr 0 at step 0");
    CHECK_CLOSE(pv_lr_at(PV_LR_COSINE, 1e-6, 1, warm, total), 1e-6 / 3, 1e-12, 0, "warmup is linear");
    CHECK_CLOSE(pv_lr_at(PV_LR_COSINE, 1e-6, warm, warm, total), 1e-6, 1e-12, 0, "peak after warmup");
    CHECK_CLOSE(pv_lr_at(PV_LR_COSINE, 1.0, 3 + 97 / 2, warm, total),
                0.5 * (1 + cos(M_PI * 48.0 / 97.0)), 1e-12, 0, "cosine value");
    CHECK(pv_lr_at(PV_LR_COSINE, 1.0, total, warm, total) < 1e-15, "cosine reaches 0");
    CHECK_CLOSE(pv_lr_at(PV_LR_LINEAR, 1.0, 50, warm, total), 50.0 / 97.0, 1e-12, 0, "linear decay");
    CHECK(pv_lr_at(PV_LR_CONSTANT, 2.0, 50, warm, total) == 2.0, "constant");
}

int main(void)
{
    golden_losses();
    derivatives();
    adamw();
    schedules();
    return check_done();
}
