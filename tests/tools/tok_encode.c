/* Test helper (built by tests/tokenizer-spm.bats, not installed): encodes each line
 * of standard input with a tokenizer.json and prints its ids separated by spaces,
 * as `spm_encode --output_format=id` does (no <s>).
 *   -d  also decodes the ids (specials kept) and prints the text on the next line
 *   -j  each input line is a JSON string (so texts may hold newlines); encodes with
 *       <s> as transformers' tokenizer(text) does, and prints the decoded text as a
 *       JSON string on the next line */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int main(int argc, char **argv)
{
    int decode = argc == 3 && strcmp(argv[1], "-d") == 0;
    int json = argc == 3 && strcmp(argv[1], "-j") == 0;
    if (argc != 2 + (decode || json)) {
        fprintf(stderr, "usage: tok_encode [-d|-j] tokenizer.json < lines\n");
        return 2;
    }
    char err[512];
    pv_tokenizer *tok = pv_tokenizer_load(argv[argc - 1], err, sizeof err);
    if (!tok) {
        fprintf(stderr, "tok_encode: %s\n", err);
        return 3;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        int32_t *ids;
        long n;
        cJSON *str = NULL;
        if (json) {
            str = cJSON_Parse(line);
            if (!cJSON_IsString(str)) {
                fprintf(stderr, "tok_encode: not a JSON string: %s\n", line);
                return 1;
            }
            n = pv_tokenizer_encode(tok, str->valuestring, true, &ids);
        } else {
            n = pv_tokenizer_encode_at(tok, line, (size_t)len, PV_TOK_TEXT_START, &ids);
        }
        if (n < 0) {
            fprintf(stderr, "tok_encode: encoding failed\n");
            return 3;
        }
        for (long i = 0; i < n; i++)
            printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
        if (decode || json) {
            char *text = pv_tokenizer_decode(tok, ids, (size_t)n, false);
            if (json) {
                cJSON *out = cJSON_CreateString(text ? text : "(decode failed)");
                char *printed = cJSON_PrintUnformatted(out);
                printf("%s\n", printed);
                free(printed);
                cJSON_Delete(out);
            } else {
                printf("%s\n", text ? text : "(decode failed)");
            }
            free(text);
        }
        cJSON_Delete(str);
        free(ids);
    }
    free(line);
    pv_tokenizer_free(tok);
    return 0;
}
