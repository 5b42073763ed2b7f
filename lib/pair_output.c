#include "pair_output.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "json_print.h"
#include "records.h"

struct pv_pair_output {
    pv_writer *w;
    bool array;
    char *pending; /* array mode: the previous element, written once we know
                      whether a comma follows it */
    long count;
};

pv_pair_output *pv_pair_output_open(const char *path, bool array)
{
    pv_writer *w = pv_writer_open(path);
    if (!w)
        pv_exit(PV_EXIT_SYSTEM);
    pv_pair_output *o = calloc(1, sizeof *o);
    if (!o)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    o->w = w;
    o->array = array;
    if (array)
        pv_writer_put_line(w, "[", 1);
    return o;
}

char *pv_pair_print(const cJSON *obj)
{
    char *text = pv_json_print(obj);
    if (!text)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return text;
}

void pv_pair_output_put_text(pv_pair_output *o, char *text)
{
    o->count++;
    if (!o->array) {
        pv_writer_put_line(o->w, text, strlen(text));
        free(text);
        return;
    }
    if (o->pending) {
        size_t n = strlen(o->pending);
        char *with_comma = realloc(o->pending, n + 2);
        if (!with_comma)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        with_comma[n] = ',';
        pv_writer_put_line(o->w, with_comma, n + 1);
        free(with_comma);
    }
    o->pending = text;
}

void pv_pair_output_put(pv_pair_output *o, const cJSON *obj)
{
    if (!o->array) {
        o->count++;
        pv_writer_put(o->w, obj);
        return;
    }
    pv_pair_output_put_text(o, pv_pair_print(obj));
}

long pv_pair_output_count(const pv_pair_output *o) { return o->count; }

void pv_pair_output_close(pv_pair_output *o)
{
    if (o->array) {
        if (o->pending)
            pv_writer_put_line(o->w, o->pending, strlen(o->pending));
        pv_writer_put_line(o->w, "]", 1);
    }
    free(o->pending);
    pv_writer_close(o->w);
    free(o);
}
