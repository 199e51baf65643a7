/*
 * test_crypto.c - SHA-256 and Ed25519 against published test vectors (FIPS 180-2, RFC 8032),
 * key files, hex and base64, and the .tar.gz reader and writer: Python's tarfile reads what
 * trackday writes, trackday reads what tarfile writes, and hostile archives made by tarfile
 * (links, "..", absolute names, duplicates, truncation, damaged bytes) are refused.
 */
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/archive.h"
#include "trackday/crypto.h"

#define TMP TD_TEST_BUILD_DIR "/crypto_test"

static void fresh_dir(void)
{
    TD_ASSERT_EQ_INT(system("rm -rf " TMP " && mkdir -p " TMP), 0);
}

static void unhex(uint8_t *out, size_t n, const char *hex)
{
    TD_ASSERT_OK(td_hex_decode(out, n, hex));
}

/* ---- SHA-256 ---------------------------------------------------------------------------- */

TD_TEST(sha256_known_vectors_and_incremental)
{
    char hex[TD_SHA256_HEX];
    td_sha256_hex(hex, "abc", 3);
    TD_ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    td_sha256_hex(hex, "", 0);
    TD_ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    td_sha256_hex(hex, two, strlen(two));
    TD_ASSERT_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* A million 'a' fed in uneven pieces equals the one-shot hash and the FIPS value. */
    size_t n = 1000000;
    char *a = td_malloc(n);
    memset(a, 'a', n);
    td_sha256_ctx c;
    uint8_t h1[32], h2[32];
    td_sha256_init(&c);
    for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 % 1001 + 1)
        td_sha256_update(&c, a + off, off + step > n ? n - off : step);
    td_sha256_final(&c, h1);
    td_sha256(h2, a, n);
    TD_ASSERT(memcmp(h1, h2, 32) == 0);
    td_hex_encode(hex, h1, 32);
    TD_ASSERT_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* The file hash streams the same bytes. */
    fresh_dir();
    td_err err;
    TD_ASSERT_OK(td_file_write_atomic(TMP "/a.bin", a, n, &err));
    uint64_t size = 0;
    TD_ASSERT_OK(td_sha256_file(TMP "/a.bin", h1, &size, &err));
    TD_ASSERT_EQ_INT(size, n);
    TD_ASSERT(memcmp(h1, h2, 32) == 0);
    TD_ASSERT_EQ_INT(td_sha256_file(TMP "/missing", h1, NULL, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "missing");
    td_free(a);
}

TD_TEST(hex_and_base64_round_trip_and_reject_garbage)
{
    uint8_t in[40], out[40];
    char text[128];
    size_t got;
    for (int i = 0; i < 40; i++)
        in[i] = (uint8_t)(i * 37 + 5);
    for (size_t n = 0; n <= 40; n++) {
        td_hex_encode(text, in, n);
        TD_ASSERT_EQ_INT(strlen(text), 2 * n);
        TD_ASSERT_OK(td_hex_decode(out, n, text));
        TD_ASSERT(memcmp(in, out, n) == 0);
        TD_ASSERT_OK(td_base64_encode(text, sizeof(text), in, n));
        TD_ASSERT_EQ_INT(strlen(text), td_base64_len(n));
        TD_ASSERT_OK(td_base64_decode(out, sizeof(out), &got, text, strlen(text)));
        TD_ASSERT_EQ_INT(got, n);
        TD_ASSERT(memcmp(in, out, n) == 0);
    }
    TD_ASSERT_OK(td_base64_encode(text, sizeof(text), (const uint8_t *)"foobar", 6));
    TD_ASSERT_STREQ(text, "Zm9vYmFy");
    TD_ASSERT_EQ_INT(td_hex_decode(out, 2, "zz00"), TD_EFORMAT);
    TD_ASSERT_EQ_INT(td_hex_decode(out, 2, "abc"), TD_EFORMAT);
    TD_ASSERT_EQ_INT(td_base64_decode(out, sizeof(out), &got, "Zm9v*mFy", 8), TD_EFORMAT);
    TD_ASSERT_EQ_INT(td_base64_decode(out, 3, &got, "Zm9vYmFy", 8), TD_EFORMAT);
    TD_ASSERT_EQ_INT(td_base64_encode(text, 8, in, 6), TD_EINVAL);
}

/* ---- Ed25519 ---------------------------------------------------------------------------- */

TD_TEST(ed25519_rfc8032_vectors)
{
    static const struct {
        const char *seed, *pk, *msg, *sig;
    } v[] = {
        {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
         "cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d"
         "0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t seed[32], pk[32], want_pk[32], sk[64], msg[8], sig[64], want_sig[64];
        size_t mlen = strlen(v[i].msg) / 2;
        unhex(seed, 32, v[i].seed);
        unhex(want_pk, 32, v[i].pk);
        unhex(msg, mlen, v[i].msg);
        unhex(want_sig, 64, v[i].sig);
        TD_ASSERT_OK(td_sign_seed_keypair(pk, sk, seed));
        TD_ASSERT(memcmp(pk, want_pk, 32) == 0);
        td_sign_detached(sig, msg, mlen, sk);
        TD_ASSERT(memcmp(sig, want_sig, 64) == 0);
        TD_ASSERT_OK(td_sign_verify(sig, msg, mlen, pk));
        /* Any flipped bit of the signature or the message is refused. */
        for (int bit = 0; bit < 512; bit += 37) {
            sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
            TD_ASSERT_EQ_INT(td_sign_verify(sig, msg, mlen, pk), TD_ECHECKSUM);
            sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        }
        msg[mlen] = 1;
        TD_ASSERT_EQ_INT(td_sign_verify(sig, msg, mlen + 1, pk), TD_ECHECKSUM);
    }
    /* A random pair signs and verifies; another pair's key does not verify it. */
    uint8_t pk1[32], sk1[64], pk2[32], sk2[64], sig[64];
    TD_ASSERT_OK(td_sign_keypair(pk1, sk1));
    TD_ASSERT_OK(td_sign_keypair(pk2, sk2));
    TD_ASSERT(memcmp(pk1, pk2, 32) != 0);
    td_sign_detached(sig, "bundle", 6, sk1);
    TD_ASSERT_OK(td_sign_verify(sig, "bundle", 6, pk1));
    TD_ASSERT_EQ_INT(td_sign_verify(sig, "bundle", 6, pk2), TD_ECHECKSUM);
}

TD_TEST(key_files_round_trip_permissions_and_mixups)
{
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    char id[TD_KEY_ID_LEN], id2[TD_KEY_ID_LEN];
    td_err err;
    struct stat st;
    fresh_dir();
    TD_ASSERT_OK(td_sign_keypair(pk, sk));
    TD_ASSERT_OK(td_sign_key_write(TMP "/k", pk, sk, 0, &err));
    TD_ASSERT_EQ_INT(stat(TMP "/k", &st), 0);
    TD_ASSERT_EQ_INT(st.st_mode & 0777, 0600);
    TD_ASSERT_EQ_INT(stat(TMP "/k.pub", &st), 0);
    TD_ASSERT_EQ_INT(st.st_mode & 0777, 0644);
    TD_ASSERT_OK(td_sign_public_load(TMP "/k.pub", pk2, id, &err));
    TD_ASSERT(memcmp(pk, pk2, 32) == 0);
    td_sign_key_id(pk, id2);
    TD_ASSERT_STREQ(id, id2);
    TD_ASSERT_OK(td_sign_secret_load(TMP "/k", sk2, pk2, &err));
    TD_ASSERT(memcmp(sk, sk2, 64) == 0);
    TD_ASSERT(memcmp(pk, pk2, 32) == 0);
    /* No silent overwrite. */
    TD_ASSERT_EQ_INT(td_sign_key_write(TMP "/k", pk, sk, 0, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "already exists");
    TD_ASSERT_OK(td_sign_key_write(TMP "/k", pk, sk, 1, &err));
    /* A secret key readable by others is refused, naming the fix. */
    TD_ASSERT_EQ_INT(chmod(TMP "/k", 0644), 0);
    TD_ASSERT_EQ_INT(td_sign_secret_load(TMP "/k", sk2, NULL, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "too open");
    TD_ASSERT_EQ_INT(chmod(TMP "/k", 0600), 0);
    /* The secret key given where the public one belongs, and the other way round. */
    TD_ASSERT_EQ_INT(td_sign_public_load(TMP "/k", pk2, NULL, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "SECRET");
    TD_ASSERT_EQ_INT(td_sign_secret_load(TMP "/k.pub", sk2, NULL, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "PUBLIC key");
    td_test_write(TMP "/junk", "hello\n");
    TD_ASSERT_EQ_INT(chmod(TMP "/junk", 0600), 0);
    TD_ASSERT_EQ_INT(td_sign_secret_load(TMP "/junk", sk2, NULL, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "not a trackday secret key");
    /* A public key whose id does not match its bytes, and a damaged key. */
    char b64[64], text[256];
    td_base64_encode(b64, sizeof(b64), pk, 32);
    snprintf(text, sizeof(text), "trackday-ed25519 %s 0000000000000000\n", b64);
    TD_ASSERT_EQ_INT(td_sign_public_parse(text, strlen(text), "t", pk2, NULL, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "does not match");
    snprintf(text, sizeof(text), "trackday-ed25519 AAAA %s\n", id);
    TD_ASSERT_EQ_INT(td_sign_public_parse(text, strlen(text), "t", pk2, NULL, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "32 bytes");
    TD_ASSERT_EQ_INT(td_sign_public_load(TMP "/none.pub", pk2, NULL, &err), TD_ENOENT);
}

/* ---- archives --------------------------------------------------------------------------- */

static void run_py(const char *script)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "cd " TMP " && /usr/bin/python3 -c '%s'", script);
    TD_ASSERT_EQ_INT(system(cmd), 0);
}

TD_TEST(targz_round_trip_deterministic_and_read_by_python)
{
    td_archive a, b;
    td_err err;
    fresh_dir();
    td_archive_init(&a);
    uint8_t *big = td_malloc(70000);
    for (int i = 0; i < 70000; i++)
        big[i] = (uint8_t)(i * 7 + i / 300);
    TD_ASSERT_OK(td_archive_add(&a, "manifest.json", "{\"a\": 1}\n", 9, &err));
    TD_ASSERT_OK(td_archive_add(&a, "model/big.bin", big, 70000, &err));
    TD_ASSERT_OK(td_archive_add(&a, "empty", "", 0, &err));
    TD_ASSERT_OK(td_archive_add(&a, "exactly512", big, 512, &err));
    TD_ASSERT_EQ_INT(td_archive_add(&a, "empty", "x", 1, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "twice");
    const char *bad[] = {"../x", "/abs", "a/../b", "a//b", "a/", ".", "sp ace", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        TD_ASSERT_EQ_INT(td_archive_add(&a, bad[i], "x", 1, &err), TD_EFORMAT);
        TD_ASSERT_CONTAINS(err.msg, "unsafe name");
    }
    uint8_t *g1, *g2;
    size_t l1, l2;
    TD_ASSERT_OK(td_archive_to_targz(&a, 1700000000, &g1, &l1, &err));
    TD_ASSERT_OK(td_archive_to_targz(&a, 1700000000, &g2, &l2, &err));
    TD_ASSERT_EQ_INT(l1, l2);
    TD_ASSERT(memcmp(g1, g2, l1) == 0);
    TD_ASSERT_OK(td_archive_read_targz(&b, g1, l1, NULL, &err));
    TD_ASSERT_EQ_INT(b.n, 4);
    for (int i = 0; i < 4; i++) {
        TD_ASSERT_STREQ(b.entries[i].name, a.entries[i].name);
        TD_ASSERT_EQ_INT(b.entries[i].size, a.entries[i].size);
        TD_ASSERT(memcmp(b.entries[i].data, a.entries[i].data, a.entries[i].size) == 0);
    }
    td_archive_free(&b);
    TD_ASSERT_OK(td_archive_write_targz(&a, TMP "/t.tar.gz", 1700000000, &err));
    /* Python's tarfile (an independent reader) sees the same names, sizes and bytes. */
    run_py("import tarfile,hashlib; t=tarfile.open(\"t.tar.gz\"); "
           "m=[(x.name,x.size,x.mtime,x.isreg()) for x in t.getmembers()]; "
           "assert m==[(\"manifest.json\",9,1700000000,True),(\"model/big.bin\",70000,1700000000,"
           "True),(\"empty\",0,1700000000,True),(\"exactly512\",512,1700000000,True)], m; "
           "d=t.extractfile(\"model/big.bin\").read(); "
           "assert d==bytes((i*7+i//300)&255 for i in range(70000))");
    td_free(g1);
    td_free(g2);
    td_free(big);
    td_archive_free(&a);
}

/* Writes hostile archives with Python's tarfile and checks each is refused with a reason. */
TD_TEST(targz_reader_refuses_hostile_archives)
{
    td_archive a;
    td_err err;
    fresh_dir();
    run_py(
        "import tarfile,io\n"
        "def mk(name, entries):\n"
        "    with tarfile.open(name, \"w:gz\", format=tarfile.USTAR_FORMAT) as t:\n"
        "        for n, kind, data in entries:\n"
        "            i = tarfile.TarInfo(n)\n"
        "            if kind == \"sym\":\n"
        "                i.type = tarfile.SYMTYPE; i.linkname = \"/etc/passwd\"\n"
        "                t.addfile(i)\n"
        "            elif kind == \"hard\":\n"
        "                i.type = tarfile.LNKTYPE; i.linkname = \"a\"\n"
        "                t.addfile(i)\n"
        "            elif kind == \"fifo\":\n"
        "                i.type = tarfile.FIFOTYPE\n"
        "                t.addfile(i)\n"
        "            else:\n"
        "                i.size = len(data); t.addfile(i, io.BytesIO(data))\n"
        "mk(\"ok.tgz\", [(\"a\", \"f\", b\"hello\"), (\"d/b\", \"f\", b\"x\" * 1000)])\n"
        "mk(\"sym.tgz\", [(\"a\", \"sym\", b\"\")])\n"
        "mk(\"hard.tgz\", [(\"a\", \"f\", b\"1\"), (\"b\", \"hard\", b\"\")])\n"
        "mk(\"fifo.tgz\", [(\"a\", \"fifo\", b\"\")])\n"
        "mk(\"dotdot.tgz\", [(\"../evil\", \"f\", b\"x\")])\n"
        "mk(\"abs.tgz\", [(\"/tmp/evil\", \"f\", b\"x\")])\n"
        "mk(\"dup.tgz\", [(\"a\", \"f\", b\"1\"), (\"a\", \"f\", b\"2\")])\n"
        "mk(\"many.tgz\", [(\"f%d\" % k, \"f\", b\"x\") for k in range(70)])\n"
        "mk(\"big.tgz\", [(\"a\", \"f\", b\"\\0\" * 3000000)])\n"
        "d = open(\"ok.tgz\", \"rb\").read()\n"
        "open(\"trunc.tgz\", \"wb\").write(d[: len(d) // 2])\n"
        "b = bytearray(d); b[len(b) // 2] ^= 0xFF; open(\"flip.tgz\", \"wb\").write(bytes(b))\n"
        "open(\"plain.tgz\", \"wb\").write(b\"not gzip at all\" * 10)\n"
        "import gzip\n"
        "h = bytearray(512); h[0:1] = b\"a\"; h[124:136] = b\"00000000005\\0\"; "
        "h[148:156] = b\"0000000\\0\"\n"
        "open(\"badsum.tgz\", \"wb\").write(gzip.compress(bytes(h) + b\"hello\" + bytes(1531)))\n");
    TD_ASSERT_OK(td_archive_read_targz_file(&a, TMP "/ok.tgz", NULL, &err));
    TD_ASSERT_EQ_INT(a.n, 2);
    TD_ASSERT(td_archive_find(&a, "d/b") && td_archive_find(&a, "d/b")->size == 1000);
    TD_ASSERT(memcmp(td_archive_find(&a, "a")->data, "hello", 5) == 0);
    td_archive_free(&a);
    static const struct {
        const char *file, *msg;
        int code;
    } cases[] = {
        {"sym.tgz", "only regular files", TD_EFORMAT},
        {"hard.tgz", "only regular files", TD_EFORMAT},
        {"fifo.tgz", "only regular files", TD_EFORMAT},
        {"dotdot.tgz", "unsafe name", TD_EFORMAT},
        {"abs.tgz", "unsafe name", TD_EFORMAT},
        {"dup.tgz", "twice", TD_EFORMAT},
        {"many.tgz", "more than 64 entries", TD_ERANGE},
        {"trunc.tgz", "truncated", TD_EFORMAT},
        {"flip.tgz", "archive", 0},
        {"plain.tgz", "not a gzip file", TD_EFORMAT},
        {"badsum.tgz", "checksum", TD_ECHECKSUM},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), TMP "/%s", cases[i].file);
        int rc = td_archive_read_targz_file(&a, path, NULL, &err);
        if (rc == 0)
            TD_FAIL("%s was accepted", cases[i].file);
        if (cases[i].code)
            TD_ASSERT_EQ_INT(rc, cases[i].code);
        TD_ASSERT_CONTAINS(err.msg, cases[i].msg);
        TD_ASSERT_CONTAINS(err.msg, cases[i].file);
        td_archive_free(&a);
    }
    /* Size limits: per entry and in all. */
    td_archive_limits lim;
    td_archive_limits_default(&lim);
    lim.max_entry_bytes = 1000000;
    TD_ASSERT_EQ_INT(td_archive_read_targz_file(&a, TMP "/big.tgz", &lim, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "over the limit");
    td_archive_free(&a);
    td_archive_limits_default(&lim);
    lim.max_total_bytes = 500;
    TD_ASSERT_EQ_INT(td_archive_read_targz_file(&a, TMP "/ok.tgz", &lim, &err), TD_ERANGE);
    TD_ASSERT_CONTAINS(err.msg, "is over the limit");
    TD_ASSERT_CONTAINS(err.msg, "500 in all");
    td_archive_free(&a);
}

/* The one tar reader (td_tar_*): GNU long names and pax paths as other tools write them, read
 * from a file gzip-compressed or not; the strict readers above it refuse those long names. */
TD_TEST(one_tar_reader_for_long_names_pax_and_plain_files)
{
    td_tar_reader *r;
    td_tar_member m;
    td_archive a;
    td_err err;
    char buf[64];
    fresh_dir();
    run_py(
        "import tarfile,io\n"
        "long = \"d/\" + \"n\" * 150 + \".txt\"\n"
        "for name, fmt, mode in [(\"gnu.tgz\", tarfile.GNU_FORMAT, \"w:gz\"),\n"
        "                        (\"pax.tar\", tarfile.PAX_FORMAT, \"w\")]:\n"
        "    with tarfile.open(name, mode, format=fmt) as t:\n"
        "        for n, data in [(long, b\"long one\"), (\"short\", b\"s\")]:\n"
        "            i = tarfile.TarInfo(n); i.size = len(data); t.addfile(i, io.BytesIO(data))\n");
    static const char *files[] = {TMP "/gnu.tgz", TMP "/pax.tar"};
    char want[200];
    snprintf(want, sizeof(want), "d/%0150d.txt", 0);
    for (size_t k = 0; k < 150; k++)
        want[2 + k] = 'n';
    for (int f = 0; f < 2; f++) {
        TD_ASSERT_OK(td_tar_open_file(&r, files[f], &err));
        TD_ASSERT_EQ_INT(td_tar_next(r, &m, &err), 1);
        TD_ASSERT_STREQ(m.name, want);
        TD_ASSERT_EQ_INT(m.long_name, 1);
        TD_ASSERT_EQ_INT((int)m.size, 8);
        TD_ASSERT_EQ_INT(td_tar_read_exact(r, buf, 8, &err), 0);
        TD_ASSERT(memcmp(buf, "long one", 8) == 0);
        /* The second member's data is skipped when it is not read. */
        TD_ASSERT_EQ_INT(td_tar_next(r, &m, &err), 1);
        TD_ASSERT_STREQ(m.name, "short");
        TD_ASSERT_EQ_INT(m.long_name, 0);
        TD_ASSERT_EQ_INT(m.index, 2);
        TD_ASSERT_EQ_INT(td_tar_next(r, &m, &err), 0);
        TD_ASSERT(td_tar_position(r) >= 4 * 512);
        td_tar_close(r);
    }
    /* trackday's own archives take plain ustar names only. */
    TD_ASSERT_EQ_INT(td_archive_read_targz_file(&a, TMP "/gnu.tgz", NULL, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "a GNU or pax long name");
    td_archive_free(&a);
    /* A cut file: truncation named with the member. */
    run_py("d = open(\"pax.tar\", \"rb\").read(); open(\"cut.tar\", \"wb\").write(d[:2600])\n");
    TD_ASSERT_OK(td_tar_open_file(&r, TMP "/cut.tar", &err));
    TD_ASSERT_EQ_INT(td_tar_next(r, &m, &err), 1);
    TD_ASSERT_EQ_INT(td_tar_next(r, &m, &err), 1);
    TD_ASSERT_EQ_INT(td_tar_next(r, &m, &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "archive truncated: it ends inside entry 'short'");
    td_tar_close(r);
}
