/* COCO ground truth for CHAIR (coco.h).
 *
 * A pull scanner reads the JSON text through a 64 KiB window and the reader
 * walks the few paths it needs (images[].id, annotations[].{image_id,
 * category_id, caption}, categories[].{id, name}); every other value, above
 * all the segmentation polygons, is skipped token by token without being
 * stored. A syntax error unwinds the walk with longjmp to the file's reader,
 * which turns it into a message with the line and byte offset.
 *
 * Kept: the ids of the listed images, and (image id, category) pairs that are
 * sorted and made distinct once, on the first lookup: 16 bytes per annotation
 * (about 20 MB for the 600,000 of instances_train2014.json), nothing per
 * polygon. An image is known when it is listed or annotated. */
#include "coco.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- growable arrays ---------------------------------------------------------- */

typedef struct {
    long long image;
    int cat; /* lexicon category, or a COCO category id while a file is read */
} pair;

struct pv_coco {
    const pv_lexicon *lex;
    long long *images;
    size_t nimages, capimages;
    pair *pairs;
    size_t npairs, cappairs;
    size_t nknown; /* distinct images, listed or annotated (after finish) */
    bool sorted;
};

/* What one instances file maps, resolved to lexicon categories at its end. */
typedef struct {
    long long id;
    char *name;
} category;

typedef struct {
    pair *pairs; /* (image, COCO category id) */
    size_t n, cap;
    category *cats;
    size_t ncats, capcats;
} instances;

/* ---- scanner -------------------------------------------------------------------- */

typedef struct scanner {
    gzFile f; /* zlib reads plain files as they are, and .gz files decompressed */
    const char *path;
    unsigned char buf[1 << 16];
    size_t pos, len;
    long long base; /* file offset of buf[0] */
    long line;
    bool eof;
    char *str; /* the last string read with keep */
    size_t slen, scap;
    jmp_buf fail;
    char *err;
    size_t errlen;
    /* Everything the walk allocates lives here, so that a longjmp out of it
     * leaks nothing: the reader frees it all at the end. */
    instances in;
    char *pending;   /* a category name or caption being read */
    pv_mention *mentions;
    size_t mcap;
} scanner;

static _Noreturn void fail(scanner *s, const char *what)
{
    snprintf(s->err, s->errlen, "%s:%ld: byte %lld: %s", s->path, s->line,
             s->base + (long long)s->pos, what);
    longjmp(s->fail, 1);
}

static _Noreturn void fail_oom(scanner *s) { fail(s, "out of memory"); }

/* Next byte without consuming it; -1 at end of file. */
static int peek(scanner *s)
{
    if (s->pos < s->len)
        return s->buf[s->pos];
    if (s->eof)
        return -1;
    s->base += (long long)s->len;
    s->pos = 0;
    int got = gzread(s->f, s->buf, sizeof s->buf);
    s->len = got > 0 ? (size_t)got : 0;
    if (s->len == 0) {
        int zerr;
        const char *zmsg = gzerror(s->f, &zerr);
        if (got < 0 || zerr != Z_OK) { /* Z_BUF_ERROR: a truncated .gz */
            char msg[200];
            size_t pl = strlen(s->path); /* zlib's message may repeat the file name */
            if (zmsg && strncmp(zmsg, s->path, pl) == 0 && strncmp(zmsg + pl, ": ", 2) == 0)
                zmsg += pl + 2;
            snprintf(msg, sizeof msg, "read error: %s",
                     zerr == Z_ERRNO ? strerror(errno) : zmsg);
            fail(s, msg);
        }
        s->eof = true;
        return -1;
    }
    return s->buf[0];
}

static int next(scanner *s)
{
    int c = peek(s);
    if (c >= 0) {
        s->pos++;
        if (c == '\n')
            s->line++;
    }
    return c;
}

/* The next byte that is not white space, not consumed. */
static int peek_token(scanner *s)
{
    for (;;) {
        int c = peek(s);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return c;
        next(s);
    }
}

static void expect(scanner *s, int want)
{
    int c = peek_token(s);
    if (c != want) {
        char msg[64];
        if (c < 0)
            snprintf(msg, sizeof msg, "expected '%c', found the end of the file", want);
        else
            snprintf(msg, sizeof msg, "expected '%c', found '%c'", want, c);
        fail(s, msg);
    }
    next(s);
}

static void keep_byte(scanner *s, int c)
{
    if (s->slen + 2 > s->scap) {
        size_t cap = s->scap ? s->scap * 2 : 256;
        char *p = realloc(s->str, cap);
        if (!p)
            fail_oom(s);
        s->str = p;
        s->scap = cap;
    }
    s->str[s->slen++] = (char)c;
    s->str[s->slen] = '\0';
}

static unsigned hex4(scanner *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = next(s);
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            fail(s, "bad \\u escape");
        v = v * 16 + (unsigned)d;
    }
    return v;
}

static void keep_utf8(scanner *s, unsigned cp)
{
    if (cp < 0x80) {
        keep_byte(s, (int)cp);
    } else if (cp < 0x800) {
        keep_byte(s, (int)(0xC0 | (cp >> 6)));
        keep_byte(s, (int)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        keep_byte(s, (int)(0xE0 | (cp >> 12)));
        keep_byte(s, (int)(0x80 | ((cp >> 6) & 0x3F)));
        keep_byte(s, (int)(0x80 | (cp & 0x3F)));
    } else {
        keep_byte(s, (int)(0xF0 | (cp >> 18)));
        keep_byte(s, (int)(0x80 | ((cp >> 12) & 0x3F)));
        keep_byte(s, (int)(0x80 | ((cp >> 6) & 0x3F)));
        keep_byte(s, (int)(0x80 | (cp & 0x3F)));
    }
}

/* Reads a string; with keep, its decoded text is left in s->str. */
static void read_string(scanner *s, bool keep)
{
    expect(s, '"');
    s->slen = 0;
    if (keep)
        keep_byte(s, 0), s->slen = 0;
    for (;;) {
        /* Fast path: plain bytes inside the window. */
        while (s->pos < s->len) {
            unsigned char c = s->buf[s->pos];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            if (keep)
                keep_byte(s, c);
            s->pos++;
        }
        int c = next(s);
        if (c < 0)
            fail(s, "unterminated string");
        if (c == '"')
            return;
        if (c < 0x20)
            fail(s, "control character in a string");
        if (c != '\\') {
            if (keep)
                keep_byte(s, c);
            continue;
        }
        c = next(s);
        unsigned cp;
        switch (c) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            cp = hex4(s);
            if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
                if (next(s) != '\\' || next(s) != 'u')
                    fail(s, "unpaired surrogate");
                unsigned lo = hex4(s);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    fail(s, "unpaired surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(s, "unpaired surrogate");
            }
            break;
        default: fail(s, "bad escape in a string");
        }
        if (keep)
            keep_utf8(s, cp);
    }
}

/* Reads a JSON number; *is_int tells whether it is an integer within range. */
static double read_number(scanner *s, long long *ival, bool *is_int)
{
    char tmp[64];
    size_t n = 0;
    for (;;) {
        int c = peek(s);
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            break;
        if (n + 1 >= sizeof tmp)
            fail(s, "number too long");
        tmp[n++] = (char)c;
        next(s);
    }
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    const char *digits = tmp[0] == '-' ? tmp + 1 : tmp;
    if (n == 0 || *end != '\0' || digits[0] < '0' || digits[0] > '9' ||
        (digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9'))
        fail(s, "bad number");
    *is_int = strpbrk(tmp, ".eE") == NULL && errno == 0;
    if (*is_int) {
        errno = 0;
        *ival = strtoll(tmp, &end, 10);
        if (errno)
            *is_int = false;
    }
    return d;
}

static void read_literal(scanner *s, const char *word)
{
    for (const char *p = word; *p; p++)
        if (next(s) != *p)
            fail(s, "unexpected character");
}

/* Skips a number without converting it (segmentations are millions of them),
 * checking its shape: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static void skip_number(scanner *s)
{
    enum { START, MINUS, ZERO, INT, DOT, FRAC, E, ESIGN, EXP } st = START;
    for (;;) {
        int c = s->pos < s->len ? s->buf[s->pos] : peek(s);
        bool digit = c >= '0' && c <= '9';
        switch (st) {
        case START:
            if (c == '-') {
                st = MINUS;
                break;
            }
            /* fall through */
        case MINUS:
            if (!digit)
                fail(s, "bad number");
            st = c == '0' ? ZERO : INT;
            break;
        case ZERO:
        case INT:
        case FRAC:
            if (digit && st != ZERO)
                break;
            if (c == '.' && st != FRAC)
                st = DOT;
            else if (c == 'e' || c == 'E')
                st = E;
            else if (digit)
                fail(s, "bad number (leading zero)");
            else
                return; /* the number ends here */
            break;
        case DOT:
            if (!digit)
                fail(s, "bad number");
            st = FRAC;
            break;
        case E:
            if (c == '+' || c == '-') {
                st = ESIGN;
                break;
            }
            /* fall through */
        case ESIGN:
            if (!digit)
                fail(s, "bad number");
            st = EXP;
            break;
        case EXP:
            if (!digit)
                return;
            break;
        }
        s->pos++;
    }
}

/* Skips one value of any kind. Containers are tracked with a small stack of
 * their closing brackets, so deep polygons cost no recursion. */
static void skip_value(scanner *s)
{
    char closers[256];
    int depth = 0;
    bool expect_value = true;
    for (;;) {
        int c = peek_token(s);
        if (expect_value) {
            if (c == '{' || c == '[') {
                if (depth == (int)sizeof closers)
                    fail(s, "nested too deeply");
                next(s);
                closers[depth++] = c == '{' ? '}' : ']';
                if (peek_token(s) == closers[depth - 1]) {
                    next(s);
                    depth--;
                    expect_value = false;
                } else if (c == '{') {
                    read_string(s, false);
                    expect(s, ':');
                }
                if (depth == 0)
                    return;
                continue;
            }
            if (c == '"')
                read_string(s, false);
            else if (c == '-' || (c >= '0' && c <= '9'))
                skip_number(s); else if (c == 't')
                read_literal(s, "true");
            else if (c == 'f')
                read_literal(s, "false");
            else if (c == 'n')
                read_literal(s, "null");
            else
                fail(s, c < 0 ? "unexpected end of the file" : "expected a value");
            expect_value = false;
            if (depth == 0)
                return;
            continue;
        }
        /* after a value inside a container */
        if (c == ',') {
            next(s);
            if (closers[depth - 1] == '}') {
                read_string(s, false);
                expect(s, ':');
            }
            expect_value = true;
        } else if (c == closers[depth - 1]) {
            next(s);
            if (--depth == 0)
                return;
        } else {
            fail(s, c < 0 ? "unexpected end of the file" : "expected ',' or a closing bracket");
        }
    }
}

/* Iterates the members of an object: returns true with the key in s->str, false
 * after the closing brace. `first` starts the walk (reads the '{'). */
static bool next_member(scanner *s, bool *first)
{
    if (*first) {
        expect(s, '{');
        *first = false;
        if (peek_token(s) == '}') {
            next(s);
            return false;
        }
    } else {
        int c = peek_token(s);
        if (c == '}') {
            next(s);
            return false;
        }
        expect(s, ',');
    }
    read_string(s, true);
    expect(s, ':');
    return true;
}

/* Same for the elements of an array. */
static bool next_element(scanner *s, bool *first)
{
    if (*first) {
        expect(s, '[');
        *first = false;
        if (peek_token(s) == ']') {
            next(s);
            return false;
        }
        return true;
    }
    int c = peek_token(s);
    if (c == ']') {
        next(s);
        return false;
    }
    expect(s, ',');
    return true;
}

static long long read_id(scanner *s, const char *what)
{
    long long v;
    bool is_int;
    int c = peek_token(s);
    if (!(c == '-' || (c >= '0' && c <= '9')))
        fail(s, what);
    read_number(s, &v, &is_int);
    if (!is_int)
        fail(s, what);
    return v;
}

/* ---- ground truth ------------------------------------------------------------------ */

static void add_image(scanner *s, pv_coco *c, long long id)
{
    if (c->nimages == c->capimages) {
        size_t cap = c->capimages ? c->capimages * 2 : 1024;
        long long *p = realloc(c->images, cap * sizeof *p);
        if (!p)
            fail_oom(s);
        c->images = p;
        c->capimages = cap;
    }
    c->images[c->nimages++] = id;
    c->sorted = false;
}

static void add_pair(scanner *s, pair **v, size_t *n, size_t *cap, long long image, int cat)
{
    if (*n == *cap) {
        size_t newcap = *cap ? *cap * 2 : 4096;
        pair *p = realloc(*v, newcap * sizeof *p);
        if (!p)
            fail_oom(s);
        *v = p;
        *cap = newcap;
    }
    (*v)[(*n)++] = (pair){image, cat};
}

/* images: [{"id": N, ...}, ...] */
static void read_images(scanner *s, pv_coco *c)
{
    bool first = true;
    while (next_element(s, &first)) {
        bool f2 = true, have_id = false;
        while (next_member(s, &f2)) {
            if (strcmp(s->str, "id") == 0) {
                add_image(s, c, read_id(s, "image \"id\" is not an integer"));
                have_id = true;
            } else {
                skip_value(s);
            }
        }
        if (!have_id)
            fail(s, "image without \"id\"");
    }
}

static void read_instance_annotations(scanner *s, pv_coco *c, instances *in)
{
    bool first = true;
    while (next_element(s, &first)) {
        bool f2 = true;
        long long image = -1, cat = -1;
        bool have_image = false, have_cat = false;
        while (next_member(s, &f2)) {
            if (strcmp(s->str, "image_id") == 0) {
                image = read_id(s, "\"image_id\" is not an integer");
                have_image = true;
            } else if (strcmp(s->str, "category_id") == 0) {
                cat = read_id(s, "\"category_id\" is not an integer");
                have_cat = true;
            } else {
                skip_value(s);
            }
        }
        if (!have_image)
            fail(s, "annotation without \"image_id\"");
        if (!have_cat)
            fail(s, "annotation without \"category_id\"");
        if (cat < INT32_MIN || cat > INT32_MAX)
            fail(s, "\"category_id\" out of range");
        add_pair(s, &in->pairs, &in->n, &in->cap, image, (int)cat);
    }
}

static void read_categories(scanner *s, instances *in)
{
    bool first = true;
    while (next_element(s, &first)) {
        bool f2 = true, have_id = false;
        long long id = 0;
        free(s->pending);
        s->pending = NULL;
        while (next_member(s, &f2)) {
            if (strcmp(s->str, "id") == 0) {
                id = read_id(s, "category \"id\" is not an integer");
                have_id = true;
            } else if (strcmp(s->str, "name") == 0) {
                if (peek_token(s) != '"')
                    fail(s, "category \"name\" is not a string");
                read_string(s, true);
                free(s->pending);
                if (!(s->pending = strdup(s->str)))
                    fail_oom(s);
            } else {
                skip_value(s);
            }
        }
        if (!have_id || !s->pending)
            fail(s, "category without \"id\" or \"name\"");
        if (in->ncats == in->capcats) {
            size_t cap = in->capcats ? in->capcats * 2 : 128;
            category *p = realloc(in->cats, cap * sizeof *p);
            if (!p)
                fail_oom(s);
            in->cats = p;
            in->capcats = cap;
        }
        in->cats[in->ncats++] = (category){id, s->pending};
        s->pending = NULL;
    }
}

static void read_caption_annotations(scanner *s, pv_coco *c)
{
    bool first = true;
    while (next_element(s, &first)) {
        bool f2 = true, have_image = false;
        long long image = -1;
        free(s->pending);
        s->pending = NULL;
        while (next_member(s, &f2)) {
            if (strcmp(s->str, "image_id") == 0) {
                image = read_id(s, "\"image_id\" is not an integer");
                have_image = true;
            } else if (strcmp(s->str, "caption") == 0) {
                if (peek_token(s) != '"')
                    fail(s, "\"caption\" is not a string");
                read_string(s, true);
                free(s->pending);
                if (!(s->pending = strdup(s->str)))
                    fail_oom(s);
            } else {
                skip_value(s);
            }
        }
        if (!have_image)
            fail(s, "annotation without \"image_id\"");
        if (!s->pending)
            fail(s, "annotation without \"caption\"");
        size_t n = pv_lexicon_mentions(c->lex, s->pending, s->mentions, s->mcap);
        if (n > s->mcap) {
            pv_mention *p = realloc(s->mentions, n * sizeof *p);
            if (!p)
                fail_oom(s);
            s->mentions = p;
            s->mcap = n;
            n = pv_lexicon_mentions(c->lex, s->pending, s->mentions, s->mcap);
        }
        for (size_t i = 0; i < n; i++)
            add_pair(s, &c->pairs, &c->npairs, &c->cappairs, image, s->mentions[i].category);
        c->sorted = false;
    }
}

/* Walks the top-level object of either kind of file. The walk allocates into
 * `in`, freed by the caller whatever happens. */
static void read_file(scanner *s, pv_coco *c, bool captions)
{
    instances *in = &s->in;
    bool first = true, saw_annotations = false;
    if (peek_token(s) != '{')
        fail(s, "not a COCO annotation file (expected a JSON object)");
    while (next_member(s, &first)) {
        if (strcmp(s->str, "images") == 0) {
            read_images(s, c);
        } else if (strcmp(s->str, "annotations") == 0) {
            saw_annotations = true;
            if (captions)
                read_caption_annotations(s, c);
            else
                read_instance_annotations(s, c, in);
        } else if (!captions && strcmp(s->str, "categories") == 0) {
            read_categories(s, in);
        } else {
            skip_value(s);
        }
    }
    if (peek_token(s) >= 0)
        fail(s, "text after the JSON object");
    if (!saw_annotations)
        fail(s, "no \"annotations\" in the file");
}

static int read_path(pv_coco *c, const char *path, bool captions, char *err, size_t errlen)
{
    scanner *s = calloc(1, sizeof *s);
    volatile int rc = 0; /* set after setjmp */
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    s->path = path;
    s->line = 1;
    s->err = err;
    s->errlen = errlen;
    if (!(s->f = gzopen(path, "rb"))) {
        snprintf(err, errlen, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        free(s);
        return -1;
    }
    gzbuffer(s->f, 1 << 17);
    if (setjmp(s->fail) != 0) {
        rc = -1;
        goto done;
    }
    read_file(s, c, captions);
    instances *in = &s->in;
    if (!captions) {
        /* COCO category ids -> lexicon categories, by name, in place; the
         * array then becomes (or joins) the ground truth. */
        int *lexcat = malloc((in->ncats + 1) * sizeof *lexcat);
        if (!lexcat) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
            goto done;
        }
        for (size_t k = 0; k < in->ncats && rc == 0; k++)
            if ((lexcat[k] = pv_lexicon_lookup(c->lex, in->cats[k].name)) < 0) {
                snprintf(err, errlen, "%s: category \"%s\" (id %lld) is not in the lexicon",
                         path, in->cats[k].name, in->cats[k].id);
                rc = -1;
            }
        for (size_t i = 0, k = 0; i < in->n && rc == 0; i++) {
            if (k >= in->ncats || in->cats[k].id != in->pairs[i].cat) /* runs share a category */
                for (k = 0; k < in->ncats && in->cats[k].id != in->pairs[i].cat; k++)
                    ;
            if (k == in->ncats) {
                snprintf(err, errlen, "%s: annotation of image %lld has category_id %d, "
                         "which \"categories\" does not list", path, in->pairs[i].image,
                         in->pairs[i].cat);
                rc = -1;
            } else {
                in->pairs[i].cat = lexcat[k];
            }
        }
        free(lexcat);
        if (rc != 0)
            goto done;
        if (c->npairs == 0) { /* adopt the array: no copy */
            free(c->pairs);
            c->pairs = in->pairs;
            c->npairs = in->n;
            c->cappairs = in->cap;
            in->pairs = NULL;
            in->n = in->cap = 0;
        } else if (in->n) {
            pair *p = realloc(c->pairs, (c->npairs + in->n) * sizeof *p);
            if (!p) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
                goto done;
            }
            memcpy(p + c->npairs, in->pairs, in->n * sizeof *p);
            c->pairs = p;
            c->npairs += in->n;
            c->cappairs = c->npairs;
        }
        c->sorted = false;
    }
done:
    gzclose(s->f);
    free(s->str);
    free(s->pending);
    free(s->mentions);
    for (size_t i = 0; i < s->in.ncats; i++)
        free(s->in.cats[i].name);
    free(s->in.cats);
    free(s->in.pairs);
    free(s);
    return rc;
}

pv_coco *pv_coco_new(const pv_lexicon *lex)
{
    pv_coco *c = calloc(1, sizeof *c);
    if (c)
        c->lex = lex;
    return c;
}

void pv_coco_free(pv_coco *c)
{
    if (!c)
        return;
    free(c->images);
    free(c->pairs);
    free(c);
}

int pv_coco_read_instances(pv_coco *c, const char *path, char *err, size_t errlen)
{
    return read_path(c, path, false, err, errlen);
}

int pv_coco_read_captions(pv_coco *c, const char *path, char *err, size_t errlen)
{
    return read_path(c, path, true, err, errlen);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->image != y->image)
        return (x->image > y->image) - (x->image < y->image);
    return (x->cat > y->cat) - (x->cat < y->cat);
}

/* Sorts and makes distinct both sets, once after the files are read. */
static void finish(pv_coco *c)
{
    if (c->sorted)
        return;
    qsort(c->images, c->nimages, sizeof *c->images, cmp_ll);
    size_t k = 0;
    for (size_t i = 0; i < c->nimages; i++)
        if (k == 0 || c->images[i] != c->images[k - 1])
            c->images[k++] = c->images[i];
    c->nimages = k;
    qsort(c->pairs, c->npairs, sizeof *c->pairs, cmp_pair);
    k = 0;
    for (size_t i = 0; i < c->npairs; i++)
        if (k == 0 || cmp_pair(&c->pairs[i], &c->pairs[k - 1]) != 0)
            c->pairs[k++] = c->pairs[i];
    c->npairs = k;
    /* Known images: those listed, and those with annotations but not listed. */
    c->nknown = c->nimages;
    for (size_t i = 0; i < c->npairs; i++)
        if ((i == 0 || c->pairs[i].image != c->pairs[i - 1].image) &&
            !bsearch(&c->pairs[i].image, c->images, c->nimages, sizeof *c->images, cmp_ll))
            c->nknown++;
    c->sorted = true;
}

size_t pv_coco_images(pv_coco *c)
{
    finish(c);
    return c->nknown;
}

int pv_coco_objects(pv_coco *c, long long image_id, int *cats, int max)
{
    finish(c);
    size_t lo = 0, hi = c->npairs; /* first pair with image >= image_id */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->pairs[mid].image < image_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    int n = 0;
    for (size_t i = lo; i < c->npairs && c->pairs[i].image == image_id; i++, n++)
        if (n < max)
            cats[n] = c->pairs[i].cat;
    /* An image is known when it has annotations or is listed in "images". */
    if (n == 0 && !bsearch(&image_id, c->images, c->nimages, sizeof *c->images, cmp_ll))
        return -1;
    return n;
}

long long pv_coco_image_id_from_name(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    const char *end = dot && dot != base ? dot : base + strlen(base);
    const char *p = end;
    while (p > base && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || end - p > 18)
        return -1;
    long long v = 0;
    for (; p < end; p++)
        v = v * 10 + (*p - '0');
    return v;
}
