#include "paths.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

char *pv_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        pv_die(PV_EXIT_SYSTEM, "out of memory");
    size_t dl = strlen(dir);
    snprintf(p, n, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
    return p;
}

char *pv_path_resolve(const char *root, const char *path)
{
    if (path[0] == '/' || !root || !*root || strcmp(root, ".") == 0) {
        char *p = strdup(path);
        if (!p)
            pv_die(PV_EXIT_SYSTEM, "out of memory");
        return p;
    }
    return pv_path_join(root, path);
}

char *pv_read_file(const char *path, size_t *len)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    int saved = buf ? (ferror(f) ? (errno ? errno : EIO) : 0) : ENOMEM;
    if (!is_stdin)
        fclose(f);
    if (saved) {
        free(buf);
        errno = saved;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
