#include "philox.h"

#include <math.h>
#include <string.h>

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

/* ---- Box-Muller in plain IEEE double arithmetic --------------------------
 * log and sin/cos are evaluated here with + - * / and sqrt only (no library
 * calls), so that (1) the loop vectorises and (2) any port that performs the same
 * operations in the same order, without fused multiply-add, gets the same bits.
 * Accuracy: ln within 2.2e-16 relative; sin/cos within 1e-15; over 4e7 normals
 * the float results differ from the libm formula in 7 (1 ulp each). */

/* A uint32 as a double, with an int32 conversion that SSE2 has. */
static inline double u32_to_double(uint32_t x) { return (double)(int32_t)(x ^ 0x80000000u) + 2147483648.0; }

/* ln(u) for u = (x + 0.5) / 2^32: v = x + 0.5 = m 2^e with m in about [sqrt(1/2), sqrt(2)),
 * e and m read from v's bits; ln(m) = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.1716, by
 * its series to s^23; ln(u) = (e - 32) ln 2 + ln(m), with ln 2 split in fdlibm's
 * two parts (ln2_hi has trailing zeros, so (e - 32) ln2_hi is exact). */
static inline double ln_u(uint32_t x)
{
    double v = u32_to_double(x) + 0.5;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    uint64_t ebits = (bits >> 52) | 0x4330000000000000ull; /* 2^52 + biased exponent */
    double e;
    memcpy(&e, &ebits, 8);
    e = e - 4503599627370496.0 - 1023.0 - 32.0;
    uint64_t mbits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    double m;
    memcpy(&m, &mbits, 8);
    /* big = 1 when m >= 1 + 0x6A09F / 2^20 (~ sqrt 2), from the top 20 mantissa
     * bits in integer arithmetic (no float compare, so it vectorises). */
    uint32_t top = (uint32_t)(bits >> 32) & 0xFFFFFu;
    double big = (double)(int32_t)((top + (0x100000u - 0x6A09Fu)) >> 20);
    m = m * (1.0 - 0.5 * big);
    e = e + big;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double p = 1.0 / 23.0;
    p = p * s2 + 1.0 / 21.0;
    p = p * s2 + 1.0 / 19.0;
    p = p * s2 + 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    double lm = 2.0 * s + 2.0 * s * s2 * p;
    return e * 6.93147180369123816490e-01 + (e * 1.90821492927058770002e-10 + lm);
}

/* cos and sin of 2 pi u for u = (x + 0.5) / 2^32: the quadrant q = round(4u) is
 * found in integers, r = u - q/4 in [-1/8, 1/8] is exact, t = 2 pi r (one
 * rounding), and Taylor series to t^17 (sin) and t^18 (cos) on |t| <= pi/4 are
 * rotated into quadrant q. */
static inline void sincos_u(uint32_t x, double *c, double *s)
{
    uint32_t q = (uint32_t)(((uint64_t)x + (1u << 29)) >> 30);
    int32_t d = (int32_t)(x - (q << 30));
    double r = ((double)d + 0.5) * (1.0 / 4294967296.0);
    double t = r * 6.283185307179586, t2 = t * t;
    double sp = -1.0 / 355687428096000.0;          /* -1/17! */
    sp = sp * t2 + 1.0 / 1307674368000.0;         /* 1/15! */
    sp = sp * t2 - 1.0 / 6227020800.0;            /* 1/13! */
    sp = sp * t2 + 1.0 / 39916800.0;
    sp = sp * t2 - 1.0 / 362880.0;
    sp = sp * t2 + 1.0 / 5040.0;
    sp = sp * t2 - 1.0 / 120.0;
    sp = sp * t2 + 1.0 / 6.0;
    double sn = t - t * t2 * sp;
    double cp = 1.0 / 6402373705728000.0;          /* 1/18! */
    cp = cp * t2 - 1.0 / 20922789888000.0;
    cp = cp * t2 + 1.0 / 87178291200.0;
    cp = cp * t2 - 1.0 / 479001600.0;
    cp = cp * t2 + 1.0 / 3628800.0;
    cp = cp * t2 - 1.0 / 40320.0;
    cp = cp * t2 + 1.0 / 720.0;
    cp = cp * t2 - 1.0 / 24.0;
    cp = cp * t2 + 0.5;
    double cs = 1.0 - t2 * cp;
    double swap = (double)(q & 1), cneg = (double)(((q + 1) >> 1) & 1), sneg = (double)((q >> 1) & 1);
    double cc = swap * sn + (1.0 - swap) * cs, ss = swap * cs + (1.0 - swap) * sn;
    *c = cc * (1.0 - 2.0 * cneg);
    *s = ss * (1.0 - 2.0 * sneg);
}

/* Blocks are generated CHUNK at a time in a loop the compiler can vectorise
 * (32x32->64 multiplies map to pmuludq), then turned into normals. */
#define CHUNK 64

void pv_philox_normals(uint64_t seed, uint64_t key, uint64_t first, float *out, size_t n)
{
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    const uint32_t id0 = (uint32_t)key, id1 = (uint32_t)(key >> 32);
    uint32_t x[4][CHUNK];
    float z[4][CHUNK];
    double l[2][CHUNK], cs[2][CHUNK], sn[2][CHUNK];
    size_t done = 0;
    uint64_t i = first;
    while (done < n) {
        uint64_t b0 = i / 4;
        uint64_t blocks = (i % 4 + (n - done) + 3) / 4;
        int m = blocks < CHUNK ? (int)blocks : CHUNK;
#pragma omp simd
        for (int j = 0; j < m; j++) {
            uint64_t b = b0 + (uint64_t)j;
            uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = id0, c3 = id1;
            uint32_t r0 = k0, r1 = k1;
            for (int round = 0; round < 10; round++) {
                uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
                uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ r0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ r1;
                c1 = (uint32_t)p1;
                c3 = (uint32_t)p0;
                c0 = n0;
                c2 = n2;
                r0 += PHILOX_W0;
                r1 += PHILOX_W1;
            }
            x[0][j] = c0, x[1][j] = c1, x[2][j] = c2, x[3][j] = c3;
        }
        /* Box-Muller: (r cos t, r sin t), r = sqrt(-2 ln u1). The logs and
         * sines vectorise; sqrt (errno semantics) runs in its own loop. */
#pragma omp simd
        for (int j = 0; j < m; j++) {
            l[0][j] = -2.0 * ln_u(x[0][j]);
            l[1][j] = -2.0 * ln_u(x[2][j]);
            sincos_u(x[1][j], &cs[0][j], &sn[0][j]);
            sincos_u(x[3][j], &cs[1][j], &sn[1][j]);
        }
        for (int j = 0; j < m; j++) {
            double r0 = sqrt(l[0][j]), r1 = sqrt(l[1][j]);
            z[0][j] = (float)(r0 * cs[0][j]);
            z[1][j] = (float)(r0 * sn[0][j]);
            z[2][j] = (float)(r1 * cs[1][j]);
            z[3][j] = (float)(r1 * sn[1][j]);
        }
        for (int j = 0; j < m && done < n; j++)
            for (unsigned lane = (unsigned)(i % 4); lane < 4 && done < n; lane++, i++)
                out[done++] = z[lane][j];
    }
}

double pv_philox_uniform(uint64_t seed, uint64_t key, uint64_t i)
{
    const uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), (uint32_t)key, (uint32_t)(key >> 32)};
    uint32_t x[4];
    pv_philox4x32_10(ctr, k, x);
    uint64_t bits = ((uint64_t)x[0] << 21) ^ (x[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) / (double)(1ull << 53);
}
