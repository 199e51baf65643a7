/*
 * crypto.c - SHA-256, Ed25519 and key files on libsodium, with hex and base64 encodings.
 * libsodium is the only cryptographic code: nothing here implements a primitive itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trackday/crypto.h"

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((td_sha256_ctx *)0)->opaque),
               "td_sha256_ctx too small for libsodium's state");
_Static_assert(crypto_sign_PUBLICKEYBYTES == TD_SIGN_PUBLIC_BYTES, "Ed25519 public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == TD_SIGN_SECRET_BYTES, "Ed25519 secret key size");
_Static_assert(crypto_sign_BYTES == TD_SIGN_BYTES, "Ed25519 signature size");
_Static_assert(crypto_sign_SEEDBYTES == TD_SIGN_SEED_BYTES, "Ed25519 seed size");

int td_crypto_init(void)
{
    /* sodium_init is thread-safe and returns 1 when already initialized. */
    return sodium_init() < 0 ? TD_EINTERNAL : 0;
}

/* ---- SHA-256 ---------------------------------------------------------------------------- */

void td_sha256_init(td_sha256_ctx *c)
{
    (void)td_crypto_init();
    crypto_hash_sha256_init((crypto_hash_sha256_state *)c->opaque);
}

void td_sha256_update(td_sha256_ctx *c, const void *data, size_t len)
{
    crypto_hash_sha256_update((crypto_hash_sha256_state *)c->opaque, data, len);
}

void td_sha256_final(td_sha256_ctx *c, uint8_t out[TD_SHA256_BYTES])
{
    crypto_hash_sha256_final((crypto_hash_sha256_state *)c->opaque, out);
}

void td_sha256(uint8_t out[TD_SHA256_BYTES], const void *data, size_t len)
{
    (void)td_crypto_init();
    crypto_hash_sha256(out, data, len);
}

void td_sha256_hex(char out[TD_SHA256_HEX], const void *data, size_t len)
{
    uint8_t h[TD_SHA256_BYTES];
    td_sha256(h, data, len);
    td_hex_encode(out, h, sizeof(h));
}

int td_sha256_file(const char *path, uint8_t out[TD_SHA256_BYTES], uint64_t *size, td_err *err)
{
    unsigned char buf[65536];
    td_sha256_ctx c;
    uint64_t total = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_err_set(err, errno == ENOENT ? TD_ENOENT : TD_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    td_sha256_init(&c);
    for (;;) {
        size_t n = fread(buf, 1, sizeof(buf), f);
        if (n == 0)
            break;
        td_sha256_update(&c, buf, n);
        total += n;
    }
    if (ferror(f)) {
        fclose(f);
        return td_err_set(err, TD_EIO, "%s: read error", path);
    }
    fclose(f);
    td_sha256_final(&c, out);
    if (size)
        *size = total;
    return 0;
}

int td_crypto_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

void td_crypto_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

void td_crypto_random(void *p, size_t n)
{
    (void)td_crypto_init();
    randombytes_buf(p, n);
}

/* ---- encodings -------------------------------------------------------------------------- */

void td_hex_encode(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int td_hex_decode(uint8_t *out, size_t n, const char *hex)
{
    if (!hex || strlen(hex) != 2 * n)
        return TD_EFORMAT;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TD_EFORMAT;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

size_t td_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

int td_base64_encode(char *out, size_t cap, const uint8_t *in, size_t n)
{
    if (cap < td_base64_len(n) + 1)
        return TD_EINVAL;
    (void)td_crypto_init();
    sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int td_base64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in, size_t len)
{
    size_t got = 0;
    const char *end = NULL;
    int variant =
        len % 4 == 0 ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    (void)td_crypto_init();
    if (sodium_base642bin(out, cap, in, len, NULL, &got, &end, variant) != 0 || end != in + len)
        return TD_EFORMAT;
    if (out_len)
        *out_len = got;
    return 0;
}

/* ---- Ed25519 ---------------------------------------------------------------------------- */

int td_sign_keypair(uint8_t pk[TD_SIGN_PUBLIC_BYTES], uint8_t sk[TD_SIGN_SECRET_BYTES])
{
    if (td_crypto_init() != 0)
        return TD_EINTERNAL;
    return crypto_sign_keypair(pk, sk) == 0 ? 0 : TD_EINTERNAL;
}

int td_sign_seed_keypair(uint8_t pk[TD_SIGN_PUBLIC_BYTES], uint8_t sk[TD_SIGN_SECRET_BYTES],
                         const uint8_t seed[TD_SIGN_SEED_BYTES])
{
    if (td_crypto_init() != 0)
        return TD_EINTERNAL;
    return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : TD_EINTERNAL;
}

void td_sign_detached(uint8_t sig[TD_SIGN_BYTES], const void *msg, size_t len,
                      const uint8_t sk[TD_SIGN_SECRET_BYTES])
{
    (void)td_crypto_init();
    crypto_sign_detached(sig, NULL, msg, len, sk);
}

int td_sign_verify(const uint8_t sig[TD_SIGN_BYTES], const void *msg, size_t len,
                   const uint8_t pk[TD_SIGN_PUBLIC_BYTES])
{
    (void)td_crypto_init();
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : TD_ECHECKSUM;
}

void td_sign_key_id(const uint8_t pk[TD_SIGN_PUBLIC_BYTES], char id[TD_KEY_ID_LEN])
{
    uint8_t h[TD_SHA256_BYTES];
    td_sha256(h, pk, TD_SIGN_PUBLIC_BYTES);
    td_hex_encode(id, h, 8);
}

/* ---- key files -------------------------------------------------------------------------- */

#define SECRET_TAG "trackday-ed25519-secret"
#define PUBLIC_TAG "trackday-ed25519"

/* Writes text to path through a temporary file created with mode; atomic rename. */
static int write_mode(const char *path, const char *text, size_t len, mode_t mode, int overwrite,
                      td_err *err)
{
    char tmp[4096];
    int fd;
    if (!overwrite && td_path_exists(path))
        return td_err_set(err, TD_EINVAL, "%s already exists (remove it or use --force)", path);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return td_err_set(err, TD_EINVAL, "%s: path too long", path);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return td_err_set(err, TD_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    /* The umask may have removed bits; never add any beyond mode. */
    if (fchmod(fd, mode) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        td_err_set(err, TD_EIO, "%s: write failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return TD_EIO;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        td_err_set(err, TD_EIO, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        return TD_EIO;
    }
    return 0;
}

int td_sign_key_write(const char *secret_path, const uint8_t pk[TD_SIGN_PUBLIC_BYTES],
                      const uint8_t sk[TD_SIGN_SECRET_BYTES], int overwrite, td_err *err)
{
    char id[TD_KEY_ID_LEN], b64[128], line[256], pub_path[4096];
    int n, rc;
    if (snprintf(pub_path, sizeof(pub_path), "%s.pub", secret_path) >= (int)sizeof(pub_path))
        return td_err_set(err, TD_EINVAL, "%s: path too long", secret_path);
    if (!overwrite && td_path_exists(pub_path))
        return td_err_set(err, TD_EINVAL, "%s already exists (remove it or use --force)", pub_path);
    td_sign_key_id(pk, id);
    td_base64_encode(b64, sizeof(b64), sk, TD_SIGN_SECRET_BYTES);
    n = snprintf(line, sizeof(line), "%s %s %s\n", SECRET_TAG, b64, id);
    rc = write_mode(secret_path, line, (size_t)n, 0600, overwrite, err);
    td_crypto_wipe(line, sizeof(line));
    td_crypto_wipe(b64, sizeof(b64));
    if (rc)
        return rc;
    td_base64_encode(b64, sizeof(b64), pk, TD_SIGN_PUBLIC_BYTES);
    n = snprintf(line, sizeof(line), "%s %s %s\n", PUBLIC_TAG, b64, id);
    return write_mode(pub_path, line, (size_t)n, 0644, overwrite, err);
}

/*
 * Splits "TAG BASE64 ID\n" into its three words (in place in a copy of at most cap bytes).
 * Returns 0, or TD_EFORMAT when the shape is wrong.
 */
static int split_key_line(char *buf, char *words[3])
{
    int n = 0;
    char *p = buf;
    while (*p && n < 4) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '\n' || *p == '\r')
            break;
        if (n == 3)
            return TD_EFORMAT;
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        if (*p == '\n' || *p == '\r') {
            *p = '\0';
            break;
        }
        if (*p)
            *p++ = '\0';
    }
    return n == 3 ? 0 : TD_EFORMAT;
}

int td_sign_public_parse(const char *text, size_t len, const char *what,
                         uint8_t pk[TD_SIGN_PUBLIC_BYTES], char id[TD_KEY_ID_LEN], td_err *err)
{
    char buf[512], *w[3], want[TD_KEY_ID_LEN];
    size_t got = 0;
    if (len >= sizeof(buf))
        return td_err_set(err, TD_EFORMAT, "%s: not a trackday public key (too long)", what);
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (strncmp(buf, SECRET_TAG, strlen(SECRET_TAG)) == 0)
        return td_err_set(err, TD_EFORMAT,
                          "%s is a SECRET key: give the public key file (KEY.pub) instead", what);
    if (split_key_line(buf, w) != 0 || strcmp(w[0], PUBLIC_TAG) != 0)
        return td_err_set(err, TD_EFORMAT,
                          "%s: not a trackday public key (expected \"%s <base64> <key id>\")", what,
                          PUBLIC_TAG);
    if (td_base64_decode(pk, TD_SIGN_PUBLIC_BYTES, &got, w[1], strlen(w[1])) != 0 ||
        got != TD_SIGN_PUBLIC_BYTES)
        return td_err_set(err, TD_EFORMAT, "%s: the key is not %d bytes of base64", what,
                          TD_SIGN_PUBLIC_BYTES);
    td_sign_key_id(pk, want);
    if (strcmp(want, w[2]) != 0)
        return td_err_set(err, TD_EFORMAT, "%s: key id %s does not match the key (%s)", what, w[2],
                          want);
    if (id)
        memcpy(id, want, TD_KEY_ID_LEN);
    return 0;
}

int td_sign_public_load(const char *path, uint8_t pk[TD_SIGN_PUBLIC_BYTES], char id[TD_KEY_ID_LEN],
                        td_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = td_file_read(path, &text, &len, err);
    if (rc)
        return rc;
    rc = td_sign_public_parse(text, len, path, pk, id, err);
    td_free(text);
    return rc;
}

int td_sign_secret_load(const char *path, uint8_t sk[TD_SIGN_SECRET_BYTES],
                        uint8_t pk[TD_SIGN_PUBLIC_BYTES], td_err *err)
{
    struct stat st;
    char buf[512], *w[3], id[TD_KEY_ID_LEN];
    uint8_t derived[TD_SIGN_PUBLIC_BYTES];
    size_t got = 0;
    ssize_t n;
    int fd, rc = 0;
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return td_err_set(err, errno == ENOENT ? TD_ENOENT : TD_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return td_err_set(err, TD_EIO, "%s: not a regular file", path);
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return td_err_set(err, TD_EIO, "%s: read error", path);
    buf[n] = '\0';
    if (!strncmp(buf, PUBLIC_TAG " ", strlen(PUBLIC_TAG) + 1)) {
        td_crypto_wipe(buf, sizeof(buf));
        return td_err_set(err, TD_EFORMAT,
                          "%s is a PUBLIC key: signing needs the secret key (the file without "
                          ".pub)",
                          path);
    }
    if (st.st_mode & 077) {
        td_crypto_wipe(buf, sizeof(buf));
        return td_err_set(err, TD_EINVAL,
                          "%s: permissions %04o are too open: a secret key must be readable by "
                          "its owner only (chmod 600 %s)",
                          path, (unsigned)(st.st_mode & 0777), path);
    }
    if (split_key_line(buf, w) != 0 || strcmp(w[0], SECRET_TAG) != 0) {
        rc = td_err_set(err, TD_EFORMAT,
                        "%s: not a trackday secret key (expected \"%s <base64> <key id>\")", path,
                        SECRET_TAG);
    } else if (td_base64_decode(sk, TD_SIGN_SECRET_BYTES, &got, w[1], strlen(w[1])) != 0 ||
               got != TD_SIGN_SECRET_BYTES) {
        rc = td_err_set(err, TD_EFORMAT, "%s: the key is not %d bytes of base64", path,
                        TD_SIGN_SECRET_BYTES);
    } else {
        /* The secret key holds its public half; check it against the id written beside it. */
        crypto_sign_ed25519_sk_to_pk(derived, sk);
        td_sign_key_id(derived, id);
        if (strcmp(id, w[2]) != 0)
            rc = td_err_set(err, TD_EFORMAT, "%s: key id %s does not match the key (%s)", path,
                            w[2], id);
        else if (pk)
            memcpy(pk, derived, TD_SIGN_PUBLIC_BYTES);
    }
    td_crypto_wipe(buf, sizeof(buf));
    if (rc)
        td_crypto_wipe(sk, TD_SIGN_SECRET_BYTES);
    return rc;
}
