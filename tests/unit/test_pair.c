/* pv-pair's modules: SplitMix64 against its published first outputs, Fisher-Yates
 * uniformity (chi-square), the string map under growth, and the llava/trl
 * conversions as exact inverses (cJSON_Compare). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diag.h"
#include "pair_formats.h"
#include "pair_shuffle.h"
#include "pair_strmap.h"

static void test_splitmix64(void)
{
    /* Vigna's splitmix64.c seeded with 0: the reference values quoted by many
     * independent implementations. */
    static const uint64_t want[] = {0xe220a8397b1dcdafu, 0x6e789e6aa1b965f4u, 0x06c45d188009454fu,
                                    0xf88bb8a8724c81ecu};
    pv_splitmix64 g = {0};
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        uint64_t got = pv_splitmix64_next(&g);
        if (got != want[i]) {
            printf("# output %d: got %016llx want %016llx\n", i, (unsigned long long)got,
                   (unsigned long long)want[i]);
            ok = 0;
        }
    }
    CHECK(ok, "SplitMix64(0) gives the published first four outputs");

    pv_splitmix64 h = {42};
    int in_range = 1;
    for (int i = 0; i < 100000; i++) {
        uint64_t bound = (uint64_t)(i % 97) + 1;
        in_range &= pv_splitmix64_below(&h, bound) < bound;
    }
    in_range &= pv_splitmix64_below(&h, UINT64_MAX) < UINT64_MAX;
    CHECK(in_range, "bounded draws stay below their bound");
}

/* Each of the 6 orders of 3 items should come up equally often over many seeds.
 * With 60000 shuffles the chi-square statistic has 5 degrees of freedom; 20.52 is
 * its 0.999 quantile, so an unbiased shuffle fails with probability 1e-3 (and the
 * seeds are fixed, so the outcome is the same on every run). A classic off-by-one
 * (j drawn from [0, i) instead of [0, i]) gives only 2 of the 6 orders. */
static void test_shuffle_uniform(void)
{
    long counts[6] = {0};
    const int trials = 60000;
    for (int t = 0; t < trials; t++) {
        int a = 0, b = 1, c = 2;
        void *items[3] = {&a, &b, &c};
        pv_shuffle(items, 3, (uint64_t)t);
        int code = *(int *)items[0] * 3 + *(int *)items[1]; /* first two decide */
        static const int order_of[9] = {-1, 0, 1, 2, -1, 3, 4, 5, -1};
        counts[order_of[code]]++;
    }
    double expect = trials / 6.0, chi2 = 0;
    for (int i = 0; i < 6; i++)
        chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
    printf("# shuffle chi-square over 6 orders: %.2f (limit 20.52)\n", chi2);
    CHECK(chi2 < 20.52, "Fisher-Yates gives every order of 3 items equally often");

    void *none[1] = {NULL};
    pv_shuffle(none, 0, 1);
    pv_shuffle(none, 1, 1);
    CHECK(none[0] == NULL, "shuffling 0 or 1 item is a no-op");
}

static void test_strmap(void)
{
    pv_strmap *m = pv_strmap_new();
    char key[32];
    int ok = 1;
    for (long i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, "k%ld", i);
        ok &= pv_strmap_add(m, key, (size_t)n, (void *)(i + 1));
    }
    CHECK(ok && pv_strmap_count(m) == 100000, "100000 distinct keys added");
    ok = 1;
    for (long i = 0; i < 100000; i += 7) {
        int n = snprintf(key, sizeof key, "k%ld", i);
        ok &= (long)pv_strmap_get(m, key, (size_t)n) == i + 1;
        ok &= !pv_strmap_add(m, key, (size_t)n, NULL);
    }
    CHECK(ok, "every key found with its value; re-adding is refused");
    CHECK(pv_strmap_get(m, "k100000", 7) == NULL, "an absent key is absent");
    /* Keys are byte strings: an embedded NUL does not end them. */
    CHECK(pv_strmap_add(m, "a\0b", 3, (void *)1) && pv_strmap_add(m, "a\0c", 3, (void *)2) &&
              pv_strmap_get(m, "a\0c", 3) == (void *)2 && pv_strmap_get(m, "a", 1) == NULL,
          "keys with NUL bytes are compared in full");
    pv_strmap_free(m);
}

static int round_trip(const char *json, pv_pair_format fmt)
{
    cJSON *orig = cJSON_Parse(json);
    cJSON *rec = pv_pair_import(cJSON_Duplicate(orig, 1), fmt, "test", 1);
    cJSON *back = rec ? pv_pair_export(rec, fmt, "test", 1) : NULL;
    int same = back && cJSON_Compare(orig, back, 1);
    if (!same) {
        char *text = back ? cJSON_PrintUnformatted(back) : NULL;
        printf("# round trip gave %s\n", text ? text : "(nothing)");
        free(text);
    }
    cJSON_Delete(orig);
    cJSON_Delete(back);
    return same;
}

static void test_formats(void)
{
    CHECK(round_trip("{\"id\":\"1\",\"image\":\"a.jpg\",\"conversations\":[{\"from\":\"human\",\"value\":"
                     "\"<image>\\nQ?\"},{\"from\":\"gpt\",\"value\":\"A.\"}],\"x\":[1,{\"y\":null}],"
                     "\"rejected_conversations\":[{\"from\":\"human\",\"value\":\"<image>\\nQ?\"},"
                     "{\"from\":\"gpt\",\"value\":\"B.\"}]}",
                     PV_PAIR_LLAVA),
          "llava -> record -> llava is exact");
    CHECK(round_trip("{\"conversations\":[{\"from\":\"human\",\"value\":\"no image\"},"
                     "{\"from\":\"gpt\",\"value\":\"A.\"}]}",
                     PV_PAIR_LLAVA),
          "text-only llava (no image, no <image>) is exact");
    CHECK(round_trip("{\"prompt\":\"P\",\"chosen\":\"C\",\"rejected\":\"R\",\"images\":[\"i.png\"],\"k\":1}",
                     PV_PAIR_TRL),
          "trl -> record -> trl is exact");
    cJSON *rec = pv_pair_import(cJSON_Parse("{\"id\":\"1\",\"image\":\"a.jpg\",\"conversations\":["
                                            "{\"from\":\"human\",\"value\":\"<image>\\nQ?\"},"
                                            "{\"from\":\"gpt\",\"value\":\"A.\"}]}"),
                                PV_PAIR_LLAVA, "test", 1);
    cJSON *want = cJSON_Parse("{\"id\":\"1\",\"image\":\"a.jpg\",\"prompt\":\"Q?\",\"chosen\":\"A.\"}");
    CHECK(rec && cJSON_Compare(rec, want, 1), "llava import strips <image>\\n and keeps key order");
    cJSON_Delete(rec);
    cJSON_Delete(want);
    long before = pv_bad_records;
    CHECK(!pv_pair_import(cJSON_Parse("{\"conversations\":[]}"), PV_PAIR_LLAVA, "test", 1) &&
              pv_bad_records == before + 1,
          "an empty conversation is a bad record");
    cJSON *trl = cJSON_Parse("{\"images\":[]}");
    CHECK(pv_pair_detect(trl) == PV_PAIR_TRL, "images alone means trl");
    cJSON_Delete(trl);
}

int main(void)
{
    pv_keep_going = true;
    test_splitmix64();
    test_shuffle_uniform();
    test_strmap();
    test_formats();
    return check_done();
}
