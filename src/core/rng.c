/*
 * rng.c - PCG32 random numbers with independent streams (one per car), so a vector env
 * gives the same run for the same seed whatever order its threads run in.
 */
#include <math.h>

#include "trackday/core.h"

#define PCG_MULT 6364136223846793005ULL

void td_rng_seed(td_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    (void)td_rng_u32(rng);
    rng->state += seed;
    (void)td_rng_u32(rng);
}

uint32_t td_rng_u32(td_rng *rng)
{
    uint64_t old = rng->state;
    uint32_t xorshifted, rot;
    rng->state = old * PCG_MULT + rng->inc;
    xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t td_rng_below(td_rng *rng, uint32_t bound)
{
    /* Lemire's nearly-divisionless method would be faster; the threshold method is exact. */
    uint32_t threshold = (-bound) % bound;
    for (;;) {
        uint32_t r = td_rng_u32(rng);
        if (r >= threshold)
            return r % bound;
    }
}

double td_rng_uniform(td_rng *rng)
{
    uint64_t hi = td_rng_u32(rng) >> 5; /* 27 bits */
    uint64_t lo = td_rng_u32(rng) >> 6; /* 26 bits */
    return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

double td_rng_range(td_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * td_rng_uniform(rng);
}

double td_rng_normal(td_rng *rng)
{
    double u1, u2;
    do {
        u1 = td_rng_uniform(rng);
    } while (u1 <= 0.0);
    u2 = td_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
