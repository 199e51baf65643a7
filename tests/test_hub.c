/*
 * test_hub.c - the hub's parts below the API (storage, migrations, archives, blobs) and the
 * server's behaviour as a process (graceful SIGTERM, cookies and CSRF, body limits, the
 * OpenAPI document). Route-by-route behaviour is in test_hub_api.c's scenarios.
 */
#include <sys/time.h>
#include <time.h>

#include "hub/db.h"
#include "hub/hub_internal.h"
#include "hub/tar.h"
#include "hub_harness.h"

static void scratch(char *dir, size_t cap)
{
    hub_tmpdir(dir, cap);
}

static void rm_rf(const char *dir)
{
    char out[64];
    hub_sh(out, sizeof(out), "rm -rf %s", dir);
}

/* ------------------------------------------------------------------------------------ */
/* Storage                                                                              */
/* ------------------------------------------------------------------------------------ */

static const char mig1[] = "CREATE TABLE t (id @ID@, name TEXT NOT NULL UNIQUE);\n"
                           "CREATE TABLE u (k TEXT PRIMARY KEY, n BIGINT NOT NULL);\n";
static const char mig2[] = "ALTER TABLE t ADD COLUMN size BIGINT NOT NULL DEFAULT 0;\n";

TD_TEST(db_migrations_apply_once_in_order)
{
    char dir[512], path[600];
    td_db *db;
    td_err err;
    int applied, version;
    td__db_migration migs[] = {{1, "one", mig1}, {2, "two", mig2}};
    scratch(dir, sizeof(dir));
    hub_fresh_db(dir, "x.db", path, sizeof(path));
    TD_ASSERT_OK(td__db_open(&db, path, 2, &err));
    TD_ASSERT_OK(td__db_migrate(db, migs, 1, &applied, &err));
    TD_ASSERT_EQ_INT(applied, 1);
    TD_ASSERT_OK(td__db_schema_version(db, &version, &err));
    TD_ASSERT_EQ_INT(version, 1);
    /* A newer program applies only what is new; running again applies nothing. */
    TD_ASSERT_OK(td__db_migrate(db, migs, 2, &applied, &err));
    TD_ASSERT_EQ_INT(applied, 1);
    TD_ASSERT_OK(td__db_migrate(db, migs, 2, &applied, &err));
    TD_ASSERT_EQ_INT(applied, 0);
    td_db_conn *c = td__db_acquire(db);
    TD_ASSERT_OK(
        td__db_exec(c, &err, "INSERT INTO t (name, size) VALUES (?, ?)", "ti", "a", (int64_t)5));
    /* The unique constraint is a conflict; a bound string is data, never SQL. */
    TD_ASSERT_EQ_INT(td__db_exec(c, &err, "INSERT INTO t (name) VALUES (?)", "t", "a"),
                     TD_ECONFLICT);
    TD_ASSERT_OK(
        td__db_exec(c, &err, "INSERT INTO t (name) VALUES (?)", "t", "x'); DROP TABLE t; --"));
    int64_t n = 0;
    TD_ASSERT_OK(td__db_int_query(c, &n, -1, &err, "SELECT COUNT(*) FROM t", ""));
    TD_ASSERT_EQ_INT(n, 2);
    /* A rolled-back transaction leaves nothing; a committed one stays. */
    TD_ASSERT_OK(td__db_begin(c, 1, &err));
    TD_ASSERT_OK(td__db_exec(c, &err, "INSERT INTO t (name) VALUES (?)", "t", "b"));
    td__db_rollback(c);
    TD_ASSERT_OK(td__db_int_query(c, &n, -1, &err, "SELECT COUNT(*) FROM t", ""));
    TD_ASSERT_EQ_INT(n, 2);
    td__db_release(db, c);
    td__db_close(db);

    /* An older program refuses a database migrated beyond what it knows. */
    TD_ASSERT_OK(td__db_open(&db, path, 1, &err));
    TD_ASSERT_EQ_INT(td__db_migrate(db, migs, 1, &applied, &err), TD_EVERSION);
    TD_ASSERT_CONTAINS(err.msg, "newer than this trackday");
    td__db_close(db);
    rm_rf(dir);
}

TD_TEST(db_failed_migration_leaves_the_version)
{
    char dir[512], path[600];
    td_db *db;
    td_err err;
    int applied, version;
    td__db_migration migs[] = {{1, "one", mig1},
                               {2, "broken", "CREATE TABLE v (a TEXT);\nTHIS IS NOT SQL;\n"}};
    scratch(dir, sizeof(dir));
    hub_fresh_db(dir, "x.db", path, sizeof(path));
    TD_ASSERT_OK(td__db_open(&db, path, 1, &err));
    TD_ASSERT_NE_INT(td__db_migrate(db, migs, 2, &applied, &err), 0);
    TD_ASSERT_CONTAINS(err.msg, "migration 2 (broken)");
    TD_ASSERT_OK(td__db_schema_version(db, &version, &err));
    TD_ASSERT_EQ_INT(version, 1);
    /* The failed migration's first statement was rolled back with it. */
    td_db_conn *c = td__db_acquire(db);
    TD_ASSERT_NE_INT(td__db_exec(c, &err, "SELECT * FROM v", ""), 0);
    td__db_release(db, c);
    td__db_close(db);
    rm_rf(dir);
}

TD_TEST(db_hub_schema_is_current_after_open)
{
    char dir[512];
    td_hub_options o;
    td_hub *h;
    td_err err;
    int cur, latest;
    scratch(dir, sizeof(dir));
    char dbt[600];
    td_hub_options_default(&o);
    o.data_dir = dir;
    hub_fresh_db(dir, "hub.db", dbt, sizeof(dbt));
    if (pg_wanted())
        o.db = dbt;
    TD_ASSERT_OK(td_hub_open(&h, &o, &err));
    TD_ASSERT_OK(td_hub_schema_version(h, &cur, &latest, &err));
    TD_ASSERT_EQ_INT(cur, latest);
    TD_ASSERT(latest >= 1);
    td_hub_close(h);
    /* Opening again migrates nothing and keeps the data. */
    TD_ASSERT_OK(td_hub_open(&h, &o, &err));
    TD_ASSERT_OK(td_hub_create_user(h, "ann", "learner", "ann-password", NULL, NULL, &err));
    TD_ASSERT_EQ_INT(td_hub_create_user(h, "ann", "learner", "ann-password", NULL, NULL, &err),
                     TD_ECONFLICT);
    TD_ASSERT_CONTAINS(err.msg, "taken");
    TD_ASSERT_EQ_INT(td_hub_create_user(h, "Bad Name", "learner", "ann-password", NULL, NULL, &err),
                     TD_EINVAL);
    TD_ASSERT_EQ_INT(td_hub_create_user(h, "bo", "pilot", "ann-password", NULL, NULL, &err),
                     TD_EINVAL);
    td_hub_close(h);
    rm_rf(dir);
}

/* ------------------------------------------------------------------------------------ */
/* Archives and blobs                                                                   */
/* ------------------------------------------------------------------------------------ */

TD_TEST(path_clean_refuses_traversal)
{
    char out[300];
    TD_ASSERT_OK(td__path_clean("./a//b/./c.txt", out, sizeof(out), NULL));
    TD_ASSERT_STREQ(out, "a/b/c.txt");
    TD_ASSERT_EQ_INT(td__path_clean("../etc/passwd", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("a/../../b", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("/etc/passwd", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("a\\..\\b", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("a\nb", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("./", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("", out, sizeof(out), NULL), TD_EINVAL);
    /* Names must be UTF-8 (a Latin-1 name, an overlong '/', a surrogate). */
    TD_ASSERT_EQ_INT(td__path_clean("caf\xe9.txt", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("a\xc0\xaf"
                                    "b",
                                    out, sizeof(out), NULL),
                     TD_EINVAL);
    TD_ASSERT_EQ_INT(td__path_clean("\xed\xa0\x80", out, sizeof(out), NULL), TD_EINVAL);
    TD_ASSERT_OK(td__path_clean("caf\xc3\xa9/\xf0\x9f\x8f\x81.txt", out, sizeof(out), NULL));
}

TD_TEST(tgz_round_trip_through_tar)
{
    char dir[512], out[2048];
    td_err err;
    scratch(dir, sizeof(dir));
    hub_sh(out, sizeof(out),
           "cd %s && mkdir -p src/model/deep && echo hello > src/a.txt && "
           "head -c 300000 /dev/urandom > src/model/w.bin && "
           "echo x > src/model/deep/%s.txt && touch src/empty && echo hidden > src/.secret",
           dir,
           "a-very-long-name-of-a-file-that-goes-on-and-on-past-one-hundred-characters-"
           "so-that-ustar-needs-its-prefix");
    char src[700], tgz[700], back[700];
    snprintf(src, sizeof(src), "%s/src", dir);
    snprintf(tgz, sizeof(tgz), "%s/x.tgz", dir);
    snprintf(back, sizeof(back), "%s/back", dir);
    TD_ASSERT_OK(td__tgz_write_dir(src, tgz, &err));
    /* GNU tar reads what we write... */
    int rc = hub_sh(out, sizeof(out),
                    "mkdir %s/gnu && tar xzf %s -C %s/gnu && diff -r "
                    "--exclude=.secret %s %s/gnu && echo same",
                    dir, tgz, dir, src, dir);
    TD_ASSERT_MSG(rc == 0, "%s", out);
    /* ...and we read what we write, hidden files left out. */
    TD_ASSERT_OK(td__tar_extract(tgz, back, 100, 1 << 24, &err));
    rc = hub_sh(out, sizeof(out), "diff -r --exclude=.secret %s %s && test ! -e %s/.secret", src,
                back, back);
    TD_ASSERT_MSG(rc == 0, "%s", out);
    /* Limits: files and bytes. */
    rm_rf(back);
    TD_ASSERT_EQ_INT(td__tar_extract(tgz, back, 2, 1 << 24, &err), TD_ELIMIT);
    TD_ASSERT_EQ_INT(td__tar_extract(tgz, back, 100, 1000, &err), TD_ELIMIT);
    TD_ASSERT_CONTAINS(err.msg, "more than 1000 bytes");
    rm_rf(dir);
}

/* A file replaced by rename after the directory was listed (a trainer writing its next
 * checkpoint while the worker packs the last one) is archived whole, as it is when read. */
TD_TEST(tgz_archives_a_file_replaced_after_the_listing_whole)
{
    char dir[512], out[2048], src[700], tgz[700], back[700];
    td_err err;
    td__tgz_item *items;
    td__tgz *t;
    int count;
    scratch(dir, sizeof(dir));
    hub_sh(out, sizeof(out),
           "cd %s && mkdir -p src/model && head -c 1000 /dev/urandom > src/model/grow.bin && "
           "head -c 3000 /dev/urandom > src/model/shrink.bin",
           dir);
    snprintf(src, sizeof(src), "%s/src", dir);
    snprintf(tgz, sizeof(tgz), "%s/x.tgz", dir);
    snprintf(back, sizeof(back), "%s/back", dir);
    TD_ASSERT_OK(td__tgz_items_from_dir(src, &items, &count, 100, &err));
    TD_ASSERT_EQ_INT(count, 2);
    /* Replaced after the listing: one larger, one smaller. */
    hub_sh(out, sizeof(out),
           "cd %s/src/model && head -c 1064 /dev/urandom > g && mv g grow.bin && "
           "head -c 2000 /dev/urandom > s && mv s shrink.bin",
           dir);
    TD_ASSERT_OK(td__tgz_new(&t, items, count, 0, &err));
    int fd = open(tgz, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    TD_ASSERT(fd >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = td__tgz_read(t, buf, sizeof(buf), &err)) > 0)
        TD_ASSERT(write(fd, buf, (size_t)n) == n);
    TD_ASSERT_MSG(n == 0, "%s", err.msg);
    close(fd);
    td__tgz_free(t);
    TD_ASSERT_OK(td__tar_extract(tgz, back, 100, 1 << 24, &err));
    int rc = hub_sh(out, sizeof(out), "diff -r %s %s && echo same", src, back);
    TD_ASSERT_MSG(rc == 0, "%s", out);
    rm_rf(dir);
}

/* Archives made by Python's tarfile with one hostile entry each. */
TD_TEST(tar_reader_refuses_hostile_archives)
{
    static const struct {
        const char *what, *py, *msg;
    } cases[] = {
        {"symlink",
         "t=tarfile.TarInfo('model_metadata.json'); t.type=tarfile.SYMTYPE; "
         "t.linkname='/etc/passwd'; tf.addfile(t)",
         "link"},
        {"hardlink",
         "t=tarfile.TarInfo('x'); t.type=tarfile.LNKTYPE; t.linkname='/etc/passwd'; "
         "tf.addfile(t)",
         "link"},
        {"parent",
         "d=b'x'; t=tarfile.TarInfo('../../evil.txt'); t.size=1; tf.addfile(t, io.BytesIO(d))",
         "'..'"},
        {"absolute",
         "d=b'x'; t=tarfile.TarInfo('/tmp/evil.txt'); t.size=1; tf.addfile(t, io.BytesIO(d))",
         "absolute"},
        {"device",
         "t=tarfile.TarInfo('dev'); t.type=tarfile.CHRTYPE; t.devmajor=1; t.devminor=3; "
         "tf.addfile(t)",
         "device"},
        {"fifo", "t=tarfile.TarInfo('p'); t.type=tarfile.FIFOTYPE; tf.addfile(t)", "FIFO"},
        {"pax_parent",
         "d=b'x'; t=tarfile.TarInfo('ok'); t.size=1; t.pax_headers={'path': 'a/../../x'}; "
         "tf.addfile(t, io.BytesIO(d))",
         "'..'"},
    };
    char dir[512], out[4096];
    td_err err;
    scratch(dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tgz[700], dest[700];
        snprintf(tgz, sizeof(tgz), "%s/%s.tgz", dir, cases[i].what);
        snprintf(dest, sizeof(dest), "%s/out-%s", dir, cases[i].what);
        int rc = hub_sh(out, sizeof(out),
                        "/usr/bin/python3 -c \"import tarfile, io\n"
                        "tf=tarfile.open('%s', 'w:gz', format=tarfile.PAX_FORMAT)\n"
                        "%s\ntf.close()\" 2>&1",
                        tgz, cases[i].py);
        TD_ASSERT_MSG(rc == 0, "python: %s", out);
        rc = td__tar_extract(tgz, dest, 100, 1 << 20, &err);
        TD_ASSERT_MSG(rc != 0, "%s was accepted", cases[i].what);
        TD_ASSERT_CONTAINS(err.msg, cases[i].msg);
    }
    /* Nothing escaped the destination. */
    char esc[700];
    snprintf(esc, sizeof(esc), "%s/../evil.txt", dir);
    TD_ASSERT(!td_path_exists(esc));
    /* Truncated and non-archive input. */
    char tgz[700], dest[700];
    snprintf(tgz, sizeof(tgz), "%s/trunc.tgz", dir);
    snprintf(dest, sizeof(dest), "%s/out-trunc", dir);
    hub_sh(out, sizeof(out),
           "cd %s && head -c 100000 /dev/urandom > big && tar czf full.tgz big && "
           "head -c 20000 full.tgz > trunc.tgz && echo 'not an archive' > plain.tgz",
           dir);
    TD_ASSERT_NE_INT(td__tar_extract(tgz, dest, 100, 1 << 20, &err), 0);
    TD_ASSERT_CONTAINS(err.msg, "truncated");
    snprintf(tgz, sizeof(tgz), "%s/plain.tgz", dir);
    TD_ASSERT_NE_INT(td__tar_extract(tgz, dest, 100, 1 << 20, &err), 0);
    rm_rf(dir);
}

TD_TEST(blobs_are_content_addressed_and_whole)
{
    char dir[512], sha[65], sha2[65], path[1200], out[256];
    td__blob_writer w;
    td_err err;
    scratch(dir, sizeof(dir));
    TD_ASSERT_OK(td__blob_begin(dir, &w, &err));
    TD_ASSERT_OK(td__blob_write(&w, "hello ", 6, &err));
    TD_ASSERT_OK(td__blob_write(&w, "world\n", 6, &err));
    /* Until committed, nothing is under blobs/. */
    int rc = hub_sh(out, sizeof(out), "find %s/blobs -type f 2>/dev/null | wc -l", dir);
    TD_ASSERT_EQ_INT(rc, 0);
    TD_ASSERT_EQ_INT(strtol(out, NULL, 10), 0);
    TD_ASSERT_OK(td__blob_commit(dir, &w, sha, &err));
    /* sha256sum of "hello world\n" */
    TD_ASSERT_STREQ(sha, "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447");
    TD_ASSERT_OK(td__blob_path(dir, sha, path, sizeof(path)));
    TD_ASSERT(td_path_exists(path));
    /* The same content again is the same blob; no temporary file is left. */
    TD_ASSERT_OK(td__blob_begin(dir, &w, &err));
    TD_ASSERT_OK(td__blob_write(&w, "hello world\n", 12, &err));
    TD_ASSERT_OK(td__blob_commit(dir, &w, sha2, &err));
    TD_ASSERT_STREQ(sha, sha2);
    hub_sh(out, sizeof(out), "ls %s/tmp | wc -l", dir);
    TD_ASSERT_EQ_INT(strtol(out, NULL, 10), 0);
    TD_ASSERT_EQ_INT(td__blob_path(dir, "../../etc/passwd", path, sizeof(path)), TD_EINVAL);
    rm_rf(dir);
}

/* ------------------------------------------------------------------------------------ */
/* The server process                                                                   */
/* ------------------------------------------------------------------------------------ */

TD_TEST(serve_sigterm_stops_cleanly_and_data_survives)
{
    hub_server s;
    hub_resp r;
    char tok[200], out[1024];
    hub_start(&s);
    hub_user(&s, "carol", "learner", tok, sizeof(tok));
    hub_stop_keep(&s); /* asserts exit status 0 */
    int rc = hub_sh(out, sizeof(out), "grep -c stopping %s/serve.log", s.dir);
    TD_ASSERT_MSG(rc == 0, "no 'stopping' in the log: %s", out);
    /* The WAL was checkpointed and removed at close: the database is one file again. */
    char wal[800];
    snprintf(wal, sizeof(wal), "%s/hub.db%s", s.data, s.db[0] ? "" : "-wal");
    /* (On PostgreSQL there is no hub.db at all: the data directory holds only files.) */
    TD_ASSERT(!td_path_exists(wal));
    hub_launch(&s, NULL);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/users/me", tok, NULL), 200);
    TD_ASSERT_CONTAINS(r.body, "carol");
    hub_resp_free(&r);
    hub_stop(&s);
}

TD_TEST(serve_refuses_a_bad_listen_address)
{
    char out[2048], dir[512];
    scratch(dir, sizeof(dir));
    int rc = hub_sh(out, sizeof(out), "%s serve --data %s --listen nowhere:80 2>&1",
                    TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "not an IPv4 address");
    rc = hub_sh(out, sizeof(out), "%s serve --data %s --listen 127.0.0.1:99999 2>&1",
                TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "no valid port");
    /* Command-line mistakes exit 2 (docs/cli/README.md). */
    rc = hub_sh(out, sizeof(out), "%s serve --data %s --bogus 2>&1", TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(rc, 2);
    TD_ASSERT_CONTAINS(out, "trackday serve: unknown option '--bogus'");
    rc = hub_sh(out, sizeof(out), "%s serve --data %s --lease-seconds 0 2>&1", TD_TEST_TRACKDAY_BIN,
                dir);
    TD_ASSERT_EQ_INT(rc, 2);
    TD_ASSERT_CONTAINS(out, "--lease-seconds: 0 is outside [1, 3600]");
    rm_rf(dir);
}

TD_TEST(cookie_session_needs_csrf_for_changes)
{
    hub_server s;
    hub_resp r;
    char cookie[400], csrf_hdr[300];
    hub_start(&s);
    hub_json(&s, &r, "POST", "/api/v1/sessions", NULL,
             "{\"username\":\"admin\",\"password\":\"" HUB_ADMIN_PASSWORD "\",\"cookie\":true}");
    TD_ASSERT_EQ_INT(r.status, 201);
    TD_ASSERT_CONTAINS(r.headers, "HttpOnly");
    TD_ASSERT_CONTAINS(r.headers, "SameSite=Strict");
    /* The session is only in the HttpOnly cookie, never in the JSON that script reads. */
    TD_ASSERT(json_object_get(r.json, "token") == NULL);
    const char *csrf = json_string_value(json_object_get(r.json, "csrf_token"));
    const char *set = strstr(r.headers, "td_session=");
    TD_ASSERT(csrf && set);
    size_t tlen = strcspn(set + 11, ";\r\n");
    TD_ASSERT(tlen > 10 && tlen < 200);
    snprintf(cookie, sizeof(cookie), "Cookie: td_session=%.*s", (int)tlen, set + 11);
    snprintf(csrf_hdr, sizeof(csrf_hdr), "%s", csrf);
    hub_resp_free(&r);
    /* Reading with the cookie works; a reloaded page learns its CSRF token from the session
     * (a bearer session has none). */
    hub_req_h(&s, &r, "GET", "/api/v1/users/me", NULL, NULL, NULL, 0, cookie);
    TD_ASSERT_EQ_INT(r.status, 200);
    hub_resp_free(&r);
    hub_req_h(&s, &r, "GET", "/api/v1/sessions/current", NULL, NULL, NULL, 0, cookie);
    TD_ASSERT_EQ_INT(r.status, 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "csrf_token")), csrf_hdr);
    hub_resp_free(&r);
    /* A change without the CSRF header is refused, with it accepted. */
    const char *body = "{\"name\":\"w-cookie\"}";
    hub_req_h(&s, &r, "POST", "/api/v1/workers", NULL, "application/json", body, strlen(body),
              cookie);
    TD_ASSERT_EQ_INT(r.status, 403);
    TD_ASSERT_STREQ(hub_err_code(&r), "csrf");
    hub_resp_free(&r);
    {
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        char url[300], x[400];
        long status = 0;
        snprintf(url, sizeof(url), "%s/api/v1/workers", s.url);
        snprintf(x, sizeof(x), "X-CSRF-Token: %s", csrf_hdr);
        h = curl_slist_append(h, cookie);
        h = curl_slist_append(h, x);
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hub_write_cb);
        hub_buf b = {NULL, 0};
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        TD_ASSERT_EQ_INT(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        TD_ASSERT_MSG(status == 201, "%ld %s", status, b.data);
        /* The same from another origin is refused even with the token. */
        curl_slist_free_all(h);
        h = NULL;
        h = curl_slist_append(h, cookie);
        h = curl_slist_append(h, x);
        h = curl_slist_append(h, "Origin: http://evil.example");
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"name\":\"w-evil\"}");
        TD_ASSERT_EQ_INT(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        TD_ASSERT_EQ_INT(status, 403);
        free(b.data);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
    }
    /* Logging out clears the cookie. */
    {
        char hdr2[400];
        TD_FMT(hdr2, "X-CSRF-Token: %s", csrf_hdr);
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        char url[300], headers[8192] = "";
        snprintf(url, sizeof(url), "%s/api/v1/sessions/current", s.url);
        h = curl_slist_append(h, cookie);
        h = curl_slist_append(h, hdr2);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hub_header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
        TD_ASSERT_EQ_INT(curl_easy_perform(c), CURLE_OK);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        TD_ASSERT_EQ_INT(status, 204);
        TD_ASSERT_CONTAINS(headers, "Max-Age=0");
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
    }
    hub_req_h(&s, &r, "GET", "/api/v1/users/me", NULL, NULL, NULL, 0, cookie);
    TD_ASSERT_EQ_INT(r.status, 401);
    hub_resp_free(&r);
    hub_stop(&s);
}

TD_TEST(openapi_describes_every_route)
{
    hub_server s;
    hub_resp r;
    hub_start(&s);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/openapi.json", NULL, NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    json_t *paths = json_object_get(r.json, "paths");
    int routes = 0;
    for (int t = 0; td__route_tables[t]; t++)
        for (const td__route *rt = td__route_tables[t]; rt->method; rt++) {
            char m[16];
            size_t i;
            for (i = 0; rt->method[i]; i++)
                m[i] = (char)(rt->method[i] | 0x20);
            m[i] = 0;
            char key[256];
            td__openapi_path(rt->pattern, key, sizeof(key));
            json_t *op = json_object_get(json_object_get(paths, key), m);
            TD_ASSERT_MSG(op != NULL, "%s %s is not in openapi.json", rt->method, rt->pattern);
            TD_ASSERT_MSG(json_object_get(op, "responses") && json_object_get(op, "summary"),
                          "%s %s lacks responses or a summary", rt->method, rt->pattern);
            /* Routes behind a login document 401 and 403. */
            if (!(rt->allow & TD__ALLOW_ANON))
                TD_ASSERT(json_object_get(json_object_get(op, "responses"), "401"));
            routes++;
        }
    TD_ASSERT(routes >= 10);
    /* Every $ref points at a schema that exists. */
    char *text = json_dumps(r.json, 0);
    json_t *schemas = json_object_get(json_object_get(r.json, "components"), "schemas");
    for (char *p = strstr(text, "#/components/schemas/"); p;
         p = strstr(p + 1, "#/components/schemas/")) {
        char name[64];
        sscanf(p + strlen("#/components/schemas/"), "%63[A-Za-z0-9_]", name);
        TD_ASSERT_MSG(json_object_get(schemas, name), "no schema %s", name);
    }
    free(text);
    hub_resp_free(&r);
    hub_stop(&s);
}

TD_TEST(bodies_over_the_limit_are_refused)
{
    hub_server s;
    hub_resp r;
    hub_start(&s);
    /* Announced size over the JSON limit: 413 before the body is read, so a client that waits
     * for "100 Continue" (curl does for large bodies) never sends it. */
    char *big = malloc(3u << 20);
    memset(big, ' ', 3u << 20);
    hub_req_h(&s, &r, "POST", "/api/v1/users", s.admin, "application/json", big, 3u << 20,
              "Expect: 100-continue");
    TD_ASSERT_EQ_INT(r.status, 413);
    TD_ASSERT_STREQ(hub_err_code(&r), "too_large");
    hub_resp_free(&r);
    /* The server is still there. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/health", NULL, NULL), 200);
    hub_resp_free(&r);
    free(big);
    hub_stop(&s);
}

/*
 * Client text that is not UTF-8 (found by tests/fuzz/fuzz_hub_http): jansson writes no string
 * that is not UTF-8, so an error message quoting such a path came back as "{}", and a roster
 * line with such a display name created an account that every reply then left out ("{}" for
 * GET /users/ID). Messages are scrubbed; rosters and archive names must be UTF-8.
 */
TD_TEST(client_text_that_is_not_utf8)
{
    hub_server s;
    hub_resp r;
    char teacher[160];
    hub_start(&s);
    hub_req(&s, &r, "GET", "/api/v1/no%FFroute", s.admin, NULL, NULL, 0);
    TD_ASSERT_EQ_INT(r.status, 404);
    TD_ASSERT_STREQ(hub_err_code(&r), "not_found");
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "/api/v1/no?route");
    hub_resp_free(&r);

    hub_user(&s, "ivan", "instructor", teacher, sizeof(teacher));
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/classes", teacher, "{\"name\": \"c\"}"),
                     201);
    long long cid = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/members/import", cid);
    const char *latin1 = "name,email,role\nJos\xe9 Smith,jose@example.org,learner\n";
    hub_req(&s, &r, "POST", path, teacher, "text/csv", latin1, strlen(latin1));
    TD_ASSERT_EQ_INT(r.status, 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "not UTF-8");
    hub_resp_free(&r);
    const char *utf8 = "name,email,role\nJos\xc3\xa9 Smith,jose@example.org,learner\n";
    hub_req(&s, &r, "POST", path, teacher, "text/csv", utf8, strlen(utf8));
    TD_ASSERT_EQ_INT(r.status, 200);
    json_t *created = json_array_get(json_object_get(r.json, "created"), 0);
    long long uid = json_integer_value(json_object_get(created, "user_id"));
    TD_ASSERT(uid > 0);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/users/%lld", uid);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, s.admin, NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "display_name")),
                    "Jos\xc3\xa9 Smith");
    hub_resp_free(&r);
    hub_stop(&s);
}

/* A hub starting on a data directory others may be using (hub processes on PostgreSQL, or
 * `trackday admin` beside a running `trackday serve`) removes from tmp/ only what an ended
 * process of this machine left. */
TD_TEST(start_removes_only_what_ended_processes_left_in_tmp)
{
    char dir[512], dbt[600], p[900], host[128];
    td_hub_options o;
    td_hub *h;
    td_err err;
    const char *tag = td__tmp_tag(), *dot = strrchr(tag, '.');
    scratch(dir, sizeof(dir));
    snprintf(host, sizeof(host), "%.*s", (int)(dot - tag), tag);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    const char *names[3][2] = {
        {"upload-%s.%d-AAAAAA", "ended"},            /* an ended process of this machine */
        {"blob-%s.%d-BBBBBB", "alive"},              /* this (running) process */
        {"upload-otherhost.%.0s%d-CCCCCC", "other"}, /* another machine's, recent */
    };
    int pids[3] = {(int)dead, (int)getpid(), 1};
    snprintf(p, sizeof(p), "%s/tmp", dir);
    TD_ASSERT_OK(td_mkdir_p(p, &err));
    for (int i = 0; i < 3; i++) {
        char name[200];
        snprintf(name, sizeof(name), names[i][0], host, pids[i]);
        snprintf(p, sizeof(p), "%s/tmp/%s", dir, name);
        TD_ASSERT_OK(td_file_write_atomic(p, "x", 1, &err));
    }
    td_hub_options_default(&o);
    o.data_dir = dir;
    hub_fresh_db(dir, "hub.db", dbt, sizeof(dbt));
    if (pg_wanted())
        o.db = dbt;
    TD_ASSERT_OK(td_hub_open(&h, &o, &err));
    td_hub_close(h);
    char out[1024];
    hub_sh(out, sizeof(out), "ls %s/tmp", dir);
    TD_ASSERT_MSG(!strstr(out, "AAAAAA"), "an ended process's upload stayed: %s", out);
    TD_ASSERT_MSG(strstr(out, "BBBBBB") && strstr(out, "CCCCCC"),
                  "a running process's files were removed: %s", out);
    rm_rf(dir);
}

/* --db takes a PostgreSQL URL; one the hub cannot reach or that is not one stops it at start
 * with the reason (exit 1). */
TD_TEST(serve_refuses_a_database_it_cannot_use)
{
    char out[2048], dir[512];
    scratch(dir, sizeof(dir));
    int rc = hub_sh(out, sizeof(out),
                    "%s serve --data %s --db postgresql://trackday@127.0.0.1:1/hub --listen "
                    "127.0.0.1:0 2>&1",
                    TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "PostgreSQL: cannot connect");
    TD_ASSERT_CONTAINS(out, "Connection refused");
    rc =
        hub_sh(out, sizeof(out), "%s serve --data %s --db mysql://db/hub --listen 127.0.0.1:0 2>&1",
               TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "--db: 'mysql://db/hub' is not a postgresql:// URL");
    /* The environment's URL is used when --db is not given. */
    rc = hub_sh(out, sizeof(out),
                "TRACKDAY_HUB_DB=postgresql://trackday@127.0.0.1:1/hub %s admin migrate --data %s "
                "2>&1",
                TD_TEST_TRACKDAY_BIN, dir);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "PostgreSQL: cannot connect");
    rm_rf(dir);
}

/* Failed logins from one address: 5 with --login-failures 1. Returns the status of the next
 * login (a sixth user name) sent with X-Forwarded-For: next_xff. */
static long failures_then_login(hub_server *s, const char *xff, const char *next_xff)
{
    hub_resp r;
    char hdr[128], body[128];
    snprintf(hdr, sizeof(hdr), "X-Forwarded-For: %s", xff);
    static int calls;
    calls++;
    for (int i = 0; i < 5; i++) {
        /* A new user name each time: the per-name limit (1) stays out of it. */
        snprintf(body, sizeof(body),
                 "{\"username\":\"nobody%d-%d\",\"password\":\"wrong-password\"}", calls, i);
        hub_req_h(s, &r, "POST", "/api/v1/sessions", NULL, "application/json", body, strlen(body),
                  hdr);
        TD_ASSERT_EQ_INT(r.status, 401);
        hub_resp_free(&r);
    }
    snprintf(hdr, sizeof(hdr), "X-Forwarded-For: %s", next_xff);
    const char *b = "{\"username\":\"admin\",\"password\":\"" HUB_ADMIN_PASSWORD "\"}";
    hub_req_h(s, &r, "POST", "/api/v1/sessions", NULL, "application/json", b, strlen(b), hdr);
    long st = r.status;
    hub_resp_free(&r);
    return st;
}

/* Behind a trusted reverse proxy the per-address login limit counts each client (the rightmost
 * address of X-Forwarded-For that is not the proxy), and a client cannot escape it by writing
 * addresses of its own further left; without --trust-proxy the header means nothing. */
TD_TEST(per_address_limits_count_the_client_behind_a_trusted_proxy)
{
    hub_server s;
    hub_start_opts(&s, 0, "--login-failures 1 --trust-proxy 10.9.9.9,127.0.0.1");
    /* 10.0.0.1 is blocked; 10.0.0.2, another client behind the proxy, is not. */
    TD_ASSERT_EQ_INT(failures_then_login(&s, "10.0.0.1", "10.0.0.2"), 201);
    TD_ASSERT_EQ_INT(failures_then_login(&s, "10.0.0.3", "10.0.0.3"), 429);
    TD_ASSERT_EQ_INT(failures_then_login(&s, "10.0.0.4", "10.0.0.2, 10.0.0.4"), 429);
    TD_ASSERT_EQ_INT(failures_then_login(&s, "10.0.0.5", "10.0.0.5, 10.9.9.9"), 429);
    hub_stop(&s);
    /* Not trusted: every request is the proxy's (127.0.0.1), whatever the header says. */
    hub_start_opts(&s, 0, "--login-failures 1");
    TD_ASSERT_EQ_INT(failures_then_login(&s, "10.0.0.1", "10.0.0.2"), 429);
    hub_stop(&s);
}

/* ------------------------------------------------------------------------------------ */
/* Storage use and garbage collection                                                   */
/* ------------------------------------------------------------------------------------ */

static void put_blob(td_hub *h, const char *dir, const char *text, char sha[65], time_t age_s)
{
    char src[700], path[1200];
    td_err err;
    snprintf(src, sizeof(src), "%s/src.txt", dir);
    TD_ASSERT_OK(td_file_write_atomic(src, text, strlen(text), &err));
    TD_ASSERT_OK(td__blob_put_file(h->data_dir, src, sha, NULL, &err));
    if (age_s) {
        struct timeval tv[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
        td__blob_path(h->data_dir, sha, path, sizeof(path));
        TD_ASSERT_EQ_INT(utimes(path, tv), 0);
    }
}

static int blob_exists(td_hub *h, const char *sha)
{
    char path[1200];
    td__blob_path(h->data_dir, sha, path, sizeof(path));
    return td_path_exists(path);
}

/* What an upload does while the collection runs (the hook): stores an old orphan's content
 * again, and a new file. */
typedef struct {
    const char *dir;
    char again[65], fresh[65];
    int calls;
} during_gc;

static void upload_during_gc(td_hub *h, void *arg)
{
    during_gc *d = arg;
    char sha[65];
    d->calls++;
    put_blob(h, d->dir, "orphan X: stored again while the collection runs\n", sha, 0);
    TD_ASSERT_STREQ(sha, d->again);
    put_blob(h, d->dir, "Y: a new file while the collection runs\n", d->fresh, 0);
}

/* The collection deletes the old blobs nothing names, and never one stored while it runs
 * (renewed after it listed it), one an upload in progress wrote, or one a fileset names. */
TD_TEST(gc_never_deletes_a_blob_stored_while_it_runs)
{
    char dir[512], dbt[600], x[65], z[65], w[65], named[65], pin[900];
    td_hub_options o;
    td_hub *h;
    td_err err;
    td__gc_report rep;
    scratch(dir, sizeof(dir));
    td_hub_options_default(&o);
    o.data_dir = dir;
    hub_fresh_db(dir, "hub.db", dbt, sizeof(dbt));
    if (pg_wanted())
        o.db = dbt;
    TD_ASSERT_OK(td_hub_open(&h, &o, &err));
    put_blob(h, dir, "orphan X: stored again while the collection runs\n", x, 7200);
    put_blob(h, dir, "orphan Z: nobody wants it\n", z, 7200);
    /* A file a fileset names (old too). */
    put_blob(h, dir, "named: a fileset names it\n", named, 7200);
    td__fileset fs;
    memset(&fs, 0, sizeof(fs));
    fs.count = 1;
    fs.cap = 1;
    fs.files = td_calloc(1, sizeof(*fs.files));
    snprintf(fs.files[0].path, sizeof(fs.files[0].path), "a.txt");
    snprintf(fs.files[0].sha, sizeof(fs.files[0].sha), "%s", named);
    snprintf(fs.content_sha, sizeof(fs.content_sha), "%s", named);
    td_db_conn *c = td__db_acquire(h->db);
    int64_t fsid = 0;
    TD_ASSERT_OK(td__fileset_insert(h, c, &fs, &fsid, &err));
    /* The collections below use a 0 s age: the fileset (no model version names it) would be
     * collected, and `named` with it, as soon as the clock passes the second it was made in
     * (a loaded machine). Made an hour "younger", it stays for the whole test. */
    TD_ASSERT_OK(td__db_exec(c, &err,
                             "UPDATE filesets SET created_at = created_at + 3600 WHERE "
                             "id = ?",
                             "i", fsid));
    td__db_release(h->db, c);
    td__fileset_free(&fs);

    /* A dry run names X and Z and deletes nothing. */
    td__gc_opts dry = {.dry_run = 1, .older_than_s = 0};
    TD_ASSERT_OK(td__gc(h, &dry, &rep, &err));
    TD_ASSERT_EQ_INT(rep.blobs, 2);
    TD_ASSERT(blob_exists(h, x) && blob_exists(h, z) && blob_exists(h, named));

    /* An upload in progress since 100 s ago holds back what is newer (W, 50 s old). */
    put_blob(h, dir, "W: written by an upload still in progress\n", w, 50);
    snprintf(pin, sizeof(pin), "%s/tmp/upload-%s-PINPIN", dir, td__tmp_tag());
    TD_ASSERT_OK(td_file_write_atomic(pin, "x", 1, &err));
    struct timeval tv[2] = {{time(NULL) - 100, 0}, {time(NULL) - 100, 0}};
    TD_ASSERT_EQ_INT(utimes(pin, tv), 0);

    during_gc d = {.dir = dir};
    snprintf(d.again, sizeof(d.again), "%s", x);
    td__gc_test_hook = upload_during_gc;
    td__gc_test_hook_arg = &d;
    td__gc_opts run = {.dry_run = 0, .older_than_s = 0};
    int rc = td__gc(h, &run, &rep, &err);
    td__gc_test_hook = NULL;
    TD_ASSERT_OK(rc);
    TD_ASSERT_EQ_INT(d.calls, 1);
    TD_ASSERT_MSG(blob_exists(h, x), "a blob stored again during the collection was deleted");
    TD_ASSERT_MSG(blob_exists(h, d.fresh), "a blob stored during the collection was deleted");
    TD_ASSERT_MSG(blob_exists(h, w), "a blob of an upload in progress was deleted");
    TD_ASSERT(blob_exists(h, named));
    TD_ASSERT_MSG(!blob_exists(h, z), "the old orphan stayed");
    TD_ASSERT_EQ_INT(rep.blobs, 1);
    TD_ASSERT_EQ_INT(rep.rescued, 1);
    TD_ASSERT(rep.upload_since > 0);
    TD_ASSERT_STREQ(rep.sample[0], z);

    /* The upload ended: W goes at the next collection (X, renewed, stays until it is old). */
    unlink(pin);
    TD_ASSERT_OK(td__gc(h, &run, &rep, &err));
    TD_ASSERT(!blob_exists(h, w));
    TD_ASSERT(blob_exists(h, x));
    TD_ASSERT_EQ_INT(rep.upload_since, 0);
    td_hub_close(h);
    rm_rf(dir);
}

/* GET /api/v1/admin/storage and POST /api/v1/admin/gc against a real hub: use by user and
 * model, an orphan found, a dry run that deletes nothing, then the run; admins only. */
TD_TEST(admin_storage_and_gc_routes)
{
    hub_server s;
    hub_resp r;
    char alice[160], path[1200], sha[65], out[256];
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long model = hub_push_init(&s, alice, "m1", NULL);
    TD_ASSERT(model > 0);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/admin/storage", s.admin, NULL), 200);
    json_t *blobs = json_object_get(r.json, "blobs");
    long long count = json_integer_value(json_object_get(blobs, "count"));
    TD_ASSERT(count >= 3);
    TD_ASSERT_EQ_INT(
        json_integer_value(json_object_get(json_object_get(r.json, "referenced"), "count")), count);
    TD_ASSERT_EQ_INT(
        json_integer_value(json_object_get(json_object_get(r.json, "orphaned"), "count")), 0);
    json_t *u0 = json_array_get(json_object_get(r.json, "by_user"), 0);
    TD_ASSERT_STREQ(json_string_value(json_object_get(u0, "username")), "alice");
    TD_ASSERT(json_integer_value(json_object_get(u0, "model_bytes")) > 0);
    json_t *m0 = json_array_get(json_object_get(r.json, "by_model"), 0);
    TD_ASSERT_STREQ(json_string_value(json_object_get(m0, "name")), "m1");
    TD_ASSERT_EQ_INT(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(r.json, "by_kind"), "model_versions"), "blobs")),
        count);
    TD_ASSERT(json_integer_value(json_object_get(json_object_get(r.json, "database"), "bytes")) >
              0);
    hub_resp_free(&r);

    /* An orphan two hours old (an upload whose rows were never written). */
    td__sha256_hex("an orphan\n", 10, sha);
    snprintf(path, sizeof(path), "%s/blobs/%.2s", s.data, sha);
    hub_sh(out, sizeof(out),
           "mkdir -p %s && printf 'an orphan\\n' > %s/%s && touch -d '-2 hours' "
           "%s/%s",
           path, path, sha, path, sha);
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", sha);
    TD_ASSERT(td_path_exists(path));
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/admin/storage", s.admin, NULL), 200);
    TD_ASSERT_EQ_INT(
        json_integer_value(json_object_get(json_object_get(r.json, "orphaned"), "count")), 1);
    hub_resp_free(&r);
    /* A dry run by default. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/admin/gc", s.admin, "{}"), 200);
    TD_ASSERT(json_is_true(json_object_get(r.json, "dry_run")));
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "blobs")), 1);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "bytes")), 10);
    TD_ASSERT_STREQ(json_string_value(json_array_get(json_object_get(r.json, "sample"), 0)), sha);
    hub_resp_free(&r);
    TD_ASSERT_MSG(td_path_exists(path), "a dry run deleted the orphan");
    /* Not for learners; a wrong field is named. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/admin/gc", alice, "{}"), 403);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/admin/storage", alice, NULL), 403);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/admin/gc", s.admin, "{\"dry_run\":\"no\"}"),
                     400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "dry_run");
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/admin/gc", s.admin, "{\"dry_run\":false}"),
                     200);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "blobs")), 1);
    hub_resp_free(&r);
    TD_ASSERT_MSG(!td_path_exists(path), "the run left the orphan");
    /* What is referred to is whole: the model still downloads. */
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/1/download", model);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/admin/storage", s.admin, NULL), 200);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "blobs"), "count")),
                     count);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "missing")), 0);
    hub_resp_free(&r);
    hub_stop(&s);
}

/* GET /api/v1/tracks/{name}/camera renders what `trackday camera` renders at the same pose (the
 * replay's camera view); the pose matters; a bad query is named. */
TD_TEST(track_camera_renders_the_pose_like_trackday_camera)
{
    hub_server s;
    hub_resp r;
    char alice[160], out[2048], a[700], b[700];
    td_err err;
    hub_start(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    /* 10 % along the oval: x 1.805, y 0, heading 0 (its first straight). */
    snprintf(b, sizeof(b), "%s/cli.png", s.dir);
    TD_ASSERT_EQ_INT(hub_sh(out, sizeof(out), "%s camera --track oval --at 10 --rgb -o %s",
                            TD_TEST_TRACKDAY_BIN, b),
                     0);
    TD_ASSERT_CONTAINS(out, "x=1.805 y=0.000 heading=0.0");
    uint8_t *px[3];
    int w[3], h[3], ch[3];
    const char *poses[2] = {"x=1.805&y=0&yaw=0", "x=1.805&y=0&yaw=180"};
    for (int k = 0; k < 2; k++) {
        char path[200];
        snprintf(path, sizeof(path), "/api/v1/tracks/oval/camera?%s", poses[k]);
        hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
        TD_ASSERT_EQ_INT(r.status, 200);
        TD_ASSERT_CONTAINS(r.headers, "image/png");
        snprintf(a, sizeof(a), "%s/hub%d.png", s.dir, k);
        TD_ASSERT_OK(td_file_write_atomic(a, r.body, r.len, &err));
        hub_resp_free(&r);
        TD_ASSERT_OK(td_png_read(a, &px[k], &w[k], &h[k], &ch[k], &err));
        TD_ASSERT_EQ_INT(w[k], 160);
        TD_ASSERT_EQ_INT(h[k], 120);
        TD_ASSERT_EQ_INT(ch[k], 3);
    }
    TD_ASSERT_OK(td_png_read(b, &px[2], &w[2], &h[2], &ch[2], &err));
    double same = 0, turned = 0;
    for (int i = 0; i < 160 * 120 * 3; i++) {
        same += abs((int)px[0][i] - (int)px[2][i]);
        turned += abs((int)px[1][i] - (int)px[2][i]);
    }
    same /= 160 * 120 * 3;
    turned /= 160 * 120 * 3;
    TD_ASSERT_MSG(same < 1.0, "the hub's picture differs from trackday camera's by %.2f", same);
    TD_ASSERT_MSG(turned > 5.0, "facing the other way looks the same (%.2f)", turned);
    for (int k = 0; k < 3; k++)
        td_free(px[k]);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/tracks/oval/camera?x=1&yaw=0", alice, NULL),
                     400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "'y'");
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(
        hub_json(&s, &r, "GET", "/api/v1/tracks/nowhere/camera?x=1&y=0&yaw=0", alice, NULL), 404);
    hub_resp_free(&r);
    hub_stop(&s);
}
