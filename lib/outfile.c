#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "diag.h"

struct pv_outfile {
    char *path;     /* final name */
    char *tmp;      /* temporary name, NULL for stdout */
    int slot;       /* pv_tempfile_register slot */
    FILE *fp;       /* plain output */
    gzFile gz;      /* compressed output */
    bool failed;
};

/* mkstemp creates 0600; give finished files the mode open() would have. */
static mode_t umask_current(void)
{
    mode_t m = umask(0);
    umask(m);
    return m;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

pv_outfile *pv_outfile_open(const char *path)
{
    return pv_outfile_open_mode(path, strcmp(path, "-") != 0 && ends_with(path, ".gz"));
}

pv_outfile *pv_outfile_open_mode(const char *path, bool gzip)
{
    pv_outfile *f = calloc(1, sizeof *f);
    if (!f)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    f->path = strdup(path);
    f->slot = -1;
    int fd;
    struct stat st;
    if (strcmp(path, "-") == 0) {
        fflush(stdout);
        fd = dup(STDOUT_FILENO);
    } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* A device or pipe (/dev/null, /dev/full, a FIFO) is written in place:
         * renaming a temporary file over it would replace the device itself. */
        fd = open(path, O_WRONLY | O_TRUNC);
        if (fd < 0) {
            pv_error("%s: cannot open: %s", path, strerror(errno));
            free(f->path);
            free(f);
            return NULL;
        }
    } else {
        size_t n = strlen(path) + 32;
        f->tmp = malloc(n);
        /* Same directory as the target so that rename() is atomic. */
        snprintf(f->tmp, n, "%s.tmp.XXXXXX", path);
        fd = mkstemp(f->tmp);
        if (fd < 0) {
            pv_error("%s: cannot create: %s", path, strerror(errno));
            free(f->tmp);
            free(f->path);
            free(f);
            return NULL;
        }
        fchmod(fd, 0666 & ~umask_current());
        f->slot = pv_tempfile_register(f->tmp);
    }
    if (gzip) {
        f->gz = gzdopen(fd, "wb6");
    } else {
        f->fp = fdopen(fd, "wb");
    }
    if (!f->gz && !f->fp) {
        pv_error("%s: cannot open: %s", path, strerror(errno));
        close(fd);
        pv_outfile_abort(f);
        return NULL;
    }
    return f;
}

int pv_outfile_write(pv_outfile *f, const void *data, size_t len)
{
    if (f->failed)
        return -1;
    bool ok;
    if (f->gz)
        ok = len == 0 || gzwrite(f->gz, data, (unsigned)len) == (int)len;
    else
        ok = fwrite(data, 1, len, f->fp) == len;
    if (!ok) {
        int err = errno;
        if (err == EPIPE)
            pv_exit(PV_EXIT_SYSTEM);
        pv_error("%s: write error: %s", strcmp(f->path, "-") ? f->path : "standard output",
                 err ? strerror(err) : "unknown error");
        f->failed = true;
        return -1;
    }
    return 0;
}

static void free_outfile(pv_outfile *f)
{
    free(f->tmp);
    free(f->path);
    free(f);
}

int pv_outfile_commit(pv_outfile *f)
{
    const char *shown = strcmp(f->path, "-") ? f->path : "standard output";
    int rc = f->failed ? -1 : 0;
    errno = 0;
    if (f->gz) {
        if (gzclose(f->gz) != Z_OK && rc == 0) {
            pv_error("%s: write error: %s", shown, errno ? strerror(errno) : "compression failed");
            rc = -1;
        }
    } else if (f->fp) {
        if ((fflush(f->fp) != 0 || ferror(f->fp)) && rc == 0) {
            pv_error("%s: write error: %s", shown, strerror(errno));
            rc = -1;
        }
        if (f->tmp && rc == 0 && fsync(fileno(f->fp)) != 0 && errno != EINVAL) {
            pv_error("%s: write error: %s", shown, strerror(errno));
            rc = -1;
        }
        if (fclose(f->fp) != 0 && rc == 0) {
            pv_error("%s: write error: %s", shown, strerror(errno));
            rc = -1;
        }
    }
    if (f->tmp) {
        if (rc == 0 && rename(f->tmp, f->path) != 0) {
            pv_error("%s: cannot rename into place: %s", f->path, strerror(errno));
            rc = -1;
        }
        if (rc != 0)
            unlink(f->tmp);
        pv_tempfile_forget(f->slot);
    }
    free_outfile(f);
    return rc;
}

void pv_outfile_abort(pv_outfile *f)
{
    if (f->gz)
        gzclose(f->gz);
    else if (f->fp)
        fclose(f->fp);
    if (f->tmp) {
        unlink(f->tmp);
        pv_tempfile_forget(f->slot);
    }
    free_outfile(f);
}

const char *pv_outfile_name(const pv_outfile *f) { return f->path; }

int pv_write_file_atomic(const char *path, const void *data, size_t len)
{
    pv_outfile *f = pv_outfile_open_mode(path, false);
    if (!f)
        return -1;
    if (pv_outfile_write(f, data, len) != 0) {
        pv_outfile_abort(f);
        return -1;
    }
    return pv_outfile_commit(f);
}
