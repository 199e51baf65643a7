/*
 * keygen.c - `trackday keygen -o KEY [--force]`: a new Ed25519 key pair for signing model
 * bundles. KEY holds the secret key (mode 0600; keep it private), KEY.pub the public key
 * that devices and `trackday verify` check bundles with. See docs/cli/keygen.md.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/crypto.h"

static int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    int force = 0;
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING("-o", "--out", &out, "KEY",
                               "the secret key's file; the public key is written to KEY.pub"),
        TD_CLI_FLAG("--force", &force, "replace existing files"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "keygen",
        .about = "Writes a new Ed25519 key pair for signing bundles: KEY (the secret key, mode "
                 "0600: keep it private) and KEY.pub (the public key: give it to devices, to "
                 "trackday verify and to trackday agent).",
        .opts = opts,
    };
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES];
    char id[TD_KEY_ID_LEN];
    td_err err;
    if (td_sign_keypair(pk, sk) != 0)
        return td__cli_fail("keygen: libsodium could not make a key pair");
    rc = td_sign_key_write(out, pk, sk, force, &err);
    td_crypto_wipe(sk, sizeof(sk));
    if (rc)
        return td__cli_fail("keygen: %s", err.msg);
    td_sign_key_id(pk, id);
    printf("wrote %s (secret key: keep it private) and %s.pub (public key)\n", out, out);
    printf("key id %s\n", id);
    return 0;
}

TD_CLI_COMMAND("keygen", "make an Ed25519 key pair for signing bundles", cmd_keygen)
