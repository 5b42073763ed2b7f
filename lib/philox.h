/* Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11) and Box-Muller normals.
 *
 * A stream is named by (seed, key): pv-noise uses key = pv_fnv1a64(record id), so a
 * record's noise depends only on the seed and its id, never on thread count or
 * input order. Normal number i of stream (seed, key) is defined exactly as follows,
 * so that another implementation (a CUDA twin) can reproduce it:
 *
 *   b = i / 4 (block), lane = i % 4
 *   philox key     k = { lo32(seed), hi32(seed) }
 *   philox counter c = { lo32(b), hi32(b), lo32(key), hi32(key) }
 *   x[0..3] = Philox4x32-10(c, k)       (the Random123 reference rounds and constants)
 *   lanes 0,1 use the pair (x[0], x[1]); lanes 2,3 the pair (x[2], x[3]):
 *     u1 = (x_even + 0.5) / 2^32,  u2 = (x_odd + 0.5) / 2^32      (both in (0,1))
 *     r = sqrt(-2 ln u1)
 *     even lane = (float)(r * cos(2 pi u2)),  odd lane = (float)(r * sin(2 pi u2))
 *   in IEEE double, rounded to float once at the end.
 *
 * ln, cos and sin are not the C library's: lib/philox.c evaluates them with
 * + - * / only (argument reduction in integers, then fixed series, steps spelled
 * out there), and sqrt is IEEE's correctly rounded one. So a port that performs
 * the same double operations in the same order without fused multiply-add (CUDA:
 * __dadd_rn, __dmul_rn, or --fmad=false) reproduces every bit. The results agree
 * with libm's log/cos/sin to 1e-15, and the floats with the libm formula in all
 * but about 2 of 10^7 values (1 ulp apart). */
#ifndef PV_PHILOX_H
#define PV_PHILOX_H

#include <stddef.h>
#include <stdint.h>

/* One Philox4x32-10 block: out = bijection of ctr under key. */
void pv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over bytes. */
uint64_t pv_fnv1a64(const void *data, size_t len);

/* out[0..n) = normals number first, first+1, ... of stream (seed, key), as above. */
void pv_philox_normals(uint64_t seed, uint64_t key, uint64_t first, float *out, size_t n);

/* Uniform number i of stream (seed, key), in [0, 1) with 53 random bits: Philox
 * block i (counter {lo32(i), hi32(i), lo32(key), hi32(key)}, key {lo32(seed),
 * hi32(seed)}), bits ((x[0] << 21) ^ (x[1] >> 11)) & (2^53 - 1), divided by 2^53. */
double pv_philox_uniform(uint64_t seed, uint64_t key, uint64_t i);

#endif
