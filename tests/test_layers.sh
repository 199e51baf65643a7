#!/usr/bin/env bash
# Checks the layering of docs/architecture.md: a file in src/<layer>/ may include only
# headers of its own layer and of the layers below it; infer/ includes nothing of trackday
# but itself. Also checks the banned functions of STYLE.md and exit() outside the CLI.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A rank=([core]=0 [track]=1 [sim]=2 [infer]=2 [nn]=3 [reward]=4 [train]=5 [eval]=6
                 [hub]=7 [agent]=8 [cli]=9)
# Public headers and the layer each belongs to.
declare -A header_layer=([core]=core [json]=core [sandbox]=core [crypto]=core [archive]=core [export]=nn [bundle]=eval [summary]=eval [telemetry]=eval [drift]=eval [track]=track [sim]=sim [params]=sim
                         [sensors]=sim [infer]=infer [nn]=nn [reward]=reward [train]=train [modeldir]=train [rl]=train [policy]=train [trainer]=train [import]=train [train_internal]=train [simtrace]=sim
                         [eval]=eval [logs]=eval [explain]=eval [plot]=eval [replay]=eval [race]=eval [agent]=agent [hub]=hub [hubclient]=hub)
fail=0
checked=0
header_layer[calibrate]=sim # include/trackday/calibrate.h (issue 11)
for f in $(find src -name '*.c' -o -name '*.h' | sort); do
    layer=$(echo "$f" | cut -d/ -f2)
    [ -n "${rank[$layer]+x}" ] || { echo "FAIL $f: unknown layer '$layer'"; fail=1; continue; }
    while IFS= read -r inc; do
        checked=$((checked + 1))
        case "$inc" in
        trackday/*)
            h=$(basename "$inc" .h)
            hl=${header_layer[$h]-}
            if [ -z "$hl" ]; then
                echo "FAIL $f: include/$inc has no layer in tests/test_layers.sh"; fail=1; continue
            fi
            ;;
        */*)
            hl=$(echo "$inc" | cut -d/ -f1)
            [ -n "${rank[$hl]+x}" ] || continue
            ;;
        *) continue ;;
        esac
        if [ "$layer" = infer ] && [ "$hl" != infer ]; then
            echo "FAIL $f: infer/ must depend on nothing else of trackday, includes $inc"; fail=1
        elif [ "$hl" = infer ] && [ "$layer" != infer ] && [ "${rank[$layer]}" -lt 3 ]; then
            echo "FAIL $f: layer $layer is below nn and may not use infer ($inc)"; fail=1
        elif [ "$hl" != infer ] && [ "${rank[$hl]}" -gt "${rank[$layer]}" ]; then
            echo "FAIL $f: layer $layer includes $inc of the higher layer $hl"; fail=1
        elif [ "$hl" != "$layer" ] && [ "${rank[$hl]}" -eq "${rank[$layer]}" ] && [ "$hl" != infer ] && [ "$layer" != infer ]; then
            echo "FAIL $f: layer $layer includes $inc of the sibling layer $hl"; fail=1
        fi
    done < <(grep -hoE '^\s*#\s*include\s+"[^"]+"' "$f" | sed -E 's/.*"([^"]+)".*/\1/')
done

banned=$(grep -rnE '\b(sprintf|strcpy|strcat|strtok|gets|atoi|atol)\s*\(' src include examples 2>/dev/null \
         | grep -vE '^\S+:\s*(//|\*)' | grep -v 'snprintf\|vsnprintf')
if [ -n "$banned" ]; then echo "FAIL banned functions (STYLE.md):"; echo "$banned"; fail=1; fi
exits=$(grep -rnE '(^|[^_a-z])exit\s*\(' src | grep -v '^src/cli/')
if [ -n "$exits" ]; then echo "FAIL exit() in library code:"; echo "$exits"; fail=1; fi

echo "checked $checked includes"
if [ "$fail" = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
