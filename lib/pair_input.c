#include "pair_input.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "records.h"
#include "utf8.h"

struct pv_pair_input {
    pv_reader *r;
    bool array;
    /* Array mode: the whole text, the line number of each of its lines (the
     * reader skips blank lines, so they are kept apart), the parsed array and
     * the line where each element starts. */
    char *text;
    size_t len, cap;
    size_t *line_off;
    long *line_no;
    size_t n_lines, lines_cap;
    cJSON *array_json;
    long *elem_line;
    size_t n_elems, next_elem;
    bool failed;
    long line;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return q;
}

/* The input line that holds byte `off` of the text. */
static long line_at(const pv_pair_input *in, size_t off)
{
    size_t lo = 0, hi = in->n_lines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (in->line_off[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return in->n_lines ? in->line_no[lo] : 0;
}

static void append_line(pv_pair_input *in, const char *s, size_t n)
{
    if (in->n_lines == in->lines_cap) {
        in->lines_cap = in->lines_cap ? 2 * in->lines_cap : 1024;
        in->line_off = xrealloc(in->line_off, in->lines_cap * sizeof *in->line_off);
        in->line_no = xrealloc(in->line_no, in->lines_cap * sizeof *in->line_no);
    }
    in->line_off[in->n_lines] = in->len;
    in->line_no[in->n_lines] = pv_reader_line(in->r);
    in->n_lines++;
    if (in->len + n + 2 > in->cap) {
        in->cap = 2 * (in->len + n + 2);
        in->text = xrealloc(in->text, in->cap);
    }
    memcpy(in->text + in->len, s, n);
    in->len += n;
    in->text[in->len++] = '\n';
    in->text[in->len] = '\0';
}

/* Start offsets of the top-level elements of the (valid) array text, found by
 * tracking strings and nesting: a value starts where one is expected. */
static void find_elements(pv_pair_input *in, size_t start)
{
    in->elem_line = xrealloc(NULL, in->n_elems * sizeof *in->elem_line);
    size_t k = 0;
    int depth = 0;
    bool in_string = false, escaped = false, expecting = false;
    for (size_t i = start; i < in->len && k < in->n_elems; i++) {
        char c = in->text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == ',' || c == ']' || c == '}') {
            if (c == ',' && depth == 1)
                expecting = true;
            if (c != ',')
                depth--;
            continue;
        }
        if (depth == 1 && expecting) {
            in->elem_line[k++] = line_at(in, i);
            expecting = false;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            depth++;
            if (depth == 1)
                expecting = true;
        }
    }
    while (k < in->n_elems) /* not reached for valid JSON */
        in->elem_line[k++] = 0;
}

/* Reads and parses the whole array; false after reporting why it cannot be used. */
static bool read_array(pv_pair_input *in)
{
    const char *name = pv_reader_name(in->r);
    char *s;
    size_t n;
    while (pv_reader_next_line(in->r, &s, &n)) {
        if (strlen(s) != n) {
            pv_bad_record(name, pv_reader_line(in->r), "NUL byte in line");
            return false;
        }
        size_t bad = pv_utf8_invalid_at(s, n);
        if (bad != (size_t)-1) {
            pv_bad_record(name, pv_reader_line(in->r), "invalid UTF-8 at byte %zu", bad + 1);
            return false;
        }
        append_line(in, s, n);
    }
    const char *end = NULL;
    in->array_json = cJSON_ParseWithLengthOpts(in->text, in->len, &end, false);
    if (!in->array_json) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = (at && at >= in->text && at <= in->text + in->len) ? (size_t)(at - in->text) : 0;
        long line = line_at(in, off);
        size_t line_start = off;
        while (line_start > 0 && in->text[line_start - 1] != '\n')
            line_start--;
        pv_bad_record(name, line, "invalid JSON near column %zu", off - line_start + 1);
        return false;
    }
    while (end && end < in->text + in->len && strchr(" \t\r\n", *end))
        end++;
    if (end && end < in->text + in->len) {
        pv_bad_record(name, line_at(in, (size_t)(end - in->text)),
                      "invalid JSON: trailing characters after the array");
        return false;
    }
    in->n_elems = (size_t)cJSON_GetArraySize(in->array_json);
    size_t start = 0;
    while (in->text[start] != '[')
        start++;
    find_elements(in, start);
    return true;
}

pv_pair_input *pv_pair_input_open(const char *path)
{
    pv_reader *r = pv_reader_open(path);
    if (!r)
        return NULL;
    pv_pair_input *in = calloc(1, sizeof *in);
    if (!in)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    in->r = r;
    in->array = pv_reader_peek(r) == '[';
    if (in->array && !read_array(in))
        in->failed = true;
    return in;
}

int pv_pair_input_next(pv_pair_input *in, cJSON **obj)
{
    *obj = NULL;
    if (!in->array) {
        int rc = pv_reader_next(in->r, obj);
        in->line = pv_reader_line(in->r);
        return rc;
    }
    if (in->failed) {
        in->failed = false; /* reported once, then the input is over */
        in->next_elem = in->n_elems;
        return -1;
    }
    if (in->next_elem >= in->n_elems)
        return 0;
    cJSON *item = cJSON_DetachItemViaPointer(in->array_json, in->array_json->child);
    in->line = in->elem_line[in->next_elem++];
    if (!cJSON_IsObject(item)) {
        cJSON_Delete(item);
        pv_bad_record(pv_reader_name(in->r), in->line, "array element %zu is not a JSON object",
                      in->next_elem);
        return -1;
    }
    *obj = item;
    return 1;
}

const char *pv_pair_input_name(const pv_pair_input *in) { return pv_reader_name(in->r); }
long pv_pair_input_line(const pv_pair_input *in) { return in->line; }
bool pv_pair_input_is_array(const pv_pair_input *in) { return in->array; }

void pv_pair_input_close(pv_pair_input *in)
{
    if (!in)
        return;
    pv_reader_close(in->r);
    cJSON_Delete(in->array_json);
    free(in->text);
    free(in->line_off);
    free(in->line_no);
    free(in->elem_line);
    free(in);
}
