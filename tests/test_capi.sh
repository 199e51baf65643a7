#!/usr/bin/env bash
# libtrackday as a user of the C library meets it (docs/c-api.md): `cmake --install` into a
# fresh prefix (what `make install PREFIX=...` runs), then the doc's example program built
# against the INSTALLED library with pkg-config, and run. Also: the soname, only public
# symbols exported, only include/trackday/ installed and no jansson types in it, no libpython
# in the library, SIGPIPE left alone, and a Python reward function run through the
# installed library's sandboxed host. Args: the trackday binary, the build directory.
set -u  # (no pipefail: grep -q may close a pipe early)
bin=$(realpath "${1:?trackday binary}")
build=$(realpath "${2:?build directory}")
src=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() { # status, name, message (the status first: a message's $(...) would reset $?)
    local st=$1
    shift
    if [ "$st" -eq 0 ]; then echo "PASS $1"; pass=$((pass + 1)); else echo "FAIL $1: $2"; fail=$((fail + 1)); fi
}
prefix=$tmp/prefix
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
san=()
if grep -q '^TD_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
    san=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi

# 1. install
out=$(cmake --install "$build" --prefix "$prefix" 2>&1); rc=$?
check $rc install "rc $rc: $out"
lib=$prefix/lib/libtrackday.so.0
[ -f "$lib" ] && [ -L "$prefix/lib/libtrackday.so" ] && [ -x "$prefix/bin/trackday" ] &&
    [ -f "$prefix/share/trackday/tracks/oval.json" ] && [ -f "$prefix/lib/pkgconfig/trackday.pc" ]
check $? installed_files "$(find "$prefix" -type f -o -type l | sort)"

# 2. the soname and the exports: public names only, versioned, no libpython.
soname=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libtrackday.so.0 ]
check $? soname "soname '$soname'"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}')
bad=$(echo "$syms" | grep -vE '^(td_[a-z0-9_]+|td__err_vformat|TRACKDAY_0)(@@TRACKDAY_0)?$' | head -5)
[ -z "$bad" ] && grep -q <<<"$syms" '^td_vecenv_step@@TRACKDAY_0$' &&
    grep -q <<<"$syms" '^td_infer_run@@TRACKDAY_0$'
check $? only_public_symbols "unexpected exports: $bad"
# Internal names exist in the static library but are local in the shared one.
nm "$build/libtrackday.a" > "$tmp/archive.nm" 2>/dev/null
grep -q ' T td__py_embedded$' "$tmp/archive.nm" &&
    ! grep -q <<<"$syms" '^td__py_embedded'
check $? internal_symbols_hidden "td__py_embedded exported or absent from the archive"
! readelf -d "$lib" | grep -q 'libpython'
check $? no_libpython "$(readelf -d "$lib" | grep NEEDED)"

# 3. headers: only include/trackday, no jansson types, each compiles alone.
others=$(find "$prefix/include" -type f ! -path "$prefix/include/trackday/*.h")
[ -z "$others" ] && [ "$(ls "$prefix/include/trackday" | wc -l)" -ge 7 ]
check $? headers_only_trackday "$others"
! grep -l 'json_t\|jansson' "$prefix"/include/trackday/*.h
check $? headers_no_jansson "$(grep -l 'json_t\|jansson' "$prefix"/include/trackday/*.h)"
hfail=""
for h in "$prefix"/include/trackday/*.h; do
    printf '#include <trackday/%s>\nint main(void) { return 0; }\n' "$(basename "$h")" > "$tmp/h.c"
    "$cc" -std=c17 -Wall -Wextra -Werror -I"$prefix/include" -c "$tmp/h.c" -o "$tmp/h.o" 2>>"$tmp/h.err" ||
        hfail="$hfail $(basename "$h")"
done
[ -z "$hfail" ]
check $? headers_compile_alone "$hfail: $(head -5 "$tmp/h.err")"

# 4. the doc's example, built with pkg-config against the installed library.
awk '/^```c$/{on=1; next} /^```$/{on=0} on' "$src/docs/c-api.md" > "$tmp/vecenv_demo.c"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs trackday 2>&1); rc=$?
grep -q <<<"$flags" -- "-I$prefix/include" || grep -q <<<"$flags" -- "-I.*prefix/lib/pkgconfig/../../include"
check $((rc || $?)) pkg_config "rc $rc: $flags"
out=$("$cc" -std=c17 -Wall -Wextra -Werror "${san[@]}" "$tmp/vecenv_demo.c" $flags \
    -Wl,-rpath,"$prefix/lib" -o "$tmp/vecenv_demo" 2>&1); rc=$?
check $rc example_builds "rc $rc: $out"
ldd "$tmp/vecenv_demo" | grep -q "$prefix/lib/libtrackday.so.0"
check $? example_uses_installed_library "$(ldd "$tmp/vecenv_demo" | grep trackday)"
out=$("$tmp/vecenv_demo" "$prefix/share/trackday/tracks/oval.json" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -qE <<<"$out" '^mean reward per car-step 0\.[0-9]+, episodes ended [0-9]+, car 0 progress'
check $? example_runs "rc $rc: $out"
# Loading the library never turns the caller into trackday's reward host (the command's job).
out=$(TD_SANDBOX_ENTRY=reward-host "$tmp/vecenv_demo" "$prefix/share/trackday/tracks/oval.json" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -qE <<<"$out" '^mean reward per car-step 0\.[0-9]+'
check $? library_is_never_the_reward_host "rc $rc: $out"
out=$("$tmp/vecenv_demo" "$tmp/nope.json" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "^track: .*nope.json"
check $? example_error_message "rc $rc: $out"

# The installed command finds the installed tracks (PREFIX/share/trackday/tracks).
cp "$prefix/share/trackday/tracks/oval.json" "$prefix/share/trackday/tracks/installed_only.json"
out=$(cd "$tmp" && echo "0 0 0" | "$prefix/bin/trackday" probe --track installed_only 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q <<<"$out" '"track_length"'
check $? installed_command_finds_installed_tracks "rc $rc: $out"

# The installed Python package: imports from PREFIX (no build tree on its path), finds the
# installed tracks and the installed library (its RPATH), steps.
pyenv=(PYTHONPATH="$prefix/lib/python3.11/dist-packages")
if [ ${#san[@]} -gt 0 ]; then # the sanitizer runtime first (tests/test_python.sh)
    if "$cc" --version | grep -q clang; then
        pyenv+=(LD_PRELOAD="$("$cc" -print-runtime-dir)/libclang_rt.asan-x86_64.so")
    else
        pyenv+=(LD_PRELOAD="$("$cc" -print-file-name=libasan.so)")
    fi
    pyenv+=(ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0)
fi
out=$(cd "$tmp" && env "${pyenv[@]}" /usr/bin/python3 -c '
import trackday, numpy as np
env = trackday.VecEnv("installed_only", 4, seed=1)
obs, _ = env.reset()
for t in range(10):
    obs, r, term, trunc, info = env.step(np.tile([[0.0, 1.0]], (4, 1)).astype(np.float32))
lib = [l.split()[-1] for l in open("/proc/self/maps") if "libtrackday.so" in l][0]
print(trackday.__file__, obs.shape, env.track.path, lib)
' 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "$prefix/lib/python3.11/dist-packages/trackday/__init__.py (4, 16) $prefix/share/trackday/tracks/installed_only.json $prefix/lib/libtrackday.so.0.1.0" ]
check $? installed_python_package "rc $rc: $out"

# 5. signals stay the caller's, and a Python reward runs in the installed host.
cat > "$tmp/reward_function.py" <<'PY'
def reward_function(params):
    return 2.0 if params['all_wheels_on_track'] else 0.5
PY
cat > "$tmp/py_reward.c" <<'C'
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <trackday/reward.h>
#include <trackday/sim.h>

int main(int argc, char **argv)
{
    struct sigaction before, after;
    sigaction(SIGPIPE, NULL, &before);
    td_err err = {0};
    td_track track;
    td_reward *r = NULL;
    if (td_track_load(&track, argv[1], &err))
        return 1;
    if (td_reward_open(&r, argv[2], &track, &err)) {
        printf("error: %s\n", err.msg);
        td_track_free(&track);
        return 1;
    }
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    td_vecenv env;
    td_vecenv_buffers b;
    if (td_vecenv_init(&env, &cfg, &track, 3, &err) || td_vecenv_buffers_init(&b, &env, &err)) {
        printf("error: %s\n", err.msg);
        return 1;
    }
    env.reward_fn = td_reward_batch_cb;
    env.reward_user = r;
    td_vecenv_reset(&env);
    double sum = 0;
    for (int t = 0; t < 5; t++) {
        for (int i = 0; i < 6; i++)
            b.actions[i] = i % 2 ? 1.0f : 0.0f;
        td_vecenv_step(&env);
        for (int i = 0; i < 3; i++)
            sum += b.rewards[i];
    }
    sigaction(SIGPIPE, NULL, &after);
    printf("python %d failed %d sum %.1f sigpipe %s\n", td_reward_python_available(),
           td_reward_failed(r), sum, before.sa_handler == after.sa_handler ? "unchanged" : "CHANGED");
    td_reward_close(r);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    td_track_free(&track);
    return 0;
}
C
out=$("$cc" -std=c17 -Wall -Werror "${san[@]}" "$tmp/py_reward.c" $flags -Wl,-rpath,"$prefix/lib" \
    -o "$tmp/py_reward" 2>&1); rc=$?
check $rc python_reward_program_builds "rc $rc: $out"
# 5 steps x 3 cars, the first step of each episode a prepare step (reward 0): 4 x 3 x 2.0.
out=$(env -u TRACKDAY_REWARD_HOST "$tmp/py_reward" "$prefix/share/trackday/tracks/oval.json" \
    "$tmp/reward_function.py" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "python 1 failed 0 sum 24.0 sigpipe unchanged" ]
check $? python_reward_in_installed_host "rc $rc: $out"
# Without a host program, a clear error (not a crash, not an in-process interpreter).
mv "$prefix/bin/trackday" "$prefix/bin/trackday.off"
out=$(env -u TRACKDAY_REWARD_HOST "$tmp/py_reward" "$prefix/share/trackday/tracks/oval.json" \
    "$tmp/reward_function.py" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "set TRACKDAY_REWARD_HOST to the trackday executable"
check $? python_reward_without_host "rc $rc: $out"
out=$(TRACKDAY_REWARD_HOST=$prefix/bin/trackday.off "$tmp/py_reward" \
    "$prefix/share/trackday/tracks/oval.json" "$tmp/reward_function.py" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "python 1 failed 0 sum 24.0 sigpipe unchanged" ]
check $? python_reward_host_from_env "rc $rc: $out"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
