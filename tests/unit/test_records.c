/* JSONL reader and writer: long lines, CRLF, blank lines, gzip, field order kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "diag.h"
#include "json_print.h"
#include "records.h"
#include "utf8.h"

static char dir[] = "/tmp/pv-test-records.XXXXXX";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    pv_keep_going = true;
    mkdtemp(dir);
    char path[256], gzpath[256], outpath[256];
    snprintf(path, sizeof path, "%s/in.jsonl", dir);
    snprintf(gzpath, sizeof gzpath, "%s/in.jsonl.gz", dir);
    snprintf(outpath, sizeof outpath, "%s/out.jsonl", dir);

    /* A 1 MB string field checks that lines have no length limit. */
    size_t big = 1 << 20;
    char *text = malloc(big + 256);
    strcpy(text, "{\"id\":\"a\",\"z\":1,\"b\":\"");
    size_t n = strlen(text);
    memset(text + n, 'x', big);
    strcpy(text + n + big, "\"}\r\n\r\n   \n{\"id\":2}\n{\"bad\":\n[1,2]\n{\"id\":\"\xff\"}\n{\"last\":true}");
    write_text(path, text);

    pv_reader *r = pv_reader_open(path);
    cJSON *rec;
    CHECK(pv_reader_next(r, &rec) == 1, "long CRLF line read");
    const char *b = pv_rec_string(r, rec, "b", true);
    CHECK(b && strlen(b) == big, "1 MB field intact");
    CHECK(pv_reader_line(r) == 1, "line 1");
    cJSON_Delete(rec);
    CHECK(pv_reader_next(r, &rec) == 1 && pv_reader_line(r) == 4, "blank lines skipped, line 4");
    char idbuf[32];
    CHECK(strcmp(pv_rec_id(rec, idbuf, sizeof idbuf), "2") == 0, "numeric id as text");
    cJSON_Delete(rec);
    long before = pv_bad_records;
    CHECK(pv_reader_next(r, &rec) == -1 && pv_reader_line(r) == 5, "invalid JSON reported at line 5");
    CHECK(pv_reader_next(r, &rec) == -1, "array is not a record");
    CHECK(pv_reader_next(r, &rec) == -1, "invalid UTF-8 rejected");
    CHECK(pv_bad_records == before + 3, "three bad records counted");
    CHECK(pv_reader_next(r, &rec) == 1 && cJSON_IsTrue(cJSON_GetObjectItem(rec, "last")),
          "last line without newline");
    cJSON_Delete(rec);
    CHECK(pv_reader_next(r, &rec) == 0, "end of input");
    pv_reader_close(r);

    /* gzip in, field order kept, owned field replaced in place. */
    gzFile gz = gzopen(gzpath, "wb");
    gzputs(gz, "{\"id\":\"x\",\"rejected\":\"old\",\"keep\":[1,{\"a\":null}]}\n");
    gzclose(gz);
    r = pv_reader_open(gzpath);
    CHECK(pv_reader_next(r, &rec) == 1, "gzip record read");
    pv_rec_set_string(rec, "rejected", "new");
    pv_rec_set_string(rec, "added", "y");
    pv_writer *w = pv_writer_open(outpath);
    pv_writer_put(w, rec);
    pv_writer_close(w);
    cJSON_Delete(rec);
    pv_reader_close(r);
    char line[256] = "";
    FILE *f = fopen(outpath, "r");
    CHECK(f && fgets(line, sizeof line, f), "output readable");
    if (f)
        fclose(f);
    CHECK(strcmp(line, "{\"id\":\"x\",\"rejected\":\"new\",\"keep\":[1,{\"a\":null}],\"added\":\"y\"}\n") == 0,
          "fields kept in order, replaced in place, new ones appended");

    /* Numbers come out in their shortest exact form: every double reads back equal. */
    {
        double vals[] = {6.0 / 7.0, 0.1, 1e300, -2.5e-7, 123456789.125, 1.0 / 3.0, 2e-308};
        int exact = 0;
        for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
            cJSON *num = cJSON_CreateNumber(vals[i]);
            char *printed = pv_json_print(num);
            exact += strtod(printed, NULL) == vals[i];
            free(printed);
            cJSON_Delete(num);
        }
        CHECK(exact == 7, "numbers printed exactly (6/7, 0.1, 1e300, ...)");
        cJSON *s = cJSON_CreateString("q\"b\\c\n\x01\xc3\xa9");
        char *escaped = pv_json_print(s);
        CHECK(strcmp(escaped, "\"q\\\"b\\\\c\\n\\u0001\xc3\xa9\"") == 0, "strings escaped as JSON requires");
        free(escaped);
        cJSON_Delete(s);
    }
    CHECK(pv_utf8_invalid_at("h\xc3\xa9", 3) == (size_t)-1, "valid UTF-8");
    CHECK(pv_utf8_invalid_at("0123456789abcdefgh\xff", 19) == 18, "invalid byte after ASCII runs");
    CHECK(pv_utf8_invalid_at("0123456789abcdef\xe2\x82\xac!", 20) == (size_t)-1,
          "multi-byte character after 16 ASCII bytes");

    /* An escaped NUL would be cut silently by cJSON: refused; an escaped backslash
     * before "u0000" is ordinary text. */
    write_text(path, "{\"a\":\"x\\u0000y\"}\n{\"a\":\"x\\\\u0000y\"}\n");
    r = pv_reader_open(path);
    before = pv_bad_records;
    CHECK(pv_reader_next(r, &rec) == -1 && pv_bad_records == before + 1, "\\u0000 refused");
    CHECK(pv_reader_next(r, &rec) == 1 &&
              strcmp(cJSON_GetObjectItem(rec, "a")->valuestring, "x\\u0000y") == 0,
          "escaped backslash then u0000 is text");
    cJSON_Delete(rec);
    pv_reader_close(r);
    CHECK(pv_utf8_invalid_at("\xc0\xaf", 2) == 0, "overlong rejected");
    CHECK(pv_utf8_invalid_at("a\xed\xa0\x80", 4) == 1, "surrogate rejected");

    unlink(path);
    unlink(gzpath);
    unlink(outpath);
    rmdir(dir);
    free(text);
    return check_done();
}
