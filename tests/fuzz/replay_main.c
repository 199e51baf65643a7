/*
 * replay_main.c - a main() for a fuzz target built without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line (a directory stands
 * for the files in it). `make test` builds each target this way in the sanitizer build and
 * replays the committed seeds and regression inputs (tests/test_fuzz_corpus.sh).
 *
 *   replay_track_npy tests/fuzz/corpus/track_npy tests/fuzz/regress/track_npy
 */
#include <dirent.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
    char *data;
    size_t len;
    td_err err;
    if (td_file_read(path, &data, &len, &err) != 0) {
        fprintf(stderr, "replay: %s\n", err.msg);
        return -1;
    }
    /* An exact-size copy, so ASan sees a read one byte past the input. */
    uint8_t *copy = malloc(len ? len : 1);
    TD_FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, len);
    td_free(data);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int n = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] == '-')
            continue; /* a libFuzzer flag (a target may add some in LLVMFuzzerInitialize) */
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) != 0;
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        char **names = NULL;
        int nn = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            names = realloc(names, sizeof(char *) * (size_t)(nn + 1));
            TD_FUZZ_CHECK(names != NULL);
            names[nn] = malloc(strlen(argv[i]) + strlen(de->d_name) + 2);
            TD_FUZZ_CHECK(names[nn] != NULL);
            snprintf(names[nn], strlen(argv[i]) + strlen(de->d_name) + 2, "%s/%s", argv[i],
                     de->d_name);
            nn++;
        }
        closedir(d);
        if (nn > 1)
            qsort(names, (size_t)nn, sizeof(char *), cmp_str);
        for (int k = 0; k < nn; k++) {
            failed |= replay_file(names[k]) != 0;
            n++;
            free(names[k]);
        }
        free(names);
    }
    printf("%s: %d inputs replayed\n", argv[0], n);
    return failed ? 1 : 0;
}
