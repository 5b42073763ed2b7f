/* A string-keyed hash map for pv-pair: the --dedupe set and the --join table.
 *
 * Keys are copied (any bytes, given with their length); values are opaque
 * pointers the caller owns. Open addressing with linear probing, FNV-1a hash,
 * grown at 1/2 load. Entries are never removed. */
#ifndef PV_PAIR_STRMAP_H
#define PV_PAIR_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pv_strmap pv_strmap;

pv_strmap *pv_strmap_new(void);
/* Frees the map and its key copies (not the values). */
void pv_strmap_free(pv_strmap *m);
/* The value stored under key, or NULL when absent. */
void *pv_strmap_get(const pv_strmap *m, const char *key, size_t len);
/* Stores value under key unless the key is present. Returns true when it was
 * added, false when the key was already there (the map is unchanged). */
bool pv_strmap_add(pv_strmap *m, const char *key, size_t len, void *value);
size_t pv_strmap_count(const pv_strmap *m);
/* Calls fn on every value (in no particular order), e.g. to free them. */
void pv_strmap_each_value(pv_strmap *m, void (*fn)(void *value));

#endif
