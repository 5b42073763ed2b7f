/* Tokenizer: small tokenizer.json files written here for each rule (merge ranks,
 * byte fallback, unknown pieces, both leading-space spellings, added tokens, the
 * decoder chain, refusal of other model families), then the fixture's LLaMA-2
 * tokenizer.json against golden.safetensors/golden.json (transformers' ids) and
 * decodes that Hugging Face tokenizers 0.23.3 printed for the same ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "paths.h"
#include "safetensors.h"
#include "tokenizer.h"

/* ---------- helpers ---------- */

static bool same_ids(const int32_t *got, long n, const int32_t *want, long m, const char *what)
{
    if (n == m && (n == 0 || memcmp(got, want, (size_t)n * sizeof *got) == 0))
        return true;
    printf("# %s: got %ld ids [", what, n);
    for (long i = 0; i < n && i < 100; i++)
        printf(i ? " %d" : "%d", got[i]);
    printf("], want %ld [", m);
    for (long i = 0; i < m && i < 100; i++)
        printf(i ? " %d" : "%d", want[i]);
    printf("]\n");
    return false;
}

/* Encodes (no <s>) and compares with the expected ids. */
static void expect_ids(const pv_tokenizer *tok, const char *text, const int32_t *want, long m,
                       const char *what)
{
    int32_t *ids;
    long n = pv_tokenizer_encode(tok, text, false, &ids);
    CHECK(n >= 0 && same_ids(ids, n, want, m, what), what);
    free(ids);
}

static void expect_text(const pv_tokenizer *tok, const int32_t *ids, size_t n, bool skip,
                        const char *want, const char *what)
{
    char *got = pv_tokenizer_decode(tok, ids, n, skip);
    bool ok = got && strcmp(got, want) == 0;
    if (!ok)
        printf("# %s: got \"%s\" want \"%s\"\n", what, got ? got : "(null)", want);
    CHECK(ok, what);
    free(got);
}

/* A tokenizer.json from its parts (JSON texts). */
static pv_tokenizer *make(const char *normalizer, const char *pre, const char *model_extra,
                          const char *merges, const char *added, char *err, size_t errlen)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"version\":\"1.0\",\"added_tokens\":%s,\"normalizer\":%s,\"pre_tokenizer\":%s,"
             "\"decoder\":{\"type\":\"Sequence\",\"decoders\":["
             "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},"
             "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
             "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
             "\"model\":{\"type\":\"BPE\",%s\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,"
             "\"<0xC3>\":3,\"<0xA9>\":4,\"\xe2\x96\x81\":5,\"a\":6,\"b\":7,\"c\":8,\"ab\":9,"
             "\"bc\":10,\"\xe2\x96\x81" "a\":11,\"aa\":12,\"\xe2\x96\x81\xe2\x96\x81\":13},"
             "\"merges\":%s}}",
             added, normalizer, pre, model_extra, merges);
    return pv_tokenizer_load_json(json, strlen(json), err, errlen);
}

static const char ADDED[] =
    "[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":2,\"content\":\"</s>\",\"special\":true},"
    "{\"id\":14,\"content\":\"<m>\",\"special\":false,\"lstrip\":true,\"rstrip\":true}]";
static const char METASPACE_FIRST[] =
    "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\","
    "\"split\":false}";
static const char LEGACY_NORM[] =
    "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]}";
static const char FALLBACK[] = "\"byte_fallback\":true,\"fuse_unk\":true,\"unk_token\":\"<unk>\",";

/* ---------- rules on small vocabularies ---------- */

static void test_merge_ranks(void)
{
    char err[256];
    /* "abc": with "b c" ranked first the result is a|bc, with "a b" first ab|c. */
    pv_tokenizer *t1 = make("null", "null", FALLBACK, "[\"b c\",\"a b\"]", ADDED, err, sizeof err);
    pv_tokenizer *t2 = make("null", "null", FALLBACK, "[[\"a\",\"b\"],[\"b\",\"c\"]]", ADDED, err,
                            sizeof err);
    CHECK(t1 && t2, "small tokenizer.json files load (merges as strings and as pairs)");
    if (!t1 || !t2)
        return;
    expect_ids(t1, "abc", (int32_t[]){6, 10}, 2, "lower rank merges first: a|bc");
    expect_ids(t2, "abc", (int32_t[]){9, 8}, 2, "lower rank merges first: ab|c");
    pv_tokenizer *t3 = make("null", "null", FALLBACK, "[\"a a\"]", ADDED, err, sizeof err);
    expect_ids(t3, "aaa", (int32_t[]){12, 6}, 2, "equal ranks: leftmost pair first (aa|a)");
    expect_ids(t3, "aaaaa", (int32_t[]){12, 12, 6}, 3, "a run merges pairwise from the left");
    /* Byte fallback: "é" (C3 A9) is not a piece; its bytes are. */
    expect_ids(t1, "a\xc3\xa9" "b", (int32_t[]){6, 3, 4, 7}, 4, "byte fallback: <0xC3><0xA9>");
    /* "ü" = C3 BC: <0xBC> is missing, so the whole character is <unk>; fuse_unk joins runs. */
    expect_ids(t1, "\xc3\xbc\xc3\xbc" "a", (int32_t[]){0, 6}, 2, "unknown character: one fused <unk>");
    pv_tokenizer *t4 = make("null", "null", "\"unk_token\":\"<unk>\",", "[]", ADDED, err, sizeof err);
    expect_ids(t4, "\xc3\xa9\xc3\xa9", (int32_t[]){0, 0}, 2, "without byte_fallback or fuse_unk: <unk> <unk>");
    expect_ids(t1, "a\xff" "b", (int32_t[]){6, 0, 7}, 3, "invalid UTF-8 reads as U+FFFD (here <unk>)");
    pv_tokenizer_free(t1);
    pv_tokenizer_free(t2);
    pv_tokenizer_free(t3);
    pv_tokenizer_free(t4);
}

static void test_leading_space(void)
{
    char err[256];
    const char *merges = "[\"\xe2\x96\x81 \xe2\x96\x81\",\"\xe2\x96\x81 a\"]";
    pv_tokenizer *first = make("null", METASPACE_FIRST, FALLBACK, merges, ADDED, err, sizeof err);
    pv_tokenizer *legacy = make(LEGACY_NORM, "null", FALLBACK, merges, ADDED, err, sizeof err);
    pv_tokenizer *always = make("null",
                                "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\","
                                "\"prepend_scheme\":\"always\",\"split\":true}",
                                FALLBACK, merges, ADDED, err, sizeof err);
    CHECK(first && legacy && always, "Metaspace first/always and Prepend+Replace load");
    if (!first || !legacy || !always)
        return;
    /* ▁=5 a=6 b=7 ▁a=11 ▁▁=13 */
    expect_ids(first, "a b", (int32_t[]){11, 5, 7}, 3, "Metaspace first: \"a b\" -> ▁a ▁ b");
    expect_ids(legacy, "a b", (int32_t[]){11, 5, 7}, 3, "Prepend+Replace: \"a b\" -> ▁a ▁ b");
    expect_ids(first, " a", (int32_t[]){11}, 1, "Metaspace first: no second ▁ when the text starts with a space");
    expect_ids(legacy, " a", (int32_t[]){13, 6}, 2, "Prepend+Replace: always prepends (▁▁ a)");
    expect_ids(first, "<s>a", (int32_t[]){1, 6}, 2, "Metaspace first: no ▁ after an added token");
    expect_ids(legacy, "<s>a", (int32_t[]){1, 11}, 2, "Prepend+Replace: ▁ after an added token");
    expect_ids(always, "<s>a", (int32_t[]){1, 11}, 2, "Metaspace always: ▁ after an added token");
    expect_ids(first, "a  a", (int32_t[]){11, 13, 6}, 3, "split false: ▁▁ merges across words");
    expect_ids(always, "a  a", (int32_t[]){11, 5, 11}, 3, "split true: words cut before each ▁");
    expect_ids(first, "a <m> b", (int32_t[]){11, 14, 7}, 3, "lstrip/rstrip added token takes the spaces around it");
    expect_ids(first, "", NULL, 0, "empty text: no ids");
    int32_t *ids;
    long n = pv_tokenizer_encode(first, "a", true, &ids);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 11, "add_bos puts <s> first");
    free(ids);
    n = pv_tokenizer_encode_at(first, "a", 1, PV_TOK_CONTINUES, &ids);
    CHECK(n == 1 && ids[0] == 6, "PV_TOK_CONTINUES: no prefix");
    free(ids);
    n = pv_tokenizer_encode_at(legacy, "a", 1, PV_TOK_AFTER_ADDED, &ids);
    CHECK(n == 1 && ids[0] == 11, "PV_TOK_AFTER_ADDED with Prepend: prefix");
    free(ids);

    /* Decoding: ▁ -> space, bytes fused back into UTF-8, one leading space stripped. */
    expect_text(first, (int32_t[]){1, 11, 3, 4, 5, 7, 2}, 7, true, "a\xc3\xa9 b", "decode, skipping <s> </s>");
    expect_text(first, (int32_t[]){1, 11, 7, 2}, 4, false, "<s> ab</s>", "decode with special tokens");
    expect_text(first, (int32_t[]){6, 3, 7}, 3, true, "a\xef\xbf\xbd" "b", "a lone byte decodes to U+FFFD");
    expect_text(first, (int32_t[]){6, 14, 6}, 3, true, "a<m>a", "non-special added token kept");
    expect_text(first, (int32_t[]){6, 999, -1}, 3, true, "a", "unknown ids are skipped");
    pv_tokenizer_free(first);
    pv_tokenizer_free(legacy);
    pv_tokenizer_free(always);
}

static void expect_refused(const char *json, const char *needle, const char *what)
{
    char err[256] = "";
    pv_tokenizer *t = pv_tokenizer_load_json(json, strlen(json), err, sizeof err);
    bool ok = !t && strstr(err, needle);
    if (!ok)
        printf("# %s: message \"%s\" (wanted \"%s\")\n", what, err, needle);
    CHECK(ok, what);
    pv_tokenizer_free(t);
}

static void test_refusals(void)
{
    expect_refused("not json", "JSON", "garbage is refused");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xff\":0},\"merges\":[]}}",
                   "UTF-8", "invalid UTF-8 in tokenizer.json is refused");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\udc80\":0},\"merges\":[]}}",
                   "JSON", "a lone surrogate escape in tokenizer.json is refused");
    expect_refused("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", "WordPiece",
                   "a WordPiece tokenizer.json is refused");
    expect_refused("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0]]}}", "Unigram",
                   "a Unigram tokenizer.json is refused");
    expect_refused("{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},\"merges\":[]}}",
                   "byte-level", "a byte-level BPE (GPT-2 style) is refused");
    expect_refused("{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},\"merges\":[]}}",
                   "NFKC", "an unsupported normalizer is refused");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}",
                   "not in the vocabulary", "a merge of unknown pieces is refused");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}",
                   "valid id", "a negative id is refused");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", "empty",
                   "an empty vocabulary is refused");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],"
                   "\"continuing_subword_prefix\":\"##\"}}",
                   "continuing_subword_prefix", "a BPE with a subword prefix is refused");
    char err[256];
    CHECK(!pv_tokenizer_load("/nonexistent/tokenizer.json", err, sizeof err) &&
              strstr(err, "/nonexistent/tokenizer.json"),
          "a missing file is refused with its name");
}

/* ---------- the fixture ---------- */

/* An int32 tensor of golden.safetensors with its image-token run collapsed to one id,
 * which is what the tokenizer itself produces for "<image>". */
static long golden_ids(const pv_st_file *st, const char *name, int32_t image, int32_t **out)
{
    const pv_st_tensor *t = pv_st_find(st, name);
    if (!t || t->dtype != PV_ST_I32)
        return -1;
    int32_t *v = malloc((size_t)t->numel * sizeof *v);
    long n = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        int32_t id;
        memcpy(&id, t->data + 4 * i, 4);
        if (id == image && n > 0 && v[n - 1] == image)
            continue;
        v[n++] = id;
    }
    *out = v;
    return n;
}

static void test_fixture(const char *dir)
{
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    pv_tokenizer *tok = pv_tokenizer_load(path, err, sizeof err);
    if (!tok)
        printf("# %s\n", err);
    CHECK(tok, "fixture tokenizer.json loads");
    if (!tok)
        return;
    CHECK(pv_tokenizer_vocab_size(tok) == 32002, "vocabulary: 32000 pieces + <image> + <pad>");
    CHECK(pv_tokenizer_bos(tok) == 1 && pv_tokenizer_eos(tok) == 2, "<s> = 1, </s> = 2");
    CHECK(pv_tokenizer_piece_id(tok, "<image>") == 32000 && pv_tokenizer_piece_id(tok, "<pad>") == 32001,
          "<image> = 32000, <pad> = 32001");
    CHECK(pv_tokenizer_is_special(tok, 32000) && !pv_tokenizer_is_special(tok, 319),
          "<image> is special, ▁A is not");
    CHECK(pv_tokenizer_piece_id(tok, "\xe2\x96\x81the") == 278 && pv_tokenizer_piece_id(tok, "<0x0A>") == 13,
          "piece ids: ▁the = 278, <0x0A> = 13");
    const char *p = pv_tokenizer_piece(tok, 29871);
    CHECK(p && strcmp(p, "\xe2\x96\x81") == 0, "piece 29871 is ▁");

    snprintf(path, sizeof path, "%s/golden.json", dir);
    char *text = pv_read_file(path, NULL);
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    free(text);
    pv_st_file st;
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    int st_ok = pv_st_open(path, &st, err, sizeof err) == 0;
    CHECK(g && st_ok, "golden.json and golden.safetensors read");
    if (!g || !st_ok) {
        cJSON_Delete(g);
        pv_tokenizer_free(tok);
        return;
    }
    const char *prompt = cJSON_GetObjectItem(g, "prompt_text")->valuestring;
    const char *responses[] = {cJSON_GetObjectItem(g, "chosen_text")->valuestring,
                               cJSON_GetObjectItem(g, "rejected_text")->valuestring};
    const char *names[] = {"chosen_ids", "rejected_ids"};

    int32_t *want, *ids;
    long m = golden_ids(&st, "prompt_ids", 32000, &want);
    long n = pv_tokenizer_encode(tok, prompt, true, &ids);
    CHECK(m > 0 && n >= 0 && same_ids(ids, n, want, m, "prompt"), "prompt_text -> prompt_ids exactly");
    const cJSON *before = cJSON_GetObjectItem(g, "ids_before_image");
    int nb = cJSON_GetArraySize(before);
    bool ok = n > nb && ids[nb] == 32000;
    for (int i = 0; ok && i < nb; i++)
        ok = ids[i] == cJSON_GetArrayItem(before, i)->valueint;
    CHECK(ok, "the ids before <image> equal golden.json's ids_before_image (ends with lone ▁ 29871)");
    free(want);
    free(ids);

    for (int k = 0; k < 2; k++) {
        /* transformers tokenised the prompt, a space and the response as one text. */
        char *full = malloc(strlen(prompt) + strlen(responses[k]) + 8);
        sprintf(full, "%s %s</s>", prompt, responses[k]);
        m = golden_ids(&st, names[k], 32000, &want);
        n = pv_tokenizer_encode(tok, full, true, &ids);
        char what[64];
        snprintf(what, sizeof what, "prompt + response -> %s exactly", names[k]);
        CHECK(m > 0 && n >= 0 && same_ids(ids, n, want, m, names[k]), what);
        /* Decoding: the text back, without the specials and the <image> placeholder. */
        char *dec = pv_tokenizer_decode(tok, ids, (size_t)n, true);
        char *expect = malloc(strlen(full) + 1);
        const char *img = strstr(prompt, "<image>");
        sprintf(expect, "%.*s%s %s", (int)(img - prompt), prompt, img + 7, responses[k]);
        snprintf(what, sizeof what, "decode(%s) gives the text back", names[k]);
        if (!dec || strcmp(dec, expect) != 0)
            printf("# got  \"%s\"\n# want \"%s\"\n", dec ? dec : "(null)", expect);
        CHECK(dec && strcmp(dec, expect) == 0, what);
        free(dec);
        free(expect);
        free(full);
        free(want);
        free(ids);
    }

    /* greedy12 -> greedy12_text: transformers' decode of the same ids. */
    const pv_st_tensor *gt = pv_st_find(&st, "greedy12");
    if (gt && gt->dtype == PV_ST_I32) {
        int32_t g12[12];
        memcpy(g12, gt->data, sizeof g12);
        expect_text(tok, g12, 12, true, cJSON_GetObjectItem(g, "greedy12_text")->valuestring,
                    "decode(greedy12) == greedy12_text");
    } else {
        CHECK(0, "greedy12 is an int32 tensor");
    }

    /* Decodes printed by Hugging Face tokenizers 0.23.3 for these ids. */
    int32_t mixed[] = {1, 319, 13563, 3148, 1001, 29901, 29871, 32000, 32000, 13, 4002, 29581,
                       29901, 450, 1967, 29889, 2};
    expect_text(tok, mixed, 17, false,
                "<s> A chat USER: <image><image>\nDescribe: The image.</s>",
                "decode keeping specials (as tokenizers 0.23.3)");
    expect_text(tok, mixed, 17, true, "A chat USER: \nDescribe: The image.",
                "decode skipping specials (as tokenizers 0.23.3)");
    expect_text(tok, (int32_t[]){29871, 450}, 2, true, " The", "▁ ▁The -> \" The\" (one space stripped)");
    expect_text(tok, (int32_t[]){319, 243, 162, 155, 131, 243}, 6, true,
                "A\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                "invalid byte runs -> one U+FFFD per byte (as tokenizers 0.23.3)");
    int32_t want_sp[] = {1, 22172, 2, 29916};
    expect_ids(tok, "<s> hello</s>x", want_sp, 4, "added tokens in text (as tokenizers 0.23.3)");

    /* Round trips over scripts, bytes and emoji. */
    const char *texts[] = {
        "The image shows a red bus parked next to a tree.",
        "Zürich, naïve café — “quoted” … 12,345.67%",
        "中文字幕 日本語のテキスト 한국어",
        "emoji \xf0\x9f\x98\x80\xf0\x9f\x9a\x8c \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 flags \xf0\x9f\x87\xab\xf0\x9f\x87\xb7",
        "tabs\tand\x01control\x1f bytes\x7f, rare \xf0\x90\x8d\x88 \xee\x80\x80",
        "multi   spaces    inside   ",
        "line one\nline two\r\n",
        "<image>\nDescribe this image in detail.",
    };
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        n = pv_tokenizer_encode(tok, texts[k], true, &ids);
        char *dec = n >= 0 ? pv_tokenizer_decode(tok, ids, (size_t)n, false) : NULL;
        char want_text[256];
        snprintf(want_text, sizeof want_text, "<s>%s%s", texts[k][0] == '<' ? "" : " ", texts[k]);
        char what[96];
        snprintf(what, sizeof what, "round trip %zu: decode(encode(text))", k);
        if (!dec || strcmp(dec, want_text) != 0)
            printf("# got \"%s\"\n# want \"%s\"\n", dec ? dec : "(null)", want_text);
        CHECK(dec && strcmp(dec, want_text) == 0, what);
        free(dec);
        free(ids);
    }
    pv_st_close(&st);
    cJSON_Delete(g);
    pv_tokenizer_free(tok);
}

int main(void)
{
    test_merge_ranks();
    test_leading_space();
    test_refusals();
    const char *shared = getenv("PV_SHARED") ? getenv("PV_SHARED") : "../shared";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures/tiny-llava", shared);
    struct stat sb;
    if (stat(dir, &sb) == 0)
        test_fixture(dir);
    else
        printf("ok %d - fixture tests # SKIP no fixtures (PV_SHARED/fixtures/tiny-llava)\n",
               ++check_count);
    return check_done();
}
