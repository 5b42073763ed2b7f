/* Chat templates: how a record's prompt (and response) become the token ids the
 * model sees.
 *
 *   llava_v1  POVID's Vicuna v1 conversation (LLaVA's conv_llava_v1), with its system
 *             sentence:
 *               "A chat between a curious human and an artificial intelligence
 *               assistant. The assistant gives helpful, detailed, and polite answers
 *               to the human's questions. USER: <image>\n<prompt> ASSISTANT:"
 *   llava_hf  the chat template of the llava-hf model folders:
 *               "USER: <image>\n<prompt> ASSISTANT:"
 *
 * A full sequence (for scoring and training) is the prompt text, one space, the
 * response, then </s>:  "<prompt text> <response></s>".
 *
 * The leading-space rule. Both templates tokenise the rendered text as ONE string
 * with the model's own tokenizer.json, exactly as transformers' tokenizer(text)
 * does, "<image>" being matched as an added token. So the rule is the
 * tokenizer.json's: with the Metaspace pre-tokenizer (prepend_scheme "first", the
 * fixtures' and current llava-hf files) only the very start of the text gets "▁",
 * the text right after <image> does not ("\nDescribe" -> <0x0A> "Desc" ...), and
 * the space before <image> stays a lone "▁" (29871); with the older normalizer
 * (Prepend + Replace) every stretch between special tokens gets one. The
 * response's first word gets its "▁" from the separating space, never from a
 * prefix rule ("ASSISTANT: The" -> ... ":" "▁The"). This is NOT the authors' LLaVA
 * tokenizer_image_token(), which encodes each <image>-separated chunk on its own
 * with SentencePiece (a "▁" at the start of every chunk); the reference fixtures
 * follow the tokenizer.json rule, and so does pv.
 *
 * <image> then expands to n_image_tokens copies of image_token_id (the model's
 * image_token_index, image_seq_length times). When the tokenizer has no "<image>"
 * token, the text is split at "<image>" and each side is encoded as the tokenizer
 * would encode the text around an added token. */
#ifndef PV_CHAT_TEMPLATE_H
#define PV_CHAT_TEMPLATE_H

#include <stdint.h>

#include "tokenizer.h"

enum pv_template {
    PV_TEMPLATE_LLAVA_V1 = 0, /* default: POVID's */
    PV_TEMPLATE_LLAVA_HF = 1,
};

/* "llava_v1" | "llava_hf" -> enum value, -1 when unknown. */
int pv_template_parse(const char *name);
/* The template's name ("llava_v1", ...), or "?" */
const char *pv_template_name(enum pv_template t);
/* The rendered prompt text, with one "<image>" (malloc'd; NULL on out of memory). */
char *pv_chat_prompt_text(enum pv_template t, const char *prompt);

/* Prompt ids: <s>, the rendered prompt with <image> expanded, ending at
 * "ASSISTANT:" (what generation continues from). Returns the count and a malloc'd
 * *ids, or -1 (out of memory, n_image_tokens < 0, or a prompt that itself contains
 * "<image>": the template places the only image). */
long pv_chat_prompt_ids(const pv_tokenizer *tok, enum pv_template t, const char *prompt,
                        int32_t image_token_id, int n_image_tokens, int32_t **ids);

/* Ids of prompt + " " + response + </s>, and *response_start, the index of the
 * response's first id (= the prompt ids' count; the fixture's 64). The prompt ids
 * are always a prefix of the sequence. Returns the count or -1 as above (also for a
 * response that contains "<image>", or a tokenizer without </s>). */
long pv_chat_sequence_ids(const pv_tokenizer *tok, enum pv_template t, const char *prompt,
                          const char *response, int32_t image_token_id, int n_image_tokens,
                          int32_t **ids, long *response_start);

#endif
