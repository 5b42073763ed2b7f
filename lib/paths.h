/* File paths of records and model folders. */
#ifndef PV_PATHS_H
#define PV_PATHS_H

/* dir + "/" + name (malloc'd); exits 3 when out of memory. */
char *pv_path_join(const char *dir, const char *name);
/* A record's relative path resolved against root (DESIGN.md: --image-root,
 * default "."); absolute paths and root "." stay as they are. malloc'd. */
char *pv_path_resolve(const char *root, const char *path);

#endif
