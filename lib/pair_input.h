/* pv-pair's input: JSONL (through lib/records) or one JSON array of objects.
 *
 * The first byte that is not white space decides: '[' means a JSON array (the
 * layout of LLaVA data files), read whole with cJSON; anything else is JSONL.
 * Messages name the file and line in both cases: an array element is reported
 * at the line where it starts. gzip input works either way. */
#ifndef PV_PAIR_INPUT_H
#define PV_PAIR_INPUT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct pv_pair_input pv_pair_input;

/* Opens a file ("-" = standard input); NULL after printing why. */
pv_pair_input *pv_pair_input_open(const char *path);
/* Like pv_reader_next: 1 and *obj (caller frees), 0 at the end, -1 for a bad
 * element (reported; only returned with --keep-going). */
int pv_pair_input_next(pv_pair_input *in, cJSON **obj);
const char *pv_pair_input_name(const pv_pair_input *in);
/* The line where the last object returned starts. */
long pv_pair_input_line(const pv_pair_input *in);
bool pv_pair_input_is_array(const pv_pair_input *in);
void pv_pair_input_close(pv_pair_input *in);

#endif
