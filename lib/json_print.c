#include "json_print.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

typedef struct sink {
    char **buf;
    size_t *cap;
    size_t len;
} sink;

static void reserve(sink *s, size_t more)
{
    if (s->len + more + 1 <= *s->cap)
        return;
    size_t cap = *s->cap ? *s->cap : 256;
    while (s->len + more + 1 > cap)
        cap *= 2;
    char *b = realloc(*s->buf, cap);
    if (!b)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    *s->buf = b;
    *s->cap = cap;
}

static void put(sink *s, const char *text, size_t n)
{
    reserve(s, n);
    memcpy(*s->buf + s->len, text, n);
    s->len += n;
}

void pv_json_number(double d, char *out, size_t outlen)
{
    if (!isfinite(d)) {
        snprintf(out, outlen, "null");
        return;
    }
    if (d == floor(d) && fabs(d) < 1e17) {
        snprintf(out, outlen, "%.0f", d == 0 ? 0.0 : d);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static void put_string(sink *s, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    reserve(s, 2);
    (*s->buf)[s->len++] = '"';
    const unsigned char *p = (const unsigned char *)str;
    const unsigned char *run = p;
    for (;; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0)
            continue;
        put(s, (const char *)run, (size_t)(p - run));
        if (c == 0)
            break;
        char esc[7] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(s, esc, n);
        run = p + 1;
    }
    put(s, "\"", 1);
}

static void put_item(sink *s, const cJSON *item)
{
    char num[40];
    const cJSON *child;
    bool first = true;
    switch (item->type & 0xFF) {
    case cJSON_False: put(s, "false", 5); break;
    case cJSON_True: put(s, "true", 4); break;
    case cJSON_NULL: put(s, "null", 4); break;
    case cJSON_Number:
        pv_json_number(item->valuedouble, num, sizeof num);
        put(s, num, strlen(num));
        break;
    case cJSON_String: put_string(s, item->valuestring ? item->valuestring : ""); break;
    case cJSON_Raw:
        if (item->valuestring)
            put(s, item->valuestring, strlen(item->valuestring));
        break;
    case cJSON_Array:
        put(s, "[", 1);
        cJSON_ArrayForEach(child, item) {
            if (!first)
                put(s, ",", 1);
            first = false;
            put_item(s, child);
        }
        put(s, "]", 1);
        break;
    case cJSON_Object:
        put(s, "{", 1);
        cJSON_ArrayForEach(child, item) {
            if (!first)
                put(s, ",", 1);
            first = false;
            put_string(s, child->string ? child->string : "");
            put(s, ":", 1);
            put_item(s, child);
        }
        put(s, "}", 1);
        break;
    default:
        put(s, "null", 4);
    }
}

size_t pv_json_print_into(const cJSON *item, char **buf, size_t *cap)
{
    sink s = {buf, cap, 0};
    put_item(&s, item);
    reserve(&s, 0);
    (*buf)[s.len] = '\0';
    return s.len;
}

char *pv_json_print(const cJSON *item)
{
    char *buf = NULL;
    size_t cap = 0;
    pv_json_print_into(item, &buf, &cap);
    return buf;
}
