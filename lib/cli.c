#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "version.h"

enum { ID_HELP = -100, ID_VERSION = -101, ID_QUIET = -102, ID_KEEP_GOING = -103 };

static const pv_option common_opts[] = {
    {"help", 'h', PV_ARG_NONE, ID_HELP},
    {"version", 0, PV_ARG_NONE, ID_VERSION},
    {"quiet", 'q', PV_ARG_NONE, ID_QUIET},
    {"keep-going", 0, PV_ARG_NONE, ID_KEEP_GOING},
    {0},
};

_Noreturn void pv_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", pv_progname);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", pv_progname);
    pv_exit(PV_EXIT_USAGE);
}

pv_cli pv_cli_start(int argc, char **argv, const pv_option *opts, const char *usage)
{
    pv_cli cli = {.argc = argc, .argv = argv, .index = 1, .opts = opts, .usage = usage};
    return cli;
}

static const pv_option *find_long(const pv_option *table, const char *name, size_t len)
{
    for (const pv_option *o = table; o->long_name; o++)
        if (strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
            return o;
    return NULL;
}

static const pv_option *find_short(const pv_option *table, int c)
{
    for (const pv_option *o = table; o->long_name; o++)
        if (o->short_name && o->short_name == c)
            return o;
    return NULL;
}

/* Handles the common options; returns true when `o` was one of them. */
static bool handle_common(pv_cli *cli, const pv_option *o)
{
    switch (o->id) {
    case ID_HELP:
        fputs(cli->usage, stdout);
        pv_exit(PV_EXIT_OK);
    case ID_VERSION:
        printf("%s (pv) %s\n", pv_progname, PV_VERSION);
        pv_exit(PV_EXIT_OK);
    case ID_QUIET:
        pv_quiet = true;
        return true;
    case ID_KEEP_GOING:
        pv_keep_going = true;
        return true;
    default:
        return false;
    }
}

int pv_cli_next(pv_cli *cli, const char **value)
{
    *value = NULL;
    for (;;) {
        const pv_option *o;
        if (cli->bundle && *cli->bundle) {
            int c = (unsigned char)*cli->bundle++;
            o = find_short(cli->opts, c);
            if (!o)
                o = find_short(common_opts, c);
            if (!o)
                pv_usage_error("unknown option '-%c'", c);
            if (o->has_arg) {
                if (*cli->bundle) {
                    *value = cli->bundle;
                } else if (cli->index < cli->argc) {
                    *value = cli->argv[cli->index++];
                } else {
                    pv_usage_error("option '-%c' needs a value", c);
                }
                cli->bundle = NULL;
            }
            if (handle_common(cli, o))
                continue;
            return o->id;
        }
        cli->bundle = NULL;
        if (cli->index >= cli->argc)
            return PV_CLI_END;
        const char *arg = cli->argv[cli->index++];
        if (cli->options_done || arg[0] != '-' || arg[1] == '\0') {
            *value = arg;
            return PV_CLI_POSITIONAL;
        }
        if (arg[1] != '-') {
            cli->bundle = arg + 1;
            continue;
        }
        if (arg[2] == '\0') {
            cli->options_done = true;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        o = find_long(cli->opts, name, len);
        if (!o)
            o = find_long(common_opts, name, len);
        if (!o)
            pv_usage_error("unknown option '--%.*s'", (int)len, name);
        if (o->has_arg) {
            if (eq) {
                *value = eq + 1;
            } else if (cli->index < cli->argc) {
                *value = cli->argv[cli->index++];
            } else {
                pv_usage_error("option '--%s' needs a value", o->long_name);
            }
        } else if (eq) {
            pv_usage_error("option '--%s' takes no value", o->long_name);
        }
        if (handle_common(cli, o))
            continue;
        return o->id;
    }
}

long long pv_parse_int(const char *opt, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE)
        pv_usage_error("%s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        pv_usage_error("%s: %s is out of range [%lld, %lld]", opt, s, min, max);
    return v;
}

uint64_t pv_parse_u64(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        pv_usage_error("%s: '%s' is not a non-negative integer", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        pv_usage_error("%s: '%s' is not a non-negative integer", opt, s);
    return (uint64_t)v;
}

double pv_parse_double(const char *opt, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
        pv_usage_error("%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        pv_usage_error("%s: %s is out of range [%g, %g]", opt, s, min, max);
    return v;
}

int pv_parse_choice(const char *opt, const char *s, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(s, choices[i]) == 0)
            return i;
    char list[512] = "";
    for (int i = 0; choices[i]; i++) {
        if (i)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    pv_usage_error("%s: '%s' is not one of: %s", opt, s, list);
}
