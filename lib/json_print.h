/* Compact JSON text of a cJSON tree, one line, with every number in the shortest
 * form that reads back to the same double (cJSON's own printer may drop the last
 * bit: it accepts 15 digits that read back merely "close"). Strings are escaped
 * as JSON requires (", \, control characters); other UTF-8 is written as is.
 * Non-finite numbers become null, as in cJSON. */
#ifndef PV_JSON_PRINT_H
#define PV_JSON_PRINT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Prints into *buf (grown with realloc as needed; *cap its size), NUL-terminated.
 * Returns the length. Exits 3 when out of memory. */
size_t pv_json_print_into(const cJSON *item, char **buf, size_t *cap);
/* The same into a fresh malloc'd string. */
char *pv_json_print(const cJSON *item);
/* Shortest exact text of a double into out (at least 32 bytes): integers without
 * a fraction, others with 15, 16 or 17 significant digits, whichever reads back equal. */
void pv_json_number(double d, char *out, size_t outlen);

#endif
