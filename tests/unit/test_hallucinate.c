/* pv-hallucinate's library: vocabularies, co-occurrence statistics and the rules
 * engine. The central property is checked on 26 realistic LLaVA-style detailed
 * descriptions of COCO scenes (tests/data/hallucinate/coco_descriptions.jsonl,
 * whose `objects` list every object the lexicon reads in `chosen`): by the
 * lexicon's own reading (pv_lexicon_mentions, what pv-score uses), CHAIR_i of
 * `rejected` is higher than of `chosen`, every inserted object is hallucinated,
 * nothing else is, and no real object stops being mentioned. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_request.h"
#include "check.h"
#include "cooccur.h"
#include "diag.h"
#include "hallucinate.h"
#include "lexicon.h"
#include "vocab.h"

#define DATA "tests/data/hallucinate/coco_descriptions.jsonl"
#define MAXREC 64

typedef struct record {
    char *id, *chosen;
    const char *objects[16];
    size_t nobjects;
} record;

static size_t load_records(record *r, size_t max)
{
    FILE *f = fopen(DATA, "r");
    if (!f)
        return 0;
    char line[8192];
    size_t n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        if (!j)
            continue;
        r[n].id = strdup(cJSON_GetObjectItem(j, "id")->valuestring);
        r[n].chosen = strdup(cJSON_GetObjectItem(j, "chosen")->valuestring);
        const cJSON *o;
        r[n].nobjects = 0;
        cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "objects")) r[n].objects[r[n].nobjects++] =
            strdup(o->valuestring);
        cJSON_Delete(j);
        n++;
    }
    fclose(f);
    return n;
}

/* The distinct categories the lexicon reads in text, as a mask over categories. */
static void mentioned(const pv_lexicon *lex, const char *text, char *mask)
{
    pv_mention m[256];
    size_t n = pv_lexicon_mentions(lex, text, m, 256);
    memset(mask, 0, (size_t)pv_lexicon_size(lex));
    for (size_t i = 0; i < n && i < 256; i++)
        mask[m[i].category] = 1;
}

static void test_vocab(void)
{
    struct { const char *in, *out; } plurals[] = {
        {"dog", "dogs"},       {"bus", "buses"},       {"bench", "benches"},
        {"person", "people"},  {"knife", "knives"},    {"teddy bear", "teddy bears"},
        {"policeman", "policemen"}, {"strawberry", "strawberries"}, {"human", "humans"},
        {"sheep", "sheep"},    {"box", "boxes"},       {"toy", "toys"},
        {"woman", "women"},    {"glass", "glasses"},   {"child", "children"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof plurals / sizeof plurals[0]; i++) {
        char out[64];
        if (!pv_vocab_plural(plurals[i].in, strlen(plurals[i].in), out, sizeof out) ||
            strcmp(out, plurals[i].out) != 0) {
            printf("# plural of %s: got %s, want %s\n", plurals[i].in, out, plurals[i].out);
            bad++;
        }
    }
    CHECK(bad == 0, "plurals: regular, -es, -ies, irregular, compounds, two-word names");
    CHECK(strcmp(pv_vocab_article("elephant"), "an") == 0 &&
              strcmp(pv_vocab_article("umbrella"), "an") == 0 &&
              strcmp(pv_vocab_article("unicycle"), "a") == 0 &&
              strcmp(pv_vocab_article("hour"), "an") == 0 &&
              strcmp(pv_vocab_article("bench"), "a") == 0 &&
              strcmp(pv_vocab_article("one-way"), "a") == 0,
          "a/an by sound: an elephant, an umbrella, a unicycle, an hour, a bench, a one-way");
    CHECK(pv_vocab_count_value("three", 5) == 3 && pv_vocab_count_value("12", 2) == 12 &&
              pv_vocab_count_value("tree", 4) == -1,
          "count words and digits");
    size_t len = 0;
    const pv_relation *r = pv_vocab_relation_at("on the left of the bus", &len);
    CHECK(r && strcmp(r->phrase, "on the left") == 0 && len == 11, "longest relation wins");
    CHECK(pv_vocab_relation_at("onto the table", &len) == NULL, "relations end at a word boundary");
    CHECK(pv_vocab_attr_class("Wooden", 6) == PV_ATTR_MATERIAL &&
              pv_vocab_attr_class("red", 3) == PV_ATTR_COLOUR &&
              strcmp(pv_vocab_size_opposite("large", 5), "small") == 0,
          "attribute classes, size opposites");
    /* Every relation goes to a phrase that is itself known, so swaps can be undone. */
    int orphans = 0;
    for (size_t i = 0; i < pv_vocab_relation_count(); i++) {
        const pv_relation *x = pv_vocab_relation(i);
        const pv_relation *back = pv_vocab_relation_at(x->opposite, &len);
        if (!back) {
            printf("# opposite of '%s' ('%s') is not a relation itself\n", x->phrase, x->opposite);
            orphans++;
        }
    }
    CHECK(orphans == 0, "every relation's opposite starts with a relation");
}

static void test_cooccur(const pv_lexicon *lex)
{
    pv_cooccur *co = pv_cooccur_new();
    const char *a[] = {"dog", "frisbee", "person", "dog"};
    const char *b[] = {"Dog ", "bench"};
    const char *c[] = {"person", "bench", "bicycle"};
    pv_cooccur_add(co, a, 4);
    pv_cooccur_add(co, b, 2);
    pv_cooccur_add(co, c, 3);
    CHECK(pv_cooccur_records(co) == 3 && pv_cooccur_count(co, "dog") == 2 &&
              pv_cooccur_count(co, "bench") == 2 && pv_cooccur_pair(co, "dog", "bench") == 1 &&
              pv_cooccur_pair(co, "bench", "dog") == 1 && pv_cooccur_pair(co, "dog", "person") == 1,
          "counts: once per image, names lower-cased and trimmed, pairs symmetric");
    /* Present: dog. bench: 1/2, frisbee 1/2, person 1/2 -> ties by name. */
    pv_cooccur_candidate cand[8];
    const char *present[] = {"dog"};
    size_t n = pv_cooccur_rank(co, present, 1, cand, 8);
    CHECK(n == 3 && strcmp(cand[0].name, "bench") == 0 && strcmp(cand[1].name, "frisbee") == 0 &&
              strcmp(cand[2].name, "person") == 0,
          "rank: P(c | dog) with ties by name");
    /* Present: dog, bench. person = 1/2 + 1/2, bicycle 1/2, frisbee 1/2. */
    const char *present2[] = {"dog", "bench"};
    n = pv_cooccur_rank(co, present2, 2, cand, 8);
    CHECK(n == 3 && strcmp(cand[0].name, "person") == 0 && cand[0].score == 1.0 &&
              cand[1].score == 0.5,
          "rank: scores add over the present objects, present ones left out");

    char *json = pv_cooccur_to_json(co);
    char err[256];
    pv_cooccur *back = pv_cooccur_from_json(json, strlen(json), err, sizeof err);
    char *json2 = back ? pv_cooccur_to_json(back) : NULL;
    CHECK(json2 && strcmp(json, json2) == 0, "JSON round trip is exact");
    free(json);
    free(json2);
    pv_cooccur_free(back);
    const char *asym = "{\"format\":\"pv-cooccur\",\"version\":1,\"records\":1,"
                       "\"objects\":{\"a\":1,\"b\":1},\"pairs\":{\"a\":{\"b\":1}}}";
    back = pv_cooccur_from_json(asym, strlen(asym), err, sizeof err);
    CHECK(!back && strstr(err, "symmetric"), "asymmetric pairs are refused");
    const char *wrong = "{\"format\":\"other\"}";
    back = pv_cooccur_from_json(wrong, strlen(wrong), err, sizeof err);
    CHECK(!back && strstr(err, "pv-cooccur"), "a file of another format is refused");
    pv_cooccur_free(co);

    pv_cooccur *builtin = pv_cooccur_builtin();
    int missing = 0;
    for (int i = 0; i < pv_lexicon_size(lex); i++)
        if (pv_cooccur_count(builtin, pv_lexicon_name(lex, i)) == 0) {
            printf("# built-in table lacks %s\n", pv_lexicon_name(lex, i));
            missing++;
        }
    CHECK(missing == 0, "the built-in table covers every category of the lexicon");
    pv_cooccur_free(builtin);
}

/* Singular verbs that must not follow a raised count. */
static bool ends_with_singular_verb(const char *s)
{
    const char *w = strrchr(s, ' ');
    w = w ? w + 1 : s;
    return strcmp(w, "is") == 0 || strcmp(w, "was") == 0 || strcmp(w, "has") == 0 ||
           (pv_vocab_verb_plural(w, strlen(w)) != NULL && w[strlen(w) - 1] == 's');
}

/* "a" before a vowel sound or "an" before a consonant, anywhere in the text. */
static int article_errors(const char *text)
{
    int errors = 0;
    for (const char *p = text; *p; p++) {
        if (p != text && isalpha((unsigned char)p[-1]))
            continue;
        size_t n = (p[0] == 'a' || p[0] == 'A') && p[1] == ' ' ? 1
                   : (p[0] == 'a' || p[0] == 'A') && p[1] == 'n' && p[2] == ' ' ? 2 : 0;
        if (n == 0)
            continue;
        const char *next = p + n + 1;
        if (strcmp(pv_vocab_article(next), n == 1 ? "a" : "an") != 0) {
            printf("# article: ...%.30s\n", p);
            errors++;
        }
    }
    return errors;
}

static void test_property(const pv_lexicon *lex, record *recs, size_t n)
{
    pv_cooccur *co = pv_cooccur_builtin();
    pv_hal_options opt = {.lex = lex, .cooccur = co, .types = PV_EDIT_ALL, .edits = 3, .seed = 7};
    int ncat = pv_lexicon_size(lex);
    char *gt = malloc((size_t)ncat), *in_chosen = malloc((size_t)ncat), *in_rej = malloc((size_t)ncat);
    long chosen_mentions = 0, chosen_hal = 0, rej_mentions = 0, rej_hal = 0;
    int clean_chosen = 0, all_edited = 0, inserted_ok = 0, inserted = 0, stray = 0, lost = 0;
    int grammar = 0, changed = 0, full = 0, agreement = 0;
    for (size_t i = 0; i < n; i++) {
        memset(gt, 0, (size_t)ncat);
        for (size_t k = 0; k < recs[i].nobjects; k++) {
            int c = pv_lexicon_lookup(lex, recs[i].objects[k]);
            if (c >= 0)
                gt[c] = 1;
        }
        mentioned(lex, recs[i].chosen, in_chosen);
        int hal_here = 0;
        for (int c = 0; c < ncat; c++) {
            chosen_mentions += in_chosen[c];
            hal_here += in_chosen[c] && !gt[c];
        }
        chosen_hal += hal_here;
        clean_chosen += hal_here == 0;

        pv_hal_result res;
        size_t made = pv_hallucinate(&opt, recs[i].id, recs[i].chosen, recs[i].objects,
                                     recs[i].nobjects, &res);
        if (made == 0)
            continue;
        all_edited++;
        full += made == 3;
        changed += strcmp(res.text, recs[i].chosen) != 0;
        mentioned(lex, res.text, in_rej);
        char *expected_new = calloc((size_t)ncat, 1);
        for (size_t k = 0; k < res.n; k++) {
            if (res.edits[k].type == PV_EDIT_OBJECT) {
                int c = pv_lexicon_lookup(lex, res.edits[k].object);
                inserted++;
                if (c >= 0 && in_rej[c] && !gt[c] && !in_chosen[c])
                    inserted_ok++;
                else
                    printf("# %s: inserted %s is not a hallucination read in rejected\n",
                           recs[i].id, res.edits[k].object);
                if (c >= 0)
                    expected_new[c] = 1;
            }
            if (res.edits[k].type == PV_EDIT_ATTRIBUTE && isalpha((unsigned char)res.edits[k].to[0]) &&
                pv_vocab_count_value(res.edits[k].to, strcspn(res.edits[k].to, " ")) >= 2 &&
                ends_with_singular_verb(res.edits[k].to)) {
                printf("# %s: count without agreement: %s\n", recs[i].id, res.edits[k].to);
                agreement++;
            }
        }
        for (int c = 0; c < ncat; c++) {
            rej_mentions += in_rej[c];
            rej_hal += in_rej[c] && !gt[c];
            if (in_rej[c] && !in_chosen[c] && !expected_new[c]) {
                printf("# %s: %s appeared without being inserted\n", recs[i].id,
                       pv_lexicon_name(lex, c));
                stray++;
            }
            if (in_chosen[c] && !in_rej[c]) {
                printf("# %s: real object %s no longer mentioned\n", recs[i].id, pv_lexicon_name(lex, c));
                lost++;
            }
        }
        grammar += article_errors(res.text);
        free(expected_new);
        pv_hal_result_free(&res);
    }
    double chair_chosen = (double)chosen_hal / (double)chosen_mentions;
    double chair_rej = (double)rej_hal / (double)rej_mentions;
    printf("# %zu descriptions: CHAIR_i chosen %.3f (%ld/%ld), rejected %.3f (%ld/%ld); "
           "%d of %d inserted objects read as hallucinations\n",
           n, chair_chosen, chosen_hal, chosen_mentions, chair_rej, rej_hal, rej_mentions,
           inserted_ok, inserted);
    CHECK(n >= 24, "at least two dozen realistic descriptions loaded");
    CHECK(clean_chosen == (int)n, "the test data is right: chosen mentions only its objects");
    CHECK(all_edited == (int)n && changed == (int)n, "every description is rewritten, never unchanged");
    CHECK(full == (int)n, "three edits in each (kinds take turns; one left short is made up by the others)");
    CHECK(chair_rej > chair_chosen, "CHAIR_i of rejected is higher than of chosen");
    CHECK(inserted >= (int)n && inserted_ok == inserted,
          "every inserted object is a hallucination by the lexicon's reading");
    CHECK(stray == 0, "no object appears that was not inserted on purpose");
    CHECK(lost == 0, "every real object stays mentioned");
    CHECK(grammar == 0, "a/an agree with the next word everywhere in rejected");
    CHECK(agreement == 0, "raised counts carry plural verbs");
    free(gt);
    free(in_chosen);
    free(in_rej);
    pv_cooccur_free(co);
}

static void test_kinds_and_seeds(const pv_lexicon *lex, record *recs, size_t n)
{
    pv_cooccur *co = pv_cooccur_builtin();
    static const int kinds[] = {PV_EDIT_OBJECT, PV_EDIT_ATTRIBUTE, PV_EDIT_RELATION};
    for (size_t k = 0; k < 3; k++) {
        pv_hal_options opt = {.lex = lex, .cooccur = co, .types = (unsigned)kinds[k], .edits = 2};
        int ok = 1, edited = 0;
        for (size_t i = 0; i < n; i++) {
            pv_hal_result res;
            if (pv_hallucinate(&opt, recs[i].id, recs[i].chosen, recs[i].objects, recs[i].nobjects,
                               &res) == 0)
                continue;
            edited++;
            for (size_t e = 0; e < res.n; e++)
                ok &= res.edits[e].type == kinds[k];
            pv_hal_result_free(&res);
        }
        char what[96];
        snprintf(what, sizeof what, "--types %s: only that kind, and most descriptions admit it",
                 pv_edit_type_name(kinds[k]));
        printf("# %s edits applied to %d of %zu\n", pv_edit_type_name(kinds[k]), edited, n);
        CHECK(ok && edited >= (int)n * 3 / 4, what);
    }

    /* Same seed and id: same result, whatever was computed before. */
    pv_hal_options opt = {.lex = lex, .cooccur = co, .types = PV_EDIT_ALL, .edits = 3, .seed = 1};
    pv_hal_result a, b;
    pv_hallucinate(&opt, recs[3].id, recs[3].chosen, recs[3].objects, recs[3].nobjects, &a);
    for (size_t i = 0; i < n; i++) {
        pv_hal_result x;
        pv_hallucinate(&opt, recs[i].id, recs[i].chosen, recs[i].objects, recs[i].nobjects, &x);
        pv_hal_result_free(&x);
    }
    pv_hallucinate(&opt, recs[3].id, recs[3].chosen, recs[3].objects, recs[3].nobjects, &b);
    CHECK(strcmp(a.text, b.text) == 0, "deterministic for a seed and id, independent of order");
    pv_hal_result_free(&a);
    pv_hal_result_free(&b);
    int differ = 0;
    for (size_t i = 0; i < n; i++) {
        pv_hal_options o2 = opt;
        o2.seed = 2;
        pv_hallucinate(&opt, recs[i].id, recs[i].chosen, recs[i].objects, recs[i].nobjects, &a);
        pv_hallucinate(&o2, recs[i].id, recs[i].chosen, recs[i].objects, recs[i].nobjects, &b);
        differ += strcmp(a.text, b.text) != 0;
        pv_hal_result_free(&a);
        pv_hal_result_free(&b);
    }
    CHECK(differ >= (int)n / 2, "another seed gives other rewrites");

    pv_hal_options rel = {.lex = lex, .cooccur = co, .types = PV_EDIT_RELATION, .edits = 3};
    CHECK(pv_hallucinate(&rel, "x", "A dog.", NULL, 0, &a) == 0 && a.text == NULL,
          "no applicable edit: nothing made, no text");
    pv_cooccur_free(co);
}

static void test_grammar_cases(const pv_lexicon *lex)
{
    pv_cooccur *co = pv_cooccur_builtin();
    pv_hal_options opt = {.lex = lex, .cooccur = co, .types = PV_EDIT_ATTRIBUTE, .edits = 1};
    pv_hal_result r;
    pv_hallucinate(&opt, "g1", "A dog sits on the grass.", NULL, 0, &r);
    CHECK(r.text && (strcmp(r.text, "Two dogs sit on the grass.") == 0 ||
                     strcmp(r.text, "Three dogs sit on the grass.") == 0),
          "a dog sits -> two/three dogs sit");
    if (r.text)
        printf("# %s\n", r.text);
    pv_hal_result_free(&r);
    pv_hallucinate(&opt, "g2", "There is a cat under the table.", NULL, 0, &r);
    CHECK(r.text && strncmp(r.text, "There are t", 11) == 0 && strstr(r.text, " cats under"),
          "there is a cat -> there are two/three cats");
    if (r.text)
        printf("# %s\n", r.text);
    pv_hal_result_free(&r);
    pv_hallucinate(&opt, "g3", "An old man reads a book.", NULL, 0, &r);
    /* "old" is not swapped (not a colour, size or material); "a book" may become "two books". */
    CHECK(r.text && strstr(r.text, "An old man"), "adjectives outside the vocabularies stay");
    pv_hal_result_free(&r);
    pv_hallucinate(&opt, "g4", "A large orange sits in a bowl.", NULL, 0, &r);
    CHECK(r.text && (strstr(r.text, "A small orange") || strstr(r.text, "oranges")),
          "size swap keeps the article right");
    pv_hal_result_free(&r);

    opt.types = PV_EDIT_OBJECT;
    const char *objs[] = {"dog", "frisbee"};
    int list_form = 0, sentence_form = 0;
    for (int seed = 0; seed < 20; seed++) {
        opt.seed = (uint64_t)seed;
        pv_hallucinate(&opt, "g5", "A dog and a frisbee lie on the grass.", objs, 2, &r);
        if (r.text && strncmp(r.text, "A dog, a frisbee and a", 22) == 0)
            list_form++;
        else if (r.text && strstr(r.text, "grass. "))
            sentence_form++;
        else if (r.text)
            printf("# unexpected: %s\n", r.text);
        pv_hal_result_free(&r);
    }
    printf("# object insertions: %d into the list, %d as a sentence\n", list_form, sentence_form);
    CHECK(list_form > 0 && sentence_form > 0 && list_form + sentence_form == 20,
          "objects join a list (\"a dog, a frisbee and a bench\") or a new sentence");
    pv_cooccur_free(co);
}

/* RFC 4648, section 10: the published test vectors. */
static void test_base64(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    int bad = 0;
    for (size_t i = 0; i < 7; i++) {
        char *got = pv_base64((const unsigned char *)in[i], strlen(in[i]));
        if (strcmp(got, want[i]) != 0) {
            printf("# base64(%s) = %s, want %s\n", in[i], got, want[i]);
            bad++;
        }
        free(got);
    }
    CHECK(bad == 0, "base64 matches the RFC 4648 test vectors");
    const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0}, png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(strcmp(pv_image_mime(jpeg, 4), "image/jpeg") == 0 && strcmp(pv_image_mime(png, 8), "image/png") == 0 &&
              pv_image_mime((const unsigned char *)"GIF89a", 6) == NULL,
          "image type from the magic bytes");
}

int main(void)
{
    pv_init("test_hallucinate");
    pv_lexicon *lex = pv_lexicon_builtin();
    test_vocab();
    test_base64();
    test_cooccur(lex);
    record recs[MAXREC];
    size_t n = load_records(recs, MAXREC);
    if (n == 0) {
        CHECK(0, "test data " DATA " readable (run from the repository root)");
        return check_done();
    }
    test_property(lex, recs, n);
    test_kinds_and_seeds(lex, recs, n);
    test_grammar_cases(lex);
    for (size_t i = 0; i < n; i++) {
        free(recs[i].id);
        free(recs[i].chosen);
        for (size_t k = 0; k < recs[i].nobjects; k++)
            free((char *)recs[i].objects[k]);
    }
    pv_lexicon_free(lex);
    return check_done();
}
