#include "pair_shuffle.h"

uint64_t pv_splitmix64_next(pv_splitmix64 *g)
{
    uint64_t z = (g->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t pv_splitmix64_below(pv_splitmix64 *g, uint64_t bound)
{
    /* Reject the top partial copy of [0, bound) so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = pv_splitmix64_next(g);
    while (x >= limit);
    return x % bound;
}

void pv_shuffle(void **items, size_t n, uint64_t seed)
{
    pv_splitmix64 g = {seed};
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)pv_splitmix64_below(&g, i);
        void *t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
}
