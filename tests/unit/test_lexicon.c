/* The object lexicon (lib/lexicon.h): the built-in list against the published
 * CHAIR synonyms (../shared/data/chair/synonyms.txt), loading that file, and
 * mentions in real sentences with CHAIR's special rules. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lexicon.h"
#include "words.h"

static char shared_path[1024];

/* "cat1 cat2 ..." of the mentions of text, by category name. */
static void mention_names(const pv_lexicon *lex, const char *text, char *out, size_t outsize)
{
    pv_mention m[64];
    size_t n = pv_lexicon_mentions(lex, text, m, 64);
    out[0] = '\0';
    for (size_t i = 0; i < n && i < 64; i++) {
        strncat(out, i ? "|" : "", outsize - strlen(out) - 1);
        strncat(out, pv_lexicon_name(lex, m[i].category), outsize - strlen(out) - 1);
    }
}

static void check_mentions(const pv_lexicon *lex, const char *text, const char *want)
{
    char got[1024], msg[1400];
    mention_names(lex, text, got, sizeof got);
    snprintf(msg, sizeof msg, "mentions \"%.60s\": [%s] want [%s]", text, got, want);
    CHECK(strcmp(got, want) == 0, msg);
}

/* Every category of the published list exists with the same name, and most of
 * its synonyms map to that category in ours. */
static void compare_with_published(const pv_lexicon *ours, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK(0, "open published synonyms");
        return;
    }
    char line[8192];
    int lineno = 0, same_names = 0, total = 0, covered = 0;
    char seen[600][64];
    int nseen = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *save = NULL, *tok = strtok_r(line, ",\n", &save);
        char name[64] = "";
        for (; tok; tok = strtok_r(NULL, ",\n", &save)) {
            char key[64];
            if (pv_lexicon_normalize(tok, key, sizeof key) == 0)
                continue;
            for (char *c = key; *c; c++) /* the published "iPhone" */
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            if (!name[0]) {
                snprintf(name, sizeof name, "%s", tok + strspn(tok, " "));
                int c = pv_lexicon_category(ours, name);
                if (c == lineno - 1)
                    same_names++;
                else
                    printf("# category %d \"%s\": ours has it at %d\n", lineno, name, c);
            }
            int dup = 0;
            for (int i = 0; i < nseen && !dup; i++)
                dup = strcmp(seen[i], key) == 0;
            if (dup || nseen == 600)
                continue;
            snprintf(seen[nseen++], sizeof seen[0], "%s", key);
            total++;
            int c = pv_lexicon_lookup(ours, key);
            if (c >= 0 && strcmp(pv_lexicon_name(ours, c), name) == 0)
                covered++;
            else
                printf("# published \"%s\" (%s): ours %s\n", key, name,
                       c < 0 ? "has no such word" : pv_lexicon_name(ours, c));
        }
    }
    fclose(f);
    CHECK(lineno == 80, "published list has 80 categories");
    CHECK(same_names == 80, "all 80 category names, in COCO order, as published");
    printf("# built-in covers %d of %d distinct published synonyms (%.1f%%)\n", covered, total,
           100.0 * covered / total);
    CHECK(total > 300 && covered >= 0.95 * total, "built-in covers >= 95% of published synonyms");
}

int main(void)
{
    const char *shared = getenv("PV_SHARED");
    snprintf(shared_path, sizeof shared_path, "%s/data/chair/synonyms.txt",
             shared ? shared : "../shared");

    pv_lexicon *lex = pv_lexicon_builtin();
    CHECK(lex != NULL, "built-in lexicon builds");
    CHECK(pv_lexicon_size(lex) == 80, "80 categories");
    CHECK(strcmp(pv_lexicon_name(lex, 0), "person") == 0, "category 0 is person");
    CHECK(strcmp(pv_lexicon_name(lex, 79), "toothbrush") == 0, "category 79 is toothbrush");
    CHECK(pv_lexicon_name(lex, 80) == NULL, "no category 80");

    /* Lookup: names, synonyms, plurals, two-word names. */
    struct {
        const char *phrase, *cat;
    } looks[] = {
        {"dogs", "dog"}, {"Puppies", "dog"}, {"hot dogs", "hot dog"}, {"people", "person"},
        {"children", "person"}, {"skis", "skis"}, {"ski", "skis"}, {"wine glasses", "wine glass"},
        {"buses", "bus"}, {"sofa", "couch"}, {"TV", "tv"}, {"mice", "mouse"},
        {"knives", "knife"}, {"teddy bears", "teddy bear"}, {"fire hydrant", "fire hydrant"},
        {"dining table", "dining table"}, {"cell phones", "cell phone"}, {"geese", "bird"},
        {"oxen", "cow"}, {"baby elephant", "elephant"}, {"bow tie", "tie"},
        {"toilet seat", "toilet"}, {"passenger jet", "airplane"},
    };
    for (size_t i = 0; i < sizeof looks / sizeof *looks; i++) {
        int c = pv_lexicon_lookup(lex, looks[i].phrase);
        char msg[128];
        snprintf(msg, sizeof msg, "lookup \"%s\" -> %s (got %s)", looks[i].phrase, looks[i].cat,
                 c < 0 ? "none" : pv_lexicon_name(lex, c));
        CHECK(c >= 0 && strcmp(pv_lexicon_name(lex, c), looks[i].cat) == 0, msg);
    }
    CHECK(pv_lexicon_lookup(lex, "glasses") < 0, "eyeglasses are not a wine glass");
    CHECK(pv_lexicon_lookup(lex, "grass") < 0, "grass is no object");
    CHECK(pv_lexicon_lookup(lex, "bow") < 0, "a bare bow is not a tie (deliberate)");
    CHECK(pv_lexicon_lookup(lex, "") < 0, "empty phrase");

    /* Real descriptions, with the mentions a careful reader of CHAIR's rules expects. */
    check_mentions(lex,
                   "A man in a red shirt is riding a motorcycle down a busy street, with cars "
                   "and a bus parked along the curb.",
                   "person|motorcycle|car|bus");
    check_mentions(lex,
                   "Two giraffes stand near a tree while a baby giraffe drinks; a zebra grazes "
                   "behind them.",
                   "giraffe|giraffe|zebra");
    check_mentions(lex,
                   "The bathroom has a white toilet with the seat up, a sink and a mirror.",
                   "toilet|sink");
    check_mentions(lex, "A wooden seat stands next to the window.", "chair");
    check_mentions(lex,
                   "A passenger train waits at the station while people walk along the train "
                   "tracks.",
                   "train|person");
    check_mentions(lex,
                   "A plate with a hot dog, some broccoli and a glass of wine sits on the "
                   "dining table.",
                   "hot dog|broccoli|dining table");
    check_mentions(lex,
                   "A young boy wearing a bow tie holds a teddy bear beside his mother's "
                   "laptop computer.",
                   "person|tie|teddy bear|person|laptop");
    check_mentions(lex,
                   "A baby elephant and an adult elephant walk past a baby, while passengers "
                   "board a passenger jet.",
                   "elephant|elephant|person|person|airplane");
    check_mentions(lex,
                   "Several wine glasses, two bottles, forks and knives are arranged on a "
                   "table with a vase of flowers.",
                   "wine glass|bottle|fork|knife|dining table|vase");
    check_mentions(lex,
                   "A skier in goggles carries skis and poles past a snowboarder on the slope.",
                   "person|skis|person");
    check_mentions(lex,
                   "The kitchen has a stainless steel refrigerator, a microwave above the stove "
                   "and a toaster on the counter.",
                   "refrigerator|microwave|oven|toaster");
    check_mentions(lex,
                   "A cat sleeps on a couch next to a remote, a cell phone and an open book.",
                   "cat|couch|remote|cell phone|book");
    check_mentions(lex, "", "");
    check_mentions(lex, "There is grass, a bus stop and a pair of glasses.", "bus");

    /* Byte ranges of mentions, and a count beyond the array. */
    const char *t = "Teddy bears and three dogs.";
    pv_mention m[2];
    size_t n = pv_lexicon_mentions(lex, t, m, 2);
    CHECK(n == 2 && m[0].start == 0 && m[0].end == 11, "\"Teddy bears\" spans bytes 0..11");
    CHECK(n == 2 && m[1].start == 22 && m[1].end == 26, "\"dogs\" spans bytes 22..26");
    CHECK(pv_lexicon_mentions(lex, "a dog, a cat, a seat and a toilet", m, 1) == 3,
          "count beyond the array, seat dropped beside toilet");
    CHECK(pv_lexicon_mentions(lex, "a dog, a cat and a seat", NULL, 0) == 3, "count only");

    /* A long text (beyond the fixed word cache). */
    size_t big = 4000 * 6 + 1;
    char *long_text = malloc(big);
    long_text[0] = '\0';
    for (int i = 0; i < 4000; i++)
        strcat(long_text, i % 2 ? "dogs, " : "cats, ");
    CHECK(pv_lexicon_mentions(lex, long_text, NULL, 0) == 4000, "4000 mentions in a long text");
    free(long_text);

    /* The scan skips words that start like no key word (a speed-up): it must
     * agree with the plain lookup on every form of every word of the built-in
     * list (singular, pv_plural, -s, -es, -ses, -ies, -ves, capitalised). */
    long forms = 0, disagree = 0;
    for (const char *const *line = pv_lexicon_builtin_lines; *line; line++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", *line);
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            char f[9][96], tmp[96];
            size_t k = strlen(tok);
            snprintf(f[0], sizeof f[0], "%s", tok);
            snprintf(f[1], sizeof f[1], "%s", pv_plural(tok, tmp, sizeof tmp));
            snprintf(f[2], sizeof f[2], "%ss", tok);
            snprintf(f[3], sizeof f[3], "%ses", tok);
            snprintf(f[4], sizeof f[4], "%sses", tok);
            snprintf(f[5], sizeof f[5], "%.*sies", (int)(k - 1), tok);
            snprintf(f[6], sizeof f[6], "%.*sves", (int)(k - 1), tok);
            snprintf(f[7], sizeof f[7], "%.*sves", (int)(k > 1 ? k - 2 : 0), tok);
            snprintf(f[8], sizeof f[8], "%c%s", tok[0] - 32, tok + 1);
            for (int j = 0; j < 9; j++) {
                int a = pv_lexicon_mentions(lex, f[j], NULL, 0) > 0;
                int b = pv_lexicon_lookup(lex, f[j]) >= 0;
                forms++;
                if (a != b && disagree++ < 10)
                    printf("# \"%s\": scan %d, lookup %d\n", f[j], a, b);
            }
        }
    }
    const char *irregular[] = {"men", "mice", "geese", "teeth", "feet", "people", "children",
                               "women", "oxen", "knives", "wives", "policemen", "busses",
                               "calves", "t-shirts", "Mice"};
    for (size_t j = 0; j < sizeof irregular / sizeof *irregular; j++, forms++)
        if ((pv_lexicon_mentions(lex, irregular[j], NULL, 0) > 0) !=
                (pv_lexicon_lookup(lex, irregular[j]) >= 0) && disagree++ < 10)
            printf("# \"%s\": scan and lookup disagree\n", irregular[j]);
    printf("# %ld word forms checked\n", forms);
    CHECK(disagree == 0, "scan and lookup agree on every form of every lexicon word");

    /* Loading files in the published format. */
    char dir[] = "/tmp/pv-test-lexicon.XXXXXX", path[256], err[256];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/syn.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("dog, puppy,  hound \ncat, kitten\n\nhot dog, frankfurter\n", f);
    fclose(f);
    pv_lexicon *small = pv_lexicon_load(path, err, sizeof err);
    CHECK(small && pv_lexicon_size(small) == 3, "small file: 3 categories, blank line skipped");
    if (small) {
        check_mentions(small, "A hound eats a frankfurter and hot dogs near kittens.",
                       "dog|hot dog|hot dog|cat");
        check_mentions(small, "A baby puppy.", "dog");
        pv_lexicon_free(small);
    }
    f = fopen(path, "w");
    fputs("dog, puppy\n, cat\n", f);
    fclose(f);
    CHECK(pv_lexicon_load(path, err, sizeof err) == NULL && strstr(err, "line 2"),
          "empty category name is an error on line 2");
    printf("# %s\n", err);
    snprintf(path, sizeof path, "%s/none.txt", dir);
    CHECK(pv_lexicon_load(path, err, sizeof err) == NULL, "missing file is an error");
    unlink(path);
    snprintf(path, sizeof path, "%s/syn.txt", dir);
    unlink(path);
    rmdir(dir);

    if (access(shared_path, R_OK) != 0) {
        printf("ok %d - # SKIP published synonyms not found (%s)\n", ++check_count, shared_path);
    } else {
        compare_with_published(lex, shared_path);
        pv_lexicon *pub = pv_lexicon_load(shared_path, err, sizeof err);
        CHECK(pub && pv_lexicon_size(pub) == 80, "published list loads: 80 categories");
        if (pub) {
            check_mentions(pub, "A girl with a pink bow rides a bike past a toilet seat.",
                           "person|tie|bicycle|toilet");
            pv_lexicon_free(pub);
        }
    }
    pv_lexicon_free(lex);
    return check_done();
}
