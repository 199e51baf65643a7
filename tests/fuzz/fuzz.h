/*
 * fuzz.h - helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c, docs/fuzzing.md).
 *
 * Each target defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). Built
 * with clang and -fsanitize=fuzzer it is a libFuzzer binary (`make fuzz`); built with any
 * compiler and replay_main.c it runs the files it is given once each, which is how
 * `make test` replays every committed seed and regression input under ASan and UBSan.
 *
 * The readers under test take paths, so an input is handed over as an anonymous in-memory
 * file (memfd) named /proc/self/fd/N: no disk writes, and the same code path as a real file.
 */
#ifndef TD_FUZZ_H
#define TD_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trackday/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding: the harness itself prints why and aborts, so libFuzzer saves the input. */
#define TD_FUZZ_CHECK(cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An in-memory file holding data; path is "/proc/self/fd/N". */
typedef struct td_fuzz_file {
    int fd;
    char path[64];
} td_fuzz_file;

static inline void td_fuzz_file_open(td_fuzz_file *f, const void *data, size_t size)
{
    f->fd = memfd_create("td_fuzz", MFD_CLOEXEC);
    TD_FUZZ_CHECK(f->fd >= 0);
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(f->fd, p, left);
        TD_FUZZ_CHECK(w > 0);
        p += w;
        left -= (size_t)w;
    }
    snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

static inline void td_fuzz_file_close(td_fuzz_file *f)
{
    close(f->fd);
    f->fd = -1;
}

/* Every allocation a reader makes is freed again, whatever the input (its own leak check:
 * ASan's leak checker does not see td_malloc's counters). */
#define TD_FUZZ_BEGIN() long td__fuzz_live0 = td_alloc_live()
#define TD_FUZZ_END()   TD_FUZZ_CHECK(td_alloc_live() == td__fuzz_live0)

/* A private scratch directory under $TMPDIR, made once per process. */
static inline const char *td_fuzz_scratch_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/td_fuzz_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        TD_FUZZ_CHECK(mkdtemp(dir) != NULL);
    }
    return dir;
}

/* Removes a directory tree made by a target (only plain files and directories). */
int td_fuzz_rm_tree(const char *path);

#endif
