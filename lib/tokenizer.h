/* LLaMA's SentencePiece-BPE tokenizer as Hugging Face stores it (tokenizer.json):
 * BPE with merges applied by rank, byte fallback (<0xNN>), the leading-space rule
 * in either spelling (Metaspace pre-tokenizer with prepend_scheme "first"/"always",
 * or the older normalizer Prepend("▁") + Replace(" ", "▁")), and added/special
 * tokens (<s>, </s>, <unk>, <image>, <pad>) matched before BPE. */
#ifndef PV_TOKENIZER_H
#define PV_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pv_tokenizer pv_tokenizer;

/* NULL with a message in err (not a BPE tokenizer.json, another model family, ...). */
pv_tokenizer *pv_tokenizer_load(const char *path, char *err, size_t errlen);
void pv_tokenizer_free(pv_tokenizer *tok);

/* Encodes text as transformers' tokenizer(text) does; add_bos puts <s> first.
 * Returns the number of ids written to a malloc'd *ids, or -1 on failure. */
long pv_tokenizer_encode(const pv_tokenizer *tok, const char *text, bool add_bos, int32_t **ids);
/* Decodes ids back to text (malloc'd); skip_special drops <s>, </s>, <pad>, ... */
char *pv_tokenizer_decode(const pv_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special);
/* Id of a piece or special token, or -1. */
int32_t pv_tokenizer_piece_id(const pv_tokenizer *tok, const char *piece);
int32_t pv_tokenizer_bos(const pv_tokenizer *tok);
int32_t pv_tokenizer_eos(const pv_tokenizer *tok);
size_t pv_tokenizer_vocab_size(const pv_tokenizer *tok);

/* Extensions (backward compatible; added by the tokenizer engineer). */

/* Like pv_tokenizer_load, from tokenizer.json text in memory (len bytes). */
pv_tokenizer *pv_tokenizer_load_json(const char *json, size_t len, char *err, size_t errlen);

/* Where a stretch of text sits, which decides whether it gets the leading "▁". */
enum pv_tok_position {
    PV_TOK_TEXT_START,  /* the start of the whole text (what pv_tokenizer_encode does) */
    PV_TOK_AFTER_ADDED, /* right after an added token such as <image> */
    PV_TOK_CONTINUES,   /* inside text that began earlier: never a prefix */
};
/* Encodes len bytes of text (added tokens matched, no <s>) as if it sat at `pos` of a
 * longer text. Invalid UTF-8 is read as U+FFFD. Returns the count and *ids, or -1. */
long pv_tokenizer_encode_at(const pv_tokenizer *tok, const char *text, size_t len,
                            enum pv_tok_position pos, int32_t **ids);
/* The piece (or added token) text of an id, NULL when out of range. */
const char *pv_tokenizer_piece(const pv_tokenizer *tok, int32_t id);
/* True for the added tokens marked "special" (<s>, </s>, <unk>, <image>, <pad>). */
bool pv_tokenizer_is_special(const pv_tokenizer *tok, int32_t id);

#endif
