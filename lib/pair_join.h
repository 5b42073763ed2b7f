/* pv-pair --join FILE --on FIELD: adds the fields of a second stream of records
 * (e.g. pv-noise's noisy_image and noise) to the records with the same key.
 *
 * The second stream is read whole into a table keyed by FIELD's value (a string,
 * or a number as pv_rec_id prints it). In it, a record without the key or with a
 * key seen before is a bad record. A matching record's fields, except the key,
 * are added to the record or replace the fields of the same name in place. */
#ifndef PV_PAIR_JOIN_H
#define PV_PAIR_JOIN_H

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct pv_join pv_join;

/* Reads the records of `path` (JSONL or a JSON array, gzip or not); exits with
 * status 3 when it cannot be opened. */
pv_join *pv_join_load(const char *path, const char *key);
/* Merges the match of `rec` into it. False when rec has no key or no match. */
bool pv_join_apply(const pv_join *j, cJSON *rec);
long pv_join_size(const pv_join *j);
void pv_join_free(pv_join *j);

#endif
