/*
 * fuzz_key.h - the signing key of the fuzz targets and their seeds: an Ed25519 key pair from
 * a fixed seed, so tests/fuzz/make-seeds signs the seed bundles with the key fuzz_bundle
 * verifies with (and re-signs repaired inputs with). A test key, public by design: it signs
 * nothing outside tests/fuzz.
 */
#ifndef TD_FUZZ_KEY_H
#define TD_FUZZ_KEY_H

#include <stdint.h>

#include "trackday/crypto.h"

static inline int td_fuzz_keypair(uint8_t pk[TD_SIGN_PUBLIC_BYTES],
                                  uint8_t sk[TD_SIGN_SECRET_BYTES])
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    if (td_crypto_init() != 0)
        return -1;
    return td_sign_seed_keypair(pk, sk, seed);
}

#endif /* TD_FUZZ_KEY_H */
