/* UTF-8 validation (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
#ifndef PV_UTF8_H
#define PV_UTF8_H

#include <stddef.h>

/* Returns the byte offset of the first invalid sequence, or (size_t)-1 if valid. */
size_t pv_utf8_invalid_at(const char *s, size_t len);

#endif
