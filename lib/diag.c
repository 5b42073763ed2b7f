#include "diag.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *pv_progname = "pv";
bool pv_quiet = false;
bool pv_keep_going = false;
long pv_bad_records = 0;

/* Unfinished temporary files. A fixed table keeps the signal handler free of
 * allocation: it only calls unlink(), which is async-signal-safe. */
#define PV_MAX_TEMPFILES 64
#define PV_TEMPFILE_PATH 4096
static char tempfiles[PV_MAX_TEMPFILES][PV_TEMPFILE_PATH];
static volatile sig_atomic_t tempfile_used[PV_MAX_TEMPFILES];

int pv_tempfile_register(const char *path)
{
    if (strlen(path) >= PV_TEMPFILE_PATH)
        return -1;
    for (int i = 0; i < PV_MAX_TEMPFILES; i++) {
        if (!tempfile_used[i]) {
            strcpy(tempfiles[i], path);
            tempfile_used[i] = 1;
            return i;
        }
    }
    return -1;
}

void pv_tempfile_forget(int slot)
{
    if (slot >= 0 && slot < PV_MAX_TEMPFILES)
        tempfile_used[slot] = 0;
}

static void remove_tempfiles(void)
{
    for (int i = 0; i < PV_MAX_TEMPFILES; i++) {
        if (tempfile_used[i]) {
            unlink(tempfiles[i]);
            tempfile_used[i] = 0;
        }
    }
}

static void on_fatal_signal(int sig)
{
    remove_tempfiles();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* coreutils' close_stdout: a write error that only shows at the final flush
 * (a full disk, /dev/full) must not pass as success. */
static void close_stdout(void)
{
    bool failed = false;
    int err = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        failed = true;
        err = errno;
    }
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        err = errno;
    }
    if (failed) {
        if (err == EPIPE)
            _exit(PV_EXIT_SYSTEM);
        fprintf(stderr, "%s: write error on standard output: %s\n", pv_progname,
                err ? strerror(err) : "unknown error");
        remove_tempfiles();
        _exit(PV_EXIT_SYSTEM);
    }
}

void pv_init(const char *argv0)
{
    if (argv0 && *argv0) {
        const char *slash = strrchr(argv0, '/');
        pv_progname = slash ? slash + 1 : argv0;
    }
    /* A parent may have left SIGPIPE ignored (Python's subprocess does);
     * the Unix convention is to die quietly when the reader goes away. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    atexit(close_stdout);
}

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", pv_progname, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void pv_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
}

void pv_info(const char *fmt, ...)
{
    if (pv_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
}

_Noreturn void pv_exit(int status)
{
    remove_tempfiles();
    exit(status);
}

_Noreturn void pv_die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
    pv_exit(status);
}

void pv_bad_record(const char *file, long line, const char *fmt, ...)
{
    fprintf(stderr, "%s: ", pv_progname);
    if (file) {
        if (line > 0)
            fprintf(stderr, "%s:%ld: ", file, line);
        else
            fprintf(stderr, "%s: ", file);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pv_bad_records++;
    if (!pv_keep_going)
        pv_exit(PV_EXIT_BAD_INPUT);
}

int pv_final_status(void)
{
    if (pv_bad_records > 0) {
        if (pv_keep_going)
            pv_error("%ld bad record%s skipped", pv_bad_records, pv_bad_records == 1 ? "" : "s");
        return PV_EXIT_BAD_INPUT;
    }
    return PV_EXIT_OK;
}

int pv_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
