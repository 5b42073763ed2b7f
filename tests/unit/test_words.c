/* Word tokenizer, singular and plural of English nouns (lib/words.h).
 * The expected forms are ordinary English (any dictionary), not outputs of our code. */
#include <string.h>

#include "check.h"
#include "words.h"

typedef struct {
    const char *plural, *singular;
} pair;

/* Plurals an image description meets, with their dictionary singulars. */
static const pair pairs[] = {
    {"people", "person"}, {"men", "man"}, {"women", "woman"}, {"children", "child"},
    {"mice", "mouse"}, {"geese", "goose"}, {"teeth", "tooth"}, {"feet", "foot"},
    {"oxen", "ox"}, {"knives", "knife"}, {"leaves", "leaf"}, {"wolves", "wolf"},
    {"shelves", "shelf"}, {"calves", "calf"}, {"loaves", "loaf"}, {"thieves", "thief"},
    {"buses", "bus"}, {"minibuses", "minibus"}, {"airbuses", "airbus"}, {"glasses", "glass"},
    {"dresses", "dress"}, {"boxes", "box"}, {"benches", "bench"}, {"sandwiches", "sandwich"},
    {"couches", "couch"}, {"dishes", "dish"}, {"toothbrushes", "toothbrush"}, {"skis", "ski"},
    {"taxis", "taxi"}, {"kiwis", "kiwi"}, {"dogs", "dog"}, {"horses", "horse"},
    {"vases", "vase"}, {"suitcases", "suitcase"}, {"houses", "house"}, {"blouses", "blouse"},
    {"berries", "berry"}, {"puppies", "puppy"}, {"ponies", "pony"}, {"ladies", "lady"},
    {"babies", "baby"}, {"lorries", "lorry"}, {"ferries", "ferry"}, {"cookies", "cookie"},
    {"collies", "collie"}, {"ties", "tie"}, {"movies", "movie"}, {"tomatoes", "tomato"},
    {"potatoes", "potato"}, {"shoes", "shoe"}, {"canoes", "canoe"}, {"toes", "toe"},
    {"photos", "photo"}, {"broncos", "bronco"}, {"toys", "toy"}, {"keys", "key"},
    {"monkeys", "monkey"}, {"gloves", "glove"}, {"stoves", "stove"}, {"olives", "olive"},
    {"giraffes", "giraffe"}, {"bananas", "banana"}, {"pizzas", "pizza"}, {"zebras", "zebra"},
    {"policemen", "policeman"}, {"gentlemen", "gentleman"}, {"grandchildren", "grandchild"},
    {"pocketknives", "pocketknife"}, {"bookshelves", "bookshelf"}, {"mustaches", "mustache"},
    {"headaches", "headache"}, {"beaches", "beach"}, {"menus", "menu"}, {"lenses", "lens"},
    {"t-shirts", "t-shirt"}, {"hot-dogs", "hot-dog"}, {"tvs", "tv"}, {"cacti", "cactus"},
    {"foxes", "fox"}, {"buzzes", "buzz"}, {"quizzes", "quiz"}, {"lavatories", "lavatory"},
    {"doughnuts", "doughnut"}, {"cabooses", "caboose"}, {"buffaloes", "buffalo"},
};

/* Singulars (and words with no number) that must come back unchanged. */
static const char *const unchanged[] = {
    "glass", "bus", "grass", "dress", "tennis", "cactus", "sheep", "deer", "fish", "bison",
    "cattle", "series", "species", "news", "scissors", "pants", "jeans", "clothes", "this",
    "his", "is", "was", "has", "as", "us", "gas", "canvas", "its", "yes", "always",
    "perhaps", "various", "delicious", "chess", "lens", "chaos", "iris", "aircraft", "dog",
    "person", "child", "man", "woman", "mouse", "ski", "broccoli", "omen", "specimen",
    "ramen", "a", "",
};

/* The tokenizer's rule written the plain way, byte by byte, to check the
 * bit-mask implementation against. */
static int plain_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static size_t plain_words(const char *t, size_t len, pv_word *out, size_t max)
{
    const unsigned char *s = (const unsigned char *)t;
    size_t n = 0, i = 0;
    while (i < len) {
        if (!plain_word_byte(s[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && (plain_word_byte(s[i]) ||
                           (s[i] == '-' && i + 1 < len && plain_word_byte(s[i + 1]))))
            i++;
        if (n < max)
            out[n] = (pv_word){start, i};
        n++;
    }
    return n;
}

static void check_str(const char *got, const char *want, const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg, "%s: \"%s\" (want \"%s\")", what, got, want);
    CHECK(strcmp(got, want) == 0, msg);
}

int main(void)
{
    char buf[PV_WORD_MAX + 8], buf2[PV_WORD_MAX + 8], msg[160];
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        check_str(pv_singular(pairs[i].plural, buf, sizeof buf), pairs[i].singular, "singular");
        snprintf(msg, sizeof msg, "is_plural(%s)", pairs[i].plural);
        CHECK(pv_is_plural(pairs[i].plural), msg);
    }
    for (size_t i = 0; i < sizeof unchanged / sizeof *unchanged; i++) {
        check_str(pv_singular(unchanged[i], buf, sizeof buf), unchanged[i], "unchanged");
        snprintf(msg, sizeof msg, "!is_plural(%s)", unchanged[i]);
        CHECK(!pv_is_plural(unchanged[i]), msg);
    }

    /* Plural: the dictionary plural of each singular above, except where
     * English has two (cactus: cacti or cactuses; we give the first). */
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        if (strcmp(pairs[i].singular, "buzz") == 0 || strcmp(pairs[i].singular, "buffalo") == 0)
            continue; /* verbs / two accepted spellings */
        check_str(pv_plural(pairs[i].singular, buf, sizeof buf), pairs[i].plural, "plural");
    }
    check_str(pv_plural("sheep", buf, sizeof buf), "sheep", "plural sheep");
    check_str(pv_plural("church", buf, sizeof buf), "churches", "plural church");
    check_str(pv_plural("roof", buf, sizeof buf), "roofs", "plural roof");
    check_str(pv_plural("human", buf, sizeof buf), "humans", "plural human");
    check_str(pv_plural("snowman", buf, sizeof buf), "snowmen", "plural snowman");
    /* Round trip over everything the plural table produces. */
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        pv_plural(pairs[i].singular, buf, sizeof buf);
        check_str(pv_singular(buf, buf2, sizeof buf2), pairs[i].singular, "round trip");
    }
    /* Small buffers: truncation never overflows. */
    char tiny[4];
    pv_singular("children", tiny, sizeof tiny);
    CHECK(strlen(tiny) < sizeof tiny, "small buffer stays terminated");

    /* Tokenizer: words and their byte ranges. */
    const char *text = "A man's T-shirt, 2 dogs... and a café-bar!";
    pv_word w[16];
    size_t n = pv_words(text, strlen(text), w, 16);
    const char *want[] = {"A", "man", "s", "T-shirt", "2", "dogs", "and", "a", "café-bar"};
    snprintf(msg, sizeof msg, "word count %zu (want 9)", n);
    CHECK(n == 9, msg);
    for (size_t i = 0; i < n && i < 9; i++) {
        char got[32];
        snprintf(got, sizeof got, "%.*s", (int)(w[i].end - w[i].start), text + w[i].start);
        check_str(got, want[i], "word");
    }
    CHECK(pv_words(text, strlen(text), NULL, 0) == 9, "counting without storing");
    CHECK(pv_words("", 0, w, 16) == 0, "empty text has no words");
    CHECK(pv_words(" -- , . ", 8, w, 16) == 0, "punctuation is not a word");
    CHECK(pv_words("well-  known", 12, w, 16) == 2, "a trailing hyphen ends the word");
    /* Random texts of letters, digits, hyphens, blanks and punctuation, of every
     * length around the 64-byte chunks, against the plain byte loop. */
    {
        const char alphabet[] = "ab-Z9 -.,'\xc3\xa9-";
        unsigned long long state = 12345;
        int bad = 0;
        for (int t = 0; t < 20000; t++) {
            char buf3[300];
            size_t len = (size_t)(t % 260);
            for (size_t i = 0; i < len; i++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                buf3[i] = alphabet[(state >> 33) % (sizeof alphabet - 1)];
            }
            buf3[len] = '\0';
            pv_word a[300], b[300];
            size_t na = pv_words(buf3, len, a, 300), nb = plain_words(buf3, len, b, 300);
            int same = na == nb;
            for (size_t i = 0; same && i < na; i++)
                same = a[i].start == b[i].start && a[i].end == b[i].end;
            if (!same && bad++ < 3)
                printf("# words differ on \"%s\"\n", buf3);
        }
        CHECK(bad == 0, "tokenizer = plain byte loop on 20000 random texts");
    }
    char low[32];
    pv_lower("HeLLo WORLD", 11, low, sizeof low);
    check_str(low, "hello world", "lower");
    pv_lower("abcdef", 6, low, 4);
    check_str(low, "abc", "lower truncates");
    return check_done();
}
