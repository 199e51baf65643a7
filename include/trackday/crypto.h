/*
 * crypto.h - SHA-256, Ed25519 signatures, signing-key files, and the hex and base64 text
 * encodings (libsodium underneath). Part of the core layer: model bundles are signed and
 * checked with it (trackday export / verify, the device agent), the hub stores artifacts
 * under their SHA-256.
 *
 *   uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES], sig[TD_SIGN_BYTES];
 *   td_sign_keypair(pk, sk);
 *   td_sign_detached(sig, msg, len, sk);
 *   if (td_sign_verify(sig, msg, len, pk) != 0) { refuse }
 */
#ifndef TRACKDAY_CRYPTO_H
#define TRACKDAY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_SHA256_BYTES      32
#define TD_SHA256_HEX        65 /* 64 hex digits and the terminator */
#define TD_SIGN_PUBLIC_BYTES 32
#define TD_SIGN_SECRET_BYTES 64
#define TD_SIGN_SEED_BYTES   32
#define TD_SIGN_BYTES        64
#define TD_KEY_ID_LEN        17 /* 16 hex digits and the terminator */

/*
 * Initializes libsodium (idempotent, thread-safe). Every function below calls it, so an
 * explicit call is only needed to fail early. Returns 0 or TD_EINTERNAL.
 */
int td_crypto_init(void);

/* ---- SHA-256 ---------------------------------------------------------------------------- */

/* Incremental SHA-256; the state is opaque (libsodium's, held in place). */
typedef struct td_sha256_ctx {
    _Alignas(16) unsigned char opaque[128];
} td_sha256_ctx;

void td_sha256_init(td_sha256_ctx *c);
void td_sha256_update(td_sha256_ctx *c, const void *data, size_t len);
void td_sha256_final(td_sha256_ctx *c, uint8_t out[TD_SHA256_BYTES]);

/* SHA-256 of one buffer. */
void td_sha256(uint8_t out[TD_SHA256_BYTES], const void *data, size_t len);

/* SHA-256 of one buffer as 64 lowercase hex digits. */
void td_sha256_hex(char out[TD_SHA256_HEX], const void *data, size_t len);

/* SHA-256 of a file (streamed); *size (may be NULL) receives its length. */
int td_sha256_file(const char *path, uint8_t out[TD_SHA256_BYTES], uint64_t *size, td_err *err);

/* Constant-time comparison of n bytes: 1 when equal, else 0. */
int td_crypto_equal(const void *a, const void *b, size_t n);

/* Overwrites n bytes in a way the compiler does not remove (secret keys after use). */
void td_crypto_wipe(void *p, size_t n);

/* Fills n bytes with cryptographically secure random bytes. */
void td_crypto_random(void *p, size_t n);

/* ---- encodings -------------------------------------------------------------------------- */

/* Lowercase hex of n bytes into out (2n + 1 bytes with the terminator). */
void td_hex_encode(char *out, const uint8_t *in, size_t n);

/* Decodes exactly 2n hex digits (either case) of hex into n bytes; TD_EFORMAT otherwise. */
int td_hex_decode(uint8_t *out, size_t n, const char *hex);

/* Length of the standard base64 text (with padding) of n bytes, without the terminator. */
size_t td_base64_len(size_t n);

/* Standard base64 with padding into out (cap >= td_base64_len(n) + 1). */
int td_base64_encode(char *out, size_t cap, const uint8_t *in, size_t n);

/*
 * Decodes standard base64 (padding optional, no whitespace) of len characters into out
 * (cap bytes); *out_len receives the decoded length. TD_EFORMAT on a bad character or a
 * result longer than cap.
 */
int td_base64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in, size_t len);

/* ---- Ed25519 ---------------------------------------------------------------------------- */

/* A new random key pair. */
int td_sign_keypair(uint8_t pk[TD_SIGN_PUBLIC_BYTES], uint8_t sk[TD_SIGN_SECRET_BYTES]);

/* The key pair of a 32-byte seed (deterministic; for tests and key derivation). */
int td_sign_seed_keypair(uint8_t pk[TD_SIGN_PUBLIC_BYTES], uint8_t sk[TD_SIGN_SECRET_BYTES],
                         const uint8_t seed[TD_SIGN_SEED_BYTES]);

/* sig = Ed25519 signature of msg (len bytes) with secret key sk. */
void td_sign_detached(uint8_t sig[TD_SIGN_BYTES], const void *msg, size_t len,
                      const uint8_t sk[TD_SIGN_SECRET_BYTES]);

/* 0 when sig is pk's signature of msg, else TD_ECHECKSUM. */
int td_sign_verify(const uint8_t sig[TD_SIGN_BYTES], const void *msg, size_t len,
                   const uint8_t pk[TD_SIGN_PUBLIC_BYTES]);

/* A public key's short identifier: hex of the first 8 bytes of its SHA-256. */
void td_sign_key_id(const uint8_t pk[TD_SIGN_PUBLIC_BYTES], char id[TD_KEY_ID_LEN]);

/* ---- key files (docs/cli/keygen.md) ------------------------------------------------------ */

/*
 * Writes a key pair: the secret key to secret_path (mode 0600, created atomically; an
 * existing file is an error unless overwrite is set) and the public key to
 * secret_path + ".pub" (mode 0644). Text formats:
 *   secret: "trackday-ed25519-secret <base64 of the 64-byte secret key> <key id>\n"
 *   public: "trackday-ed25519 <base64 of the 32-byte public key> <key id>\n"
 */
int td_sign_key_write(const char *secret_path, const uint8_t pk[TD_SIGN_PUBLIC_BYTES],
                      const uint8_t sk[TD_SIGN_SECRET_BYTES], int overwrite, td_err *err);

/*
 * Reads a public key file (or a secret key file's public half is NOT accepted: the two
 * formats differ so a secret key is never handed out by mistake). id (may be NULL)
 * receives the key id. Errors name the file and what is wrong.
 */
int td_sign_public_load(const char *path, uint8_t pk[TD_SIGN_PUBLIC_BYTES], char id[TD_KEY_ID_LEN],
                        td_err *err);

/* Parses the text of a public key file (as td_sign_public_load; what names the source). */
int td_sign_public_parse(const char *text, size_t len, const char *what,
                         uint8_t pk[TD_SIGN_PUBLIC_BYTES], char id[TD_KEY_ID_LEN], td_err *err);

/*
 * Reads a secret key file. Refuses a file that others may read (group or other permission
 * bits set), like ssh. pk (may be NULL) receives the public half.
 */
int td_sign_secret_load(const char *path, uint8_t sk[TD_SIGN_SECRET_BYTES],
                        uint8_t pk[TD_SIGN_PUBLIC_BYTES], td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_CRYPTO_H */
