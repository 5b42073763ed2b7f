/* libFuzzer target: the tokenizer.json reader, encoding and decoding.
 *
 * Input "JSON\0TEXT": JSON is loaded as a tokenizer.json (it must load or be refused
 * with a message, never crash); when it loads, TEXT is encoded at each position
 * (text start, after an added token, continuing) and decoded, and every id must be
 * inside the vocabulary.
 * Input without a NUL byte: the whole input is TEXT for a built-in tokenizer with
 * all 256 byte pieces, where decoding must give the text back exactly (valid UTF-8
 * without "▁" that does not start with a space; otherwise invalid bytes read as
 * U+FFFD and the leading space is the decoder's Strip). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pv_tokenizer *builtin;

/* Byte pieces, "▁", letters, a few merges, and <s> </s> <image> as added tokens. */
static pv_tokenizer *make_builtin(void)
{
    size_t cap = 1 << 16, n = 0;
    char *j = malloc(cap);
    n += (size_t)snprintf(j + n, cap - n,
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
        "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true},"
        "{\"id\":300,\"content\":\"<image>\",\"special\":true}],"
        "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\","
        "\"prepend_scheme\":\"first\",\"split\":false},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":"
        "\"\xe2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
        "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
        "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"fuse_unk\":true,\"unk_token\":\"<unk>\","
        "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    for (int b = 0; b < 256; b++)
        n += (size_t)snprintf(j + n, cap - n, ",\"<0x%02X>\":%d", b, 3 + b);
    n += (size_t)snprintf(j + n, cap - n,
        ",\"\xe2\x96\x81\":259,\"a\":260,\"b\":261,\"\xe2\x96\x81" "a\":262,\"ab\":263,"
        "\"\xe2\x96\x81\xe2\x96\x81\":264,\"\xc3\xa9\":265,\"\xe4\xb8\xad\":266,\"\xe2\x96\x81" "ab\":267},"
        "\"merges\":[\"\xe2\x96\x81 \xe2\x96\x81\",\"a b\",\"\xe2\x96\x81 a\",\"\xe2\x96\x81" "a b\"]}}");
    char err[256];
    pv_tokenizer *tok = pv_tokenizer_load_json(j, n, err, sizeof err);
    free(j);
    if (!tok) {
        fprintf(stderr, "built-in tokenizer: %s\n", err);
        abort();
    }
    return tok;
}

static void check_ids(const pv_tokenizer *tok, const int32_t *ids, long n)
{
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= pv_tokenizer_vocab_size(tok) || !pv_tokenizer_piece(tok, ids[i]))
            abort();
}

static void exercise(const pv_tokenizer *tok, const char *text, size_t len)
{
    for (int pos = PV_TOK_TEXT_START; pos <= PV_TOK_CONTINUES; pos++) {
        int32_t *ids;
        long n = pv_tokenizer_encode_at(tok, text, len, (enum pv_tok_position)pos, &ids);
        if (n < 0)
            continue;
        check_ids(tok, ids, n);
        for (int skip = 0; skip < 2; skip++) {
            char *back = pv_tokenizer_decode(tok, ids, (size_t)n, skip);
            if (back && pv_utf8_invalid_at(back, strlen(back)) != (size_t)-1)
                abort(); /* decoding always yields valid UTF-8 */
            free(back);
        }
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    if (nul) {
        char err[256];
        pv_tokenizer *tok = pv_tokenizer_load_json(s, (size_t)(nul - s), err, sizeof err);
        if (!tok) {
            if (!err[0])
                abort(); /* a refusal always says why */
            return 0;
        }
        exercise(tok, nul + 1, size - (size_t)(nul - s) - 1);
        pv_tokenizer_free(tok);
        return 0;
    }
    if (!builtin)
        builtin = make_builtin();
    exercise(builtin, s, size);
    /* Round trip: exact for valid UTF-8 without "▁" that does not start with a space. */
    char *text = malloc(size + 1);
    memcpy(text, s, size);
    text[size] = 0;
    if (pv_utf8_invalid_at(text, size) == (size_t)-1 && !strstr(text, "\xe2\x96\x81") &&
        (size == 0 || text[0] != ' ')) {
        int32_t *ids;
        long n = pv_tokenizer_encode_at(builtin, text, size, PV_TOK_TEXT_START, &ids);
        if (n < 0)
            abort();
        char *back = pv_tokenizer_decode(builtin, ids, (size_t)n, false);
        if (!back || strlen(back) != size || memcmp(back, text, size) != 0) {
            fprintf(stderr, "round trip failed: \"%s\" -> \"%s\"\n", text, back ? back : "(null)");
            abort();
        }
        free(back);
        free(ids);
    }
    free(text);
    return 0;
}
