/* pv-pair's output: one object per line (JSONL), or one JSON array with an
 * element per line (--array, the layout LLaVA training scripts load). Written
 * through lib/records' writer: atomic files, ".gz", write errors are fatal. */
#ifndef PV_PAIR_OUTPUT_H
#define PV_PAIR_OUTPUT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pv_pair_output pv_pair_output;

/* Opens `path` ("-" = standard output); exits with status 3 when it cannot. */
pv_pair_output *pv_pair_output_open(const char *path, bool array);
/* Writes one object. */
void pv_pair_output_put(pv_pair_output *o, const cJSON *obj);
/* Writes one object already printed compactly (ownership of `text` taken). */
void pv_pair_output_put_text(pv_pair_output *o, char *text);
long pv_pair_output_count(const pv_pair_output *o);
/* Finishes (closing bracket) and commits the file. */
void pv_pair_output_close(pv_pair_output *o);

/* The compact text of an object (malloc'd); exits on out of memory. */
char *pv_pair_print(const cJSON *obj);

#endif
