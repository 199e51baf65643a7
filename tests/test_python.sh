#!/usr/bin/env bash
# The Python package (tests/python/test_trackday.py, docs/python.md) with Debian's
# /usr/bin/python3 and the build tree's trackday package (build/python). In a sanitizer build
# the extension and libtrackday.so are instrumented while python3 is not: the sanitizer
# runtime is preloaded (it must come first), and LeakSanitizer is off for the interpreter,
# whose own allocations live until exit; trackday's allocations are checked by the test
# itself (td_alloc_live back to its start after del and gc). Args: the trackday binary, the
# build directory.
set -uo pipefail
build=$(realpath "${2:?build directory}")
py=/usr/bin/python3
if ! ls "$build"/python/trackday/_trackday.*.so >/dev/null 2>&1; then
    echo "SKIP test_python: no Python package in $build (configured with -DTD_WITH_PYTHON=OFF)"
    exit 77
fi
if grep -q '^TD_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
    cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
    rt=""
    if "$cc" --version | grep -q clang; then
        rt="$("$cc" -print-runtime-dir)/libclang_rt.asan-x86_64.so"
        [ -f "$rt" ] || rt=$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)
    else
        rt=$("$cc" -print-file-name=libasan.so)
    fi
    if [ ! -f "$rt" ]; then
        echo "FAIL: no sanitizer runtime to preload ($rt)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    export LD_PRELOAD=$rt
    export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
fi
exec "$py" tests/python/test_trackday.py "$build"
