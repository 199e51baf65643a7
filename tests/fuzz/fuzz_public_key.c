/*
 * fuzz_public_key.c - public key files (docs/cli/keygen.md), which a car and a hub read to
 * verify bundles: td_sign_public_parse. A key that parses has the key id of its bytes.
 */
#include "fuzz.h"
#include "trackday/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return td_crypto_init() == 0 ? 0 : (abort(), 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    char id[TD_KEY_ID_LEN], want[TD_KEY_ID_LEN];
    td_err err;
    if (td_sign_public_parse((const char *)data, size, "fuzz.pub", pk, id, &err) == 0) {
        td_sign_key_id(pk, want);
        TD_FUZZ_CHECK(strcmp(id, want) == 0);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    TD_FUZZ_END();
    return 0;
}
