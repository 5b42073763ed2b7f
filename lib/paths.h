/* File paths of records and model folders, and whole-file reads. */
#ifndef PV_PATHS_H
#define PV_PATHS_H

#include <stddef.h>

/* dir + "/" + name (malloc'd); exits 3 when out of memory. */
char *pv_path_join(const char *dir, const char *name);
/* A record's relative path resolved against root (DESIGN.md: --image-root,
 * default "."); absolute paths and root "." stay as they are. malloc'd. */
char *pv_path_resolve(const char *root, const char *path);

/* Reads a whole file ("-": standard input) into a malloc'd buffer with a NUL
 * after its last byte; *len (may be NULL) gets the size. NULL with errno set
 * (ENOMEM when out of memory, EIO for a read error without errno). */
char *pv_read_file(const char *path, size_t *len);

#endif
