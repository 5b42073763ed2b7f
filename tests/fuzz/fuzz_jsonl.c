/* libFuzzer target: the JSONL reader (lib/records) and pv-pair's input and
 * format conversions (JSON arrays, llava/trl import and export, validation).
 *
 * Each input is written to a temporary file and read the way pv-pair reads it,
 * with --keep-going so that bad records are reported and skipped, never fatal.
 * Inputs that start like gzip (0x1f) are skipped: a truncated compressed stream
 * is a read error that ends the program with status 3 by design. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "pair_formats.h"
#include "pair_input.h"
#include "pair_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char path[] = "/tmp/pv-fuzz-jsonl.XXXXXX";
static pv_pair_rules rules;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pv_keep_going = true;
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(1);
    }
    close(fd);
    pv_pair_rules_require(&rules, PV_PAIR_DEFAULT_REQUIRE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 0x1f)
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    pv_pair_input *in = pv_pair_input_open(path);
    if (!in)
        abort();
    cJSON *obj;
    int rc;
    while ((rc = pv_pair_input_next(in, &obj)) != 0) {
        if (rc < 0)
            continue;
        const char *name = pv_pair_input_name(in);
        long line = pv_pair_input_line(in);
        cJSON *rec = pv_pair_import(obj, pv_pair_detect(obj), name, line);
        if (!rec)
            continue;
        char reason[96];
        pv_pair_validate(&rules, rec, name, line, reason, sizeof reason);
        /* Round trip through both interchange formats. */
        rec = pv_pair_export(rec, PV_PAIR_LLAVA, name, line);
        if (rec)
            rec = pv_pair_import(rec, PV_PAIR_LLAVA, name, line);
        if (rec)
            rec = pv_pair_export(rec, PV_PAIR_TRL, name, line);
        if (rec)
            rec = pv_pair_import(rec, PV_PAIR_TRL, name, line);
        cJSON_Delete(rec);
    }
    pv_pair_input_close(in);
    return 0;
}
