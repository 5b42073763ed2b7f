/* Deterministic shuffling for pv-pair --shuffle --seed.
 *
 * The generator is SplitMix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014; the constants of Vigna's
 * reference splitmix64.c): state += 0x9e3779b97f4a7c15, then two xor-shift-
 * multiply rounds. The permutation is Fisher-Yates (Durstenfeld's version,
 * i from n-1 down to 1, j uniform in [0, i]) with an unbiased bounded draw by
 * rejection, so a given seed gives the same order on every machine. */
#ifndef PV_PAIR_SHUFFLE_H
#define PV_PAIR_SHUFFLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pv_splitmix64 {
    uint64_t state;
} pv_splitmix64;

uint64_t pv_splitmix64_next(pv_splitmix64 *g);
/* Uniform in [0, bound) for bound >= 1, without modulo bias. */
uint64_t pv_splitmix64_below(pv_splitmix64 *g, uint64_t bound);
/* Shuffles items[0..n) in place with a generator seeded with `seed`. */
void pv_shuffle(void **items, size_t n, uint64_t seed);

#endif
