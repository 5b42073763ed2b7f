/* Greedy and temperature / top-p generation (see generate.h). */
#include "generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "llava_forward.h"
#include "ops.h"
#include "philox.h"

pv_gen_params pv_gen_params_default(const pv_llava_model *m)
{
    return (pv_gen_params){
        .max_new_tokens = 512,
        .temperature = 0.0f,
        .top_p = 1.0f,
        .seed = 0,
        .eos = m->cfg.text.eos_token_id,
        .adapters_off = false,
    };
}

typedef struct prob_index {
    float p;
    int32_t i;
} prob_index;

size_t pv_sample_scratch_size(int vocab)
{
    return (size_t)vocab * sizeof(prob_index);
}

static int by_prob_desc(const void *a, const void *b)
{
    const prob_index *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int32_t pv_sample(float *logits, int vocab, float temperature, float top_p, double u,
                  void *scratch)
{
    if (temperature <= 0)
        return pv_op_argmax(logits, vocab);
    for (int i = 0; i < vocab; i++)
        logits[i] /= temperature;
    pv_op_softmax(logits, vocab);
    float *p = logits;

    if (top_p >= 1.0f) {
        double target = u, acc = 0;
        for (int i = 0; i < vocab; i++) {
            acc += p[i];
            if (acc > target)
                return i;
        }
        return pv_op_argmax(p, vocab); /* rounding left u above the total */
    }

    /* Nucleus: in descending probability, keep a token while the mass before it is
     * below top_p (so the token that crosses top_p is kept, and always the first),
     * which is Hugging Face's TopPLogitsWarper rule; then sample the kept tokens in
     * proportion to their probabilities. */
    prob_index *order = scratch;
    for (int i = 0; i < vocab; i++)
        order[i] = (prob_index){p[i], i};
    qsort(order, (size_t)vocab, sizeof *order, by_prob_desc);
    double mass = 0;
    int kept = 0;
    while (kept < vocab && (kept == 0 || mass < top_p))
        mass += order[kept++].p;
    double target = u * mass, acc = 0;
    for (int k = 0; k < kept; k++) {
        acc += order[k].p;
        if (acc > target)
            return order[k].i;
    }
    return order[kept - 1].i;
}

/* The k-th uniform number of a generation with this seed (pv_gen_uniform). */
double pv_gen_uniform(uint64_t seed, uint64_t k)
{
    return pv_philox_uniform(seed, PV_GEN_STREAM, k);
}

int pv_generate(const pv_llava_model *m, const int32_t *prompt, int n_prompt,
                const float *image_features, const pv_gen_params *p, int32_t *out,
                char *err, size_t errlen)
{
    int context = m->cfg.text.max_position_embeddings;
    if (n_prompt < 1)
        return pv_set_err(err, errlen, "empty prompt");
    if (n_prompt > context)
        return pv_set_err(err, errlen, "prompt of %d tokens does not fit the context of %d",
                        n_prompt, context);
    if (p->max_new_tokens < 1)
        return 0;
    /* The last token generated is never fed back, hence the - 1; the context caps it. */
    int max_tokens = n_prompt + p->max_new_tokens - 1;
    if (max_tokens > context)
        max_tokens = context;
    int vocab = m->cfg.text.vocab_size;
    pv_lm_session *s = pv_lm_session_new(m, max_tokens, !p->adapters_off);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    void *scratch = malloc(pv_sample_scratch_size(vocab));
    int count = -1;
    if (!s || !logits || !scratch) {
        pv_set_err(err, errlen, "out of memory");
        goto out;
    }
    if (pv_lm_prefill(s, prompt, n_prompt, image_features, logits) < 0) {
        pv_set_err(err, errlen, "%s", pv_lm_session_error(s));
        goto out;
    }
    for (count = 0; count < p->max_new_tokens;) {
        int32_t tok = pv_sample(logits, vocab, p->temperature, p->top_p,
                                pv_gen_uniform(p->seed, (uint64_t)count), scratch);
        if (tok == p->eos)
            break;
        out[count++] = tok;
        if (count == p->max_new_tokens || pv_lm_session_pos(s) == max_tokens)
            break;
        if (pv_lm_decode(s, tok, logits) < 0) {
            count = pv_set_err(err, errlen, "%s", pv_lm_session_error(s));
            break;
        }
    }
out:
    free(scratch);
    free(logits);
    pv_lm_session_free(s);
    return count;
}
