#include "pair_strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

typedef struct entry {
    char *key; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    void *value;
} entry;

struct pv_strmap {
    entry *slots;
    size_t cap; /* a power of two */
    size_t count;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    return p;
}

/* FNV-1a, 64-bit (Fowler, Noll, Vo): simple, and good enough for text keys. */
static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

pv_strmap *pv_strmap_new(void)
{
    pv_strmap *m = xcalloc(1, sizeof *m);
    m->cap = 64;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    return m;
}

void pv_strmap_free(pv_strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static entry *find_slot(entry *slots, size_t cap, const char *key, size_t len, uint64_t hash)
{
    size_t i = (size_t)hash & (cap - 1);
    while (slots[i].key) {
        entry *e = &slots[i];
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

void *pv_strmap_get(const pv_strmap *m, const char *key, size_t len)
{
    entry *e = find_slot(m->slots, m->cap, key, len, fnv1a(key, len));
    return e->key ? e->value : NULL;
}

static void grow(pv_strmap *m)
{
    size_t cap = m->cap * 2;
    entry *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < m->cap; i++) {
        entry *e = &m->slots[i];
        if (e->key)
            *find_slot(slots, cap, e->key, e->len, e->hash) = *e;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

bool pv_strmap_add(pv_strmap *m, const char *key, size_t len, void *value)
{
    if (2 * (m->count + 1) > m->cap)
        grow(m);
    uint64_t hash = fnv1a(key, len);
    entry *e = find_slot(m->slots, m->cap, key, len, hash);
    if (e->key)
        return false;
    e->key = malloc(len + 1);
    if (!e->key)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    e->hash = hash;
    e->value = value;
    m->count++;
    return true;
}

size_t pv_strmap_count(const pv_strmap *m) { return m->count; }

void pv_strmap_each_value(pv_strmap *m, void (*fn)(void *value))
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            fn(m->slots[i].value);
}
