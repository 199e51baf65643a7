#!/usr/bin/env bash
# test_infer_aarch64.sh - the device runtime (infer/) on a Raspberry Pi class CPU: built alone
# for AArch64 with the cross compiler (strict C99, static), its own tests
# (tests/infer_selftest.c) run under qemu-aarch64 as a Cortex-A72 (Pi 4: NEON, no dot
# product) and a Cortex-A76 (Pi 5: NEON with SDOT), and the outputs of a SHALLOW model in
# fp32 and int8 on the emulated ARM compared with this machine's. The same self-test runs
# natively for every x86-64 instruction set this CPU has.
# Args: the trackday binary and the build directory; runs from the repository root.
set -uo pipefail
TRACKDAY="$1"
BUILD="$2"
OUT="$BUILD/infer_aarch64_test"
rm -rf "$OUT"
mkdir -p "$OUT"
fail=0
pass=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; pass=$((pass + 1)); else echo "FAIL $1: $2"; fail=1; fi
}
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
    if ! command -v "$tool" > /dev/null; then
        echo "FAIL $tool is not installed (scripts/install-deps installs gcc-aarch64-linux-gnu,"
        echo "     libc6-dev-arm64-cross and qemu-user)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
FLAGS="-std=c99 -O2 -Wall -Wextra -Werror -pedantic"

# 1. Natively: every instruction set of this CPU against the reference kernels.
cc $FLAGS tests/infer_selftest.c src/infer/*.c -lm -o "$OUT/selftest" 2> "$OUT/cc.log"
ok=$?
check native_build "$(cat "$OUT/cc.log")" $ok
out=$("$OUT/selftest" --kernels 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
check native_kernels "rc $rc" $rc

# 2. For AArch64: infer/ alone, static, strict C99, warnings as errors.
aarch64-linux-gnu-gcc $FLAGS -static tests/infer_selftest.c src/infer/*.c -lm \
    -o "$OUT/selftest_arm" 2> "$OUT/cross.log"
ok=$?
check cross_build "$(cat "$OUT/cross.log")" $ok
# ELF e_machine (offset 18) 183 = EM_AARCH64
machine=$(od -An -tu2 -j18 -N2 "$OUT/selftest_arm" | tr -d ' ')
[ "$machine" = 183 ]
check cross_binary_is_aarch64 "ELF machine $machine, not 183 (AArch64)" $?

# 3. Under qemu: a Cortex-A72 has NEON but no dot product, a Cortex-A76 has both; each
#    instruction set equals the reference kernels (int8 bit for bit).
out=$(qemu-aarch64 -cpu cortex-a72 "$OUT/selftest_arm" --kernels 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
grep -q <<<"$out" "^instruction sets here: generic neon (best neon)$" &&
    grep -q <<<"$out" "^PASS isa neon: int8 equals the reference bit for bit$"
check qemu_cortex_a72 "rc $rc" $(( rc || $? ))
out=$(qemu-aarch64 -cpu cortex-a76 "$OUT/selftest_arm" --kernels 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
grep -q <<<"$out" "^instruction sets here: generic neon neon-dotprod (best neon-dotprod)$" &&
    grep -q <<<"$out" "^PASS isa neon-dotprod: int8 equals the reference bit for bit$"
check qemu_cortex_a76 "rc $rc" $(( rc || $? ))

# 4. A SHALLOW model (random weights), fp32 and int8: the emulated ARM gives this machine's
#    outputs on the same frames.
"$TRACKDAY" bench infer --reps 1 --save "$OUT/shallow" > /dev/null
head -c $((160 * 120 * 4)) /dev/urandom > "$OUT/frames.raw"
for kind in fp32 int8; do
    "$OUT/selftest" --expect "$OUT/shallow.$kind.tdm" "$OUT/frames.raw" > "$OUT/expect.$kind" \
        2> /dev/null
    out=$(qemu-aarch64 -cpu cortex-a76 "$OUT/selftest_arm" --compare "$OUT/shallow.$kind.tdm" \
        "$OUT/frames.raw" "$OUT/expect.$kind" 2>&1)
    rc=$?
    echo "$out" | sed 's/^/    /'
    [ "$(echo "$out" | grep -c '^PASS .*isa neon')" -eq 2 ]
    check "qemu_shallow_$kind" "rc $rc" $(( rc || $? ))
done

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
