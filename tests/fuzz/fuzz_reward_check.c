/*
 * fuzz_reward_check.c - `trackday reward check`'s static checker (td_reward_check_source):
 * any bytes as a reward_function.py. It parses with Python's ast module in the embedded
 * interpreter; the check must report (or refuse the file), never crash or hang.
 */
#include "fuzz.h"
#include "trackday/reward.h"

#ifdef TD_HAVE_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#endif

/*
 * `reward check` parses in a sandboxed reward process by default; here the checker runs in
 * this process (TRACKDAY_SANDBOX=none), where libFuzzer sees its coverage and the
 * sanitizers its memory, and where a thousand inputs cost less than one process start each.
 * Python's own small-object allocator keeps objects in arenas that LeakSanitizer does not
 * scan, so everything they point to would look leaked: pre-initialize with plain malloc
 * (the library's later initialization keeps this allocator).
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TRACKDAY_SANDBOX", "none", 1);
#ifdef TD_HAVE_PYTHON
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "fuzz_reward_check: Python pre-initialization failed\n");
        abort();
    }
#endif
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_reward_issue *issues = NULL;
    int n = 0;
    td_err err;
    if (td_reward_check_source(f.path, &issues, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            TD_FUZZ_CHECK(issues[i].severity == TD_REWARD_WARNING ||
                          issues[i].severity == TD_REWARD_ERROR);
            TD_FUZZ_CHECK(memchr(issues[i].message, 0, sizeof(issues[i].message)) != NULL);
        }
        td_free(issues);
    } else {
        TD_FUZZ_CHECK(issues == NULL && err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
