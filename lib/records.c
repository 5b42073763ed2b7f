#include "records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "diag.h"
#include "json_print.h"
#include "outfile.h"
#include "utf8.h"

#define READ_CHUNK (256 * 1024)

struct pv_reader {
    gzFile gz;
    char *name;
    char *buf;          /* unread bytes are buf[pos..end) */
    size_t pos, end, cap;
    bool eof;
    long line;          /* lines consumed so far */
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return q;
}

pv_reader *pv_reader_open(const char *path)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY);
    if (fd < 0) {
        pv_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        pv_error("%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    gzbuffer(gz, READ_CHUNK);
    pv_reader *r = calloc(1, sizeof *r);
    if (!r)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    r->gz = gz;
    r->name = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
    r->cap = READ_CHUNK;
    r->buf = xrealloc(NULL, r->cap + 1);
    return r;
}

/* Reads more input after the unread bytes; returns false at end of input. */
static bool fill(pv_reader *r)
{
    if (r->eof)
        return false;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->end < READ_CHUNK / 2) {
        r->cap *= 2;
        r->buf = xrealloc(r->buf, r->cap + 1);
    }
    int n = gzread(r->gz, r->buf + r->end, (unsigned)(r->cap - r->end));
    int err;
    const char *msg = gzerror(r->gz, &err);
    if (n < 0 || (err != Z_OK && err != Z_BUF_ERROR) || (n == 0 && err == Z_BUF_ERROR)) {
        /* Z_BUF_ERROR at the end means the compressed stream was cut short. */
        if (err == Z_BUF_ERROR)
            msg = "unexpected end of compressed data (truncated file?)";
        else if (err == Z_ERRNO)
            msg = strerror(errno);
        pv_die(PV_EXIT_SYSTEM, "%s:%ld: read error: %s", r->name, r->line + 1, msg);
    }
    if (n == 0) {
        r->eof = true;
        return false;
    }
    r->end += (size_t)n;
    return true;
}

int pv_reader_next_line(pv_reader *r, char **line, size_t *len)
{
    for (;;) {
        size_t scanned = r->pos;
        char *nl;
        while (!(nl = memchr(r->buf + scanned, '\n', r->end - scanned))) {
            scanned = r->end;
            size_t before = r->pos;
            if (!fill(r))
                break;
            scanned -= before; /* fill() moved the unread bytes to the front */
        }
        size_t start = r->pos, stop;
        if (nl) {
            stop = (size_t)(nl - r->buf);
            r->pos = stop + 1;
        } else {
            if (r->pos == r->end)
                return 0;
            stop = r->end; /* last line without a newline */
            r->pos = r->end;
        }
        r->line++;
        if (stop > start && r->buf[stop - 1] == '\r')
            stop--;
        r->buf[stop] = '\0';
        /* Blank lines (only spaces or tabs) separate nothing and are skipped. */
        size_t i = start;
        while (i < stop && (r->buf[i] == ' ' || r->buf[i] == '\t'))
            i++;
        if (i == stop)
            continue;
        *line = r->buf + start;
        *len = stop - start;
        return 1;
    }
}

/* cJSON would silently cut a string at an escaped NUL ("a\u0000b" -> "a"): find
 * one (not preceded by an escaping backslash) so the record is refused instead. */
static bool has_nul_escape(const char *line, size_t len)
{
    if (!memmem(line, len, "u0000", 5))
        return false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (line[i] != '\\')
            continue;
        if (line[i + 1] == 'u' && i + 6 <= len && memcmp(line + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character: in \\u0000 the backslash is escaped, u0000 is text */
    }
    return false;
}

int pv_reader_next(pv_reader *r, cJSON **rec)
{
    *rec = NULL;
    char *line;
    size_t len;
    while (pv_reader_next_line(r, &line, &len)) {
        if (strlen(line) != len) {
            pv_bad_record(r->name, r->line, "NUL byte in line");
            return -1;
        }
        size_t bad = pv_utf8_invalid_at(line, len);
        if (bad != (size_t)-1) {
            pv_bad_record(r->name, r->line, "invalid UTF-8 at byte %zu", bad + 1);
            return -1;
        }
        if (has_nul_escape(line, len)) {
            pv_bad_record(r->name, r->line, "\\u0000 in a string (NUL characters are not supported)");
            return -1;
        }
        const char *endp = NULL;
        cJSON *json = cJSON_ParseWithLengthOpts(line, len, &endp, false);
        if (!json) {
            const char *at = cJSON_GetErrorPtr();
            long col = (at && at >= line && at <= line + len) ? (long)(at - line) + 1 : 0;
            pv_bad_record(r->name, r->line, "invalid JSON near column %ld", col);
            return -1;
        }
        /* Anything but whitespace after the value is an error. */
        while (endp && endp < line + len && (*endp == ' ' || *endp == '\t'))
            endp++;
        if (endp && endp < line + len) {
            cJSON_Delete(json);
            pv_bad_record(r->name, r->line, "invalid JSON: trailing characters at column %ld",
                          (long)(endp - line) + 1);
            return -1;
        }
        if (!cJSON_IsObject(json)) {
            cJSON_Delete(json);
            pv_bad_record(r->name, r->line, "record is not a JSON object");
            return -1;
        }
        *rec = json;
        return 1;
    }
    return 0;
}

const char *pv_reader_name(const pv_reader *r) { return r->name; }
long pv_reader_line(const pv_reader *r) { return r->line; }

void pv_reader_close(pv_reader *r)
{
    if (!r)
        return;
    gzclose(r->gz);
    free(r->buf);
    free(r->name);
    free(r);
}

void pv_inputs_init(pv_inputs *in, const char **paths, int n)
{
    static const char *stdin_only[] = {"-"};
    in->paths = n > 0 ? paths : stdin_only;
    in->n = n > 0 ? n : 1;
    in->next = 0;
    in->cur = NULL;
}

int pv_inputs_next(pv_inputs *in, cJSON **rec, pv_reader **from)
{
    for (;;) {
        if (!in->cur) {
            if (in->next >= in->n)
                return 0;
            in->cur = pv_reader_open(in->paths[in->next++]);
            if (!in->cur)
                pv_exit(PV_EXIT_SYSTEM);
        }
        int rc = pv_reader_next(in->cur, rec);
        if (from)
            *from = in->cur;
        if (rc != 0)
            return rc;
        pv_reader_close(in->cur);
        in->cur = NULL;
    }
}

void pv_inputs_close(pv_inputs *in)
{
    pv_reader_close(in->cur);
    in->cur = NULL;
}

const char *pv_rec_string(const pv_reader *r, const cJSON *rec, const char *field, bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, field);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            pv_bad_record(r ? r->name : NULL, r ? r->line : 0, "missing \"%s\"", field);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        pv_bad_record(r ? r->name : NULL, r ? r->line : 0, "\"%s\" is not a string", field);
        return NULL;
    }
    return v->valuestring;
}

const cJSON *pv_rec_string_array(const pv_reader *r, const cJSON *rec, const char *field,
                                 bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, field);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            pv_bad_record(r ? r->name : NULL, r ? r->line : 0, "missing \"%s\"", field);
        return NULL;
    }
    bool ok = cJSON_IsArray(v);
    const cJSON *e;
    if (ok)
        cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) ok = false;
    if (!ok) {
        pv_bad_record(r ? r->name : NULL, r ? r->line : 0, "\"%s\" is not an array of strings",
                      field);
        return NULL;
    }
    return v;
}

const char *pv_rec_id(const cJSON *rec, char *buf, size_t bufsize)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "id");
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d)
            snprintf(buf, bufsize, "%lld", (long long)d);
        else
            snprintf(buf, bufsize, "%.17g", d);
        return buf;
    }
    return NULL;
}

void pv_rec_set(cJSON *rec, const char *name, cJSON *value)
{
    if (!value)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(rec, name))
        cJSON_ReplaceItemInObjectCaseSensitive(rec, name, value);
    else
        cJSON_AddItemToObject(rec, name, value);
}

void pv_rec_set_string(cJSON *rec, const char *name, const char *value)
{
    pv_rec_set(rec, name, cJSON_CreateString(value));
}

void pv_rec_set_number(cJSON *rec, const char *name, double value)
{
    pv_rec_set(rec, name, cJSON_CreateNumber(value));
}

struct pv_writer {
    pv_outfile *out;
    char *buf;
    size_t cap;
};

pv_writer *pv_writer_open(const char *path)
{
    pv_outfile *out = pv_outfile_open(path);
    if (!out)
        return NULL;
    pv_writer *w = calloc(1, sizeof *w);
    if (!w)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    w->out = out;
    return w;
}

void pv_writer_put_line(pv_writer *w, const char *line, size_t len)
{
    if (pv_outfile_write(w->out, line, len) != 0 || pv_outfile_write(w->out, "\n", 1) != 0)
        pv_exit(PV_EXIT_SYSTEM);
}

void pv_writer_put(pv_writer *w, const cJSON *rec)
{
    size_t len = pv_json_print_into(rec, &w->buf, &w->cap);
    pv_writer_put_line(w, w->buf, len);
}

void pv_writer_close(pv_writer *w)
{
    if (!w)
        return;
    int rc = pv_outfile_commit(w->out);
    free(w->buf);
    free(w);
    if (rc != 0)
        pv_exit(PV_EXIT_SYSTEM);
}

void pv_writer_abort(pv_writer *w)
{
    if (!w)
        return;
    pv_outfile_abort(w->out);
    free(w->buf);
    free(w);
}

int pv_reader_peek(pv_reader *r)
{
    size_t i = r->pos;
    for (;;) {
        for (; i < r->end; i++) {
            char c = r->buf[i];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
                return (unsigned char)c;
        }
        size_t skipped = i - r->pos; /* fill() moves the unread bytes to the front */
        if (!fill(r))
            return -1;
        i = r->pos + skipped;
    }
}
