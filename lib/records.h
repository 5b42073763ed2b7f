/* JSONL records (DESIGN.md, "Records").
 *
 * Reader: one JSON object per line, any line length, CRLF accepted, blank lines
 * skipped, gzip input detected by its magic bytes (zlib's transparent mode, so
 * a ".gz" name is not required). Invalid UTF-8 or JSON, and lines that are not
 * objects, are reported as "prog: file:line: message" through pv_bad_record().
 *
 * Writer: records are printed compactly, one per line, with their fields in the
 * order they came in; a tool adds or replaces only the fields it owns
 * (pv_rec_set keeps an existing field's position). Writes go through
 * lib/outfile (atomic files, ".gz" compression, write errors detected). */
#ifndef PV_RECORDS_H
#define PV_RECORDS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pv_reader pv_reader;

/* Opens a file ("-" = standard input). On failure prints the reason and returns NULL. */
pv_reader *pv_reader_open(const char *path);
/* Next record: 1 and *rec set (caller frees with cJSON_Delete), 0 at end of input,
 * -1 for a bad line (already reported; only returned with --keep-going).
 * A read error (truncated .gz, I/O error) is fatal: exit 3. */
int pv_reader_next(pv_reader *r, cJSON **rec);
/* Next raw line, without its end-of-line, blank lines skipped: 1, 0 at end.
 * *len is its length. The buffer is owned by the reader and valid until the next call. */
int pv_reader_next_line(pv_reader *r, char **line, size_t *len);
const char *pv_reader_name(const pv_reader *r); /* "-" shows as "<stdin>" */
long pv_reader_line(const pv_reader *r);       /* line number of the last record */
void pv_reader_close(pv_reader *r);

/* Iterates the records of several inputs in turn (none given: standard input). */
typedef struct pv_inputs {
    const char **paths;
    int n, next;
    pv_reader *cur;
} pv_inputs;

void pv_inputs_init(pv_inputs *in, const char **paths, int n);
/* Like pv_reader_next, over all inputs. *from is the reader of the record (for messages). */
int pv_inputs_next(pv_inputs *in, cJSON **rec, pv_reader **from);
void pv_inputs_close(pv_inputs *in);

/* Field access with messages in the DESIGN.md form. These report through
 * pv_bad_record (so they return NULL only with --keep-going, or when optional). */
const char *pv_rec_string(const pv_reader *r, const cJSON *rec, const char *field, bool required);
/* A string array field; returns the cJSON array or NULL (missing and optional, or bad). */
const cJSON *pv_rec_string_array(const pv_reader *r, const cJSON *rec, const char *field,
                                 bool required);
/* The record's "id" as text (a string id, or a number printed), or NULL when absent. */
const char *pv_rec_id(const cJSON *rec, char *buf, size_t bufsize);

/* Sets field `name` to `value` (taking ownership), replacing in place if present. */
void pv_rec_set(cJSON *rec, const char *name, cJSON *value);
void pv_rec_set_string(cJSON *rec, const char *name, const char *value);
void pv_rec_set_number(cJSON *rec, const char *name, double value);

typedef struct pv_writer pv_writer;
/* Opens an output ("-" = standard output); NULL on failure (message printed). */
pv_writer *pv_writer_open(const char *path);
/* Writes one record as a line. A write error is fatal (exit 3, partial files removed). */
void pv_writer_put(pv_writer *w, const cJSON *rec);
/* Writes a pre-formatted line (without its '\n'). */
void pv_writer_put_line(pv_writer *w, const char *line, size_t len);
/* Commits (renames) the output. Exit 3 on error. */
void pv_writer_close(pv_writer *w);
/* Drops a file output without renaming it into place. */
void pv_writer_abort(pv_writer *w);

/* The first input byte that is not white space (space, tab, CR, LF), without consuming
 * anything; -1 at end of input. Lets a tool tell a JSON array ('[') from JSONL ('{'). */
int pv_reader_peek(pv_reader *r);

#endif
