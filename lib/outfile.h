/* Atomic output files: written under a temporary name beside the target and
 * renamed over it only when complete, so an interrupted or failed run never
 * leaves a half-written file that looks whole. "-" means standard output
 * (written directly), and so is a target that exists and is not a regular file
 * (/dev/null, /dev/full, a FIFO): renaming over a device would replace it.
 * Names ending in ".gz" are compressed with zlib. */
#ifndef PV_OUTFILE_H
#define PV_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pv_outfile pv_outfile;

/* Opens `path` for writing; on failure prints "prog: path: reason" and returns NULL. */
pv_outfile *pv_outfile_open(const char *path);
/* Like pv_outfile_open, with compression decided by `gzip` rather than the name. */
pv_outfile *pv_outfile_open_mode(const char *path, bool gzip);
/* Appends bytes; returns 0, or -1 after printing a write error. */
int pv_outfile_write(pv_outfile *f, const void *data, size_t len);
/* Flushes, checks for errors, closes and renames into place. Returns 0, or -1
 * after printing the error and removing the temporary file. Frees `f`. */
int pv_outfile_commit(pv_outfile *f);
/* Discards the temporary file. Frees `f`. */
void pv_outfile_abort(pv_outfile *f);
const char *pv_outfile_name(const pv_outfile *f);

/* Writes a whole buffer to `path` atomically. Returns 0 or -1 (message printed). */
int pv_write_file_atomic(const char *path, const void *data, size_t len);

#endif
