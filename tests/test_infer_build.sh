#!/usr/bin/env bash
# test_infer_build.sh - infer/ builds alone as strict C99 with only libc and libm (as for a
# Raspberry Pi or a microcontroller), examples/infer_min.c links with it, and the example
# drives from raw frames on stdin, choosing the same actions as `trackday` would.
# Args: the trackday binary and the build directory; runs from the repository root.
set -euo pipefail
TRACKDAY="$1"
BUILD="$2"
CC="${CC:-cc}"
OUT="$BUILD/infer_build_test"
rm -rf "$OUT"
mkdir -p "$OUT"

fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The runtime alone, strict C99, warnings as errors, no -I, no other library.
for f in src/infer/*.c; do
    "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -c "$f" -o "$OUT/$(basename "$f" .c).o" \
        2> "$OUT/cc.log" || { cat "$OUT/cc.log" >&2; fail "$f does not build alone as C99"; }
done
# The same with clang when it is installed (other compilers see plain C99: no GCC pragmas).
if command -v clang > /dev/null; then
    for f in src/infer/*.c; do
        clang -std=c99 -O2 -Wall -Wextra -Werror -pedantic -c "$f" \
            -o "$OUT/clang-$(basename "$f" .c).o" 2> "$OUT/clang.log" ||
            { cat "$OUT/clang.log" >&2; fail "$f does not build with clang"; }
    done
fi
# No trackday header but its own may be included; besides the C library, only the compiler's
# own intrinsics headers (x86-64, AArch64) and, on Linux AArch64, <sys/auxv.h> for the CPU's
# features.
if grep -n '#include' src/infer/*.c src/infer/*.h include/trackday/infer.h |
    grep -v -E '<(locale|stdarg|stddef|stdint|stdio|stdlib|string|math|immintrin|arm_neon|sys/auxv)\.h>|"(infer_internal|kernels_simd)\.h"|"\.\./\.\./include/trackday/infer\.h"'; then
    fail "src/infer includes something beyond the C library and its own headers"
fi

# 2. The minimal example links against it.
"$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic examples/infer_min.c src/infer/*.c -lm \
    -o "$OUT/infer_min" 2> "$OUT/cc2.log" ||
    { cat "$OUT/cc2.log" >&2; fail "examples/infer_min.c does not build"; }
# Only libc and libm (and the loader) are linked.
if command -v ldd > /dev/null; then
    extra=$(ldd "$OUT/infer_min" | grep -v -E 'linux-vdso|libc\.so|libm\.so|ld-linux|libmvec' || true)
    [ -z "$extra" ] || fail "infer_min links more than libc and libm: $extra"
fi

# 3. It drives: a SHALLOW model from `trackday bench infer --save`, three frames on stdin.
"$TRACKDAY" bench infer --reps 1 --save "$OUT/shallow" > /dev/null
[ -s "$OUT/shallow.fp32.tdm" ] || fail "no model written"
head -c $((160 * 120 * 3)) /dev/urandom > "$OUT/frames.raw"
"$OUT/infer_min" "$OUT/shallow.fp32.tdm" < "$OUT/frames.raw" > "$OUT/actions.txt"
[ "$(wc -l < "$OUT/actions.txt")" -eq 3 ] || fail "expected 3 actions, got: $(cat "$OUT/actions.txt")"
while read -r n idx steer speed; do
    [ "$idx" -ge 0 ] && [ "$idx" -lt 5 ] || fail "frame $n: action index $idx out of range"
done < "$OUT/actions.txt"
# The int8 model drives too.
"$OUT/infer_min" "$OUT/shallow.int8.tdm" < "$OUT/frames.raw" > "$OUT/actions8.txt"
[ "$(wc -l < "$OUT/actions8.txt")" -eq 3 ] || fail "int8 model: expected 3 actions"
# A broken file is refused with a message and exit status 1.
head -c 1000 "$OUT/shallow.fp32.tdm" > "$OUT/broken.tdm"
if "$OUT/infer_min" "$OUT/broken.tdm" < /dev/null 2> "$OUT/err.txt"; then
    fail "a truncated model was accepted"
fi
grep -q "truncated" "$OUT/err.txt" || fail "no 'truncated' message: $(cat "$OUT/err.txt")"

# 4. `trackday model show` on both files.
"$TRACKDAY" model show "$OUT/shallow.int8.tdm" > "$OUT/show.txt"
grep -q "int8" "$OUT/show.txt" || fail "model show does not say int8"
grep -q "camera \[32,8,4\] \[64,4,2\] \[64,3,1\]" "$OUT/show.txt" || fail "model show topology"
"$TRACKDAY" model show --json "$OUT/shallow.fp32.tdm" > "$OUT/show.json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); \
assert d['dtype']=='f32' and d['towers'][0]['params']==5842085, d" "$OUT/show.json" ||
    fail "model show --json"

# 5. `trackday quantize` on random frames writes a loadable int8 model.
"$TRACKDAY" quantize "$OUT/shallow.fp32.tdm" --calibrate 8 --random -o "$OUT/q.tdm" > "$OUT/q.txt"
grep -q "random:8" "$OUT/q.txt" || fail "quantize output: $(cat "$OUT/q.txt")"
"$OUT/infer_min" "$OUT/q.tdm" < "$OUT/frames.raw" | wc -l | grep -q 3 || fail "quantized model"

# 6. Threads loading their first models at once do not race on the CRC table (helgrind sees
#    the data race of a table built on first use).
cat > "$OUT/crc_threads.c" <<'C'
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "trackday/infer.h"
static uint32_t got[4];
static void *run(void *arg)
{
    int i = (int)(intptr_t)arg;
    got[i] = td_infer_crc32(0, "123456789", 9);
    return NULL;
}
int main(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, run, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        if (got[i] != 0xCBF43926u)
            return printf("thread %d: crc %08x\n", i, (unsigned)got[i]), 1;
    return 0;
}
C
"$CC" -std=c99 -g -O1 -Iinclude "$OUT/crc_threads.c" src/infer/*.c -lm -lpthread \
    -o "$OUT/crc_threads" || fail "crc_threads does not build"
command -v valgrind > /dev/null || fail "valgrind is missing (scripts/install-deps installs it)"
valgrind --tool=helgrind --error-exitcode=3 -q "$OUT/crc_threads" 2> "$OUT/helgrind.txt" ||
    { head -30 "$OUT/helgrind.txt" >&2; fail "threads computing a first CRC race (helgrind)"; }
echo "PASS test_infer_build"
