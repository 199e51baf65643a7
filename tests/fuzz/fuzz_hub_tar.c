/*
 * fuzz_hub_tar.c - the hub's streaming archive reader (src/hub/tar.h), which reads every
 * uploaded model directory, checkpoint and job result before anything of it is stored: a
 * .tar.gz or plain tar (ustar, GNU long names, pax paths) through td__tar_open, td__tar_next
 * and td__tar_read. What it yields is a file or directory with a clean relative path (the
 * same after td__path_clean again: no "..", no absolute path, no control characters) and
 * exactly as many data bytes as its header says.
 */
#include "fuzz.h"
#include "hub/tar.h"

#define MAX_ENTRIES 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td__tar_reader *r = NULL;
    td_err err;
    td_fuzz_file_open(&f, data, size);
    if (td__tar_open(&r, f.path, &err) == 0) {
        td__tar_entry e;
        int rc, n = 0;
        while (n < MAX_ENTRIES && (rc = td__tar_next(r, &e, &err)) == 1) {
            char again[TD_TAR_PATH_MAX + 16];
            TD_FUZZ_CHECK(td__path_clean(e.path, again, sizeof(again), &err) == 0);
            TD_FUZZ_CHECK(strcmp(again, e.path) == 0);
            TD_FUZZ_CHECK(!e.is_dir || e.size == 0);
            uint64_t got = 0;
            char buf[4096];
            ssize_t k;
            while ((k = td__tar_read(r, buf, sizeof(buf), &err)) > 0)
                got += (uint64_t)k;
            if (k < 0) {
                TD_FUZZ_CHECK(err.msg[0] != '\0');
                break;
            }
            TD_FUZZ_CHECK(got == e.size);
            n++;
        }
        if (n < MAX_ENTRIES && rc < 0)
            TD_FUZZ_CHECK(err.msg[0] != '\0');
        td__tar_close(r);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
