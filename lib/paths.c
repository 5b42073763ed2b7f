#include "paths.h"

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
