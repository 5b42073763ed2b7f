/* Diagnostics: every message is "prog: ..." on stderr.
 *
 * pv_init() must be the first call of every tool's main(): it records the program
 * name, resets SIGPIPE to its default (a closed downstream pipe ends the program
 * quietly), installs the handlers that remove unfinished output files on signals,
 * and registers the stdout check that turns a failed final write into exit 3. */
#ifndef PV_DIAG_H
#define PV_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "exitcode.h"

extern const char *pv_progname;
extern bool pv_quiet;       /* -q: no progress, no summaries */
extern bool pv_keep_going;  /* --keep-going: skip bad records instead of stopping */
extern long pv_bad_records; /* bad records reported so far (decides exit status 1) */

void pv_init(const char *argv0);

/* "prog: message" on stderr. */
void pv_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like pv_error, then exit with `status` (running the cleanup of pv_exit). */
_Noreturn void pv_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: file:line: message" for a bad input record. Counts it; without
 * --keep-going the program stops with status 1. With --keep-going it returns. */
void pv_bad_record(const char *file, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Informational line on stderr unless -q. */
void pv_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats a message into err (when err is not NULL and errlen > 0) and returns -1:
 * how library functions report an error to their caller without printing it. */
int pv_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Exit through the common path: unfinished output files are removed, stdout
 * is flushed and checked. */
_Noreturn void pv_exit(int status);
/* The status a tool returns at the end: 1 if bad records were seen, else 0. */
int pv_final_status(void);

/* Temporary files to delete if the program dies before committing them
 * (registered by lib/outfile.c; async-signal-safe removal). */
int pv_tempfile_register(const char *path);
void pv_tempfile_forget(int slot);

#endif
