#include "philox.h"

#include <math.h>

/* Round multipliers and Weyl key increments of Philox4x32 (Random123). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void pv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

uint64_t pv_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Box-Muller on one pair of 32-bit words; the +0.5 keeps u1 away from 0. */
static inline void box_muller(uint32_t a, uint32_t b, float *z0, float *z1)
{
    const double scale = 1.0 / 4294967296.0;
    double u1 = ((double)a + 0.5) * scale, u2 = ((double)b + 0.5) * scale;
    double r = sqrt(-2.0 * log(u1));
    double theta = 2.0 * M_PI * u2;
    *z0 = (float)(r * cos(theta));
    *z1 = (float)(r * sin(theta));
}

void pv_philox_normals(uint64_t seed, uint64_t key, uint64_t first, float *out, size_t n)
{
    const uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    size_t done = 0;
    uint64_t i = first;
    while (done < n) {
        uint64_t b = i / 4;
        const uint32_t c[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)key, (uint32_t)(key >> 32)};
        uint32_t x[4];
        pv_philox4x32_10(c, k, x);
        float z[4];
        box_muller(x[0], x[1], &z[0], &z[1]);
        box_muller(x[2], x[3], &z[2], &z[3]);
        for (unsigned lane = (unsigned)(i % 4); lane < 4 && done < n; lane++, i++)
            out[done++] = z[lane];
    }
}
