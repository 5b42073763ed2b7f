/* The LLM engine of pv-hallucinate, as a batch in the OpenAI format, so that any
 * server (or a curl loop) can sit between the two halves:
 *
 * request: one line per record,
 *   {"custom_id": <id>, "method": "POST", "url": "/v1/chat/completions",
 *    "body": {"model": ..., "temperature": ..., "messages": [
 *        {"role": "system", "content": <role>},
 *        {"role": "user", "content": <instruction + description> | [text part, image part]}]}}
 *   The image part is {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}}
 *   (the type is read from the file's first bytes: JPEG or PNG).
 *
 * merge: the output lines of such a batch,
 *   {"custom_id": ..., "response": {"status_code": 200, "body": {"model": ...,
 *    "choices": [{"message": {"content": "..."}}]}}, "error": null}
 *   A line with a non-null "error" or a status other than 200 is a failed request;
 *   one with neither a response body nor an error is malformed. */
#ifndef PV_BATCH_REQUEST_H
#define PV_BATCH_REQUEST_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The rewrite instruction (system role and the user's instruction). */
extern const char pv_batch_role[];
extern const char pv_batch_instruction[];

typedef struct pv_batch_request_opts {
    const char *model;
    double temperature;
} pv_batch_request_opts;

/* The request line for one record (malloc'd JSON text, no newline). `objects`
 * is NULL, or the objects really in the image, comma-separated, which the
 * instruction then names as ones not to add. `image_path` is NULL for text only,
 * else the image file to attach. NULL with a message in err when the image
 * cannot be read or is neither JPEG nor PNG. */
char *pv_batch_request_line(const pv_batch_request_opts *o, const char *custom_id,
                            const char *chosen, const char *objects, const char *image_path,
                            char *err, size_t errlen);

/* Base64 (RFC 4648, with padding) of len bytes; malloc'd, NUL-terminated. */
char *pv_base64(const unsigned char *data, size_t len);
/* "image/jpeg" or "image/png" from the first bytes, or NULL. */
const char *pv_image_mime(const unsigned char *data, size_t len);

/* The responses of a batch, by custom_id. */
typedef struct pv_batch_responses pv_batch_responses;

/* Reads a responses file (JSONL, .gz accepted). Malformed lines and duplicate
 * custom_ids are reported as bad records ("file:line: ..."); a duplicated id is
 * kept as failed, since which answer is right cannot be told. Exits 3 when the
 * file cannot be opened. */
pv_batch_responses *pv_batch_responses_load(const char *path);
void pv_batch_responses_free(pv_batch_responses *r);

enum pv_batch_status { PV_BATCH_MISSING, PV_BATCH_OK, PV_BATCH_FAILED };

/* Looks up one id: on OK *content is the answer and *model the model named in the
 * response (or NULL); on FAILED *why says what went wrong. Marks the id as used. */
enum pv_batch_status pv_batch_responses_get(pv_batch_responses *r, const char *id,
                                            const char **content, const char **model,
                                            const char **why);
/* Number of responses no lookup asked for, and the first of them (for a warning). */
size_t pv_batch_responses_unused(const pv_batch_responses *r, const char **first);

/* The ids already given to requests, so that a batch never repeats a custom_id. */
typedef struct pv_batch_ids pv_batch_ids;
pv_batch_ids *pv_batch_ids_new(void);
/* Adds id first seen on `line`; returns 0, or the line of its earlier occurrence. */
long pv_batch_ids_add(pv_batch_ids *ids, const char *id, long line);
void pv_batch_ids_free(pv_batch_ids *ids);

#endif
