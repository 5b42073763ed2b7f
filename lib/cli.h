/* Command-line parsing shared by every tool.
 *
 * A tool describes its options in a table and calls pv_cli_next() in a loop:
 *
 *     static const pv_option opts[] = {
 *         {"seed", 's', PV_ARG_REQUIRED, OPT_SEED},
 *         {"step", 0,   PV_ARG_REQUIRED, OPT_STEP},
 *         {0},
 *     };
 *     pv_cli cli = pv_cli_start(argc, argv, opts, usage_text);
 *     int id; const char *val;
 *     while ((id = pv_cli_next(&cli, &val)) != PV_CLI_END) {
 *         switch (id) {
 *         case OPT_SEED: seed = pv_parse_u64("--seed", val, 0, UINT64_MAX); break;
 *         case PV_CLI_POSITIONAL: add_input(val); break;
 *         }
 *     }
 *
 * Long options work as "--name value" and "--name=value"; short ones as "-s value",
 * "-svalue", and bundled flags "-qv". "--" ends the options; "-" is positional.
 * The common options are handled here: --help and --version print to stdout and
 * exit 0; -q/--quiet sets pv_quiet; --keep-going sets pv_keep_going. Errors exit 2. */
#ifndef PV_CLI_H
#define PV_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum { PV_ARG_NONE = 0, PV_ARG_REQUIRED = 1 };

enum {
    PV_CLI_END = -1,
    PV_CLI_POSITIONAL = -2,
};

typedef struct pv_option {
    const char *long_name; /* without "--"; NULL ends the table */
    int short_name;        /* a letter, or 0 */
    int has_arg;           /* PV_ARG_NONE or PV_ARG_REQUIRED */
    int id;                /* returned by pv_cli_next; must be >= 0 */
} pv_option;

typedef struct pv_cli {
    int argc;
    char **argv;
    int index;               /* next argv element */
    const char *bundle;      /* rest of a "-abc" bundle being parsed */
    bool options_done;       /* after "--" */
    const pv_option *opts;
    const char *usage;       /* full --help text */
} pv_cli;

pv_cli pv_cli_start(int argc, char **argv, const pv_option *opts, const char *usage);
int pv_cli_next(pv_cli *cli, const char **value);

/* Usage error: "prog: message" plus a hint to --help, exit 2. */
_Noreturn void pv_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict numeric parsing for option values; out of range or garbage is a usage error
 * naming the option. */
long long pv_parse_int(const char *opt, const char *s, long long min, long long max);
uint64_t pv_parse_u64(const char *opt, const char *s);
double pv_parse_double(const char *opt, const char *s, double min, double max);
/* Index of `s` in a NULL-terminated list of choices, or a usage error listing them. */
int pv_parse_choice(const char *opt, const char *s, const char *const *choices);

#endif
