/* Option parsing: both long forms, bundles, "--", positional "-", values. */
#include <string.h>

#include "check.h"
#include "cli.h"
#include "diag.h"

enum { OPT_SEED, OPT_STEP, OPT_FLAG };
static const pv_option opts[] = {
    {"seed", 's', PV_ARG_REQUIRED, OPT_SEED},
    {"step", 0, PV_ARG_REQUIRED, OPT_STEP},
    {"flag", 'f', PV_ARG_NONE, OPT_FLAG},
    {0},
};

int main(void)
{
    char *argv[] = {"prog", "--seed", "7", "--step=500", "-fq", "-s9", "-", "--keep-going",
                    "--", "--flag", NULL};
    int argc = 10;
    pv_cli cli = pv_cli_start(argc, argv, opts, "usage\n");
    const char *v;
    int id;
    int seen_seed = 0, seen_step = 0, seen_flag = 0, positional = 0;
    const char *pos[4] = {0};
    while ((id = pv_cli_next(&cli, &v)) != PV_CLI_END) {
        switch (id) {
        case OPT_SEED:
            seen_seed++;
            CHECK(strcmp(v, seen_seed == 1 ? "7" : "9") == 0, "seed value, separate and glued");
            break;
        case OPT_STEP:
            seen_step++;
            CHECK(strcmp(v, "500") == 0, "--name=value form");
            break;
        case OPT_FLAG:
            seen_flag++;
            break;
        case PV_CLI_POSITIONAL:
            if (positional < 4)
                pos[positional] = v;
            positional++;
            break;
        }
    }
    CHECK(seen_seed == 2 && seen_step == 1 && seen_flag == 1, "every option seen once");
    CHECK(pv_quiet, "-q bundled with a flag sets quiet");
    CHECK(pv_keep_going, "--keep-going");
    CHECK(positional == 2 && strcmp(pos[0], "-") == 0 && strcmp(pos[1], "--flag") == 0,
          "'-' and everything after '--' are positional");
    CHECK(pv_parse_int("--n", "42", 0, 100) == 42, "pv_parse_int");
    CHECK(pv_parse_double("--x", "1e-3", 0, 1) == 1e-3, "pv_parse_double");
    const char *choices[] = {"png", "jpg", NULL};
    CHECK(pv_parse_choice("--format", "jpg", choices) == 1, "pv_parse_choice");
    return check_done();
}
