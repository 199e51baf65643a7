/*
 * keygen.c - `trackday keygen -o KEY [--force]`: a new Ed25519 key pair for signing model
 * bundles. KEY holds the secret key (mode 0600; keep it private), KEY.pub the public key
 * that devices and `trackday verify` check bundles with. See docs/cli/keygen.md.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "trackday/crypto.h"

static int usage(FILE *o)
{
    fprintf(o, "usage: trackday keygen -o KEY [options]\n\n"
               "Writes a new Ed25519 key pair for signing bundles: KEY (the secret key, mode\n"
               "0600: keep it private) and KEY.pub (the public key: give it to devices and to\n"
               "trackday verify).\n\n"
               "options:\n"
               "  -h, --help   print this help\n"
               "  -o KEY       the secret key's file (required; the public key is KEY.pub)\n"
               "  --force      replace existing files\n");
    return o == stdout ? 0 : 2;
}

static int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    int force = 0;
    if (td__cli_wants_help(argc, argv))
        return usage(stdout);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--force"))
            force = 1;
        else
            return td__cli_fail("keygen: unknown or incomplete option '%s' (see --help)", argv[i]);
    }
    if (!out)
        return td__cli_fail("keygen: -o KEY is required");
    uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES];
    char id[TD_KEY_ID_LEN];
    td_err err;
    if (td_sign_keypair(pk, sk) != 0)
        return td__cli_fail("keygen: libsodium could not make a key pair");
    int rc = td_sign_key_write(out, pk, sk, force, &err);
    td_crypto_wipe(sk, sizeof(sk));
    if (rc)
        return td__cli_fail("keygen: %s", err.msg);
    td_sign_key_id(pk, id);
    printf("wrote %s (secret key: keep it private) and %s.pub (public key)\n", out, out);
    printf("key id %s\n", id);
    return 0;
}

TD_CLI_COMMAND("keygen", "make an Ed25519 key pair for signing bundles", cmd_keygen)
