#!/usr/bin/env bash
# Benchmark (not a test): `handover shred` against GNU `shred -n 1 -u` applied to every file, on
# copies of the same corpus trees, in one run. Prints wall times and the ratio per profile.
#
#   bench/shred.sh [--scale F] [--keep] [PROFILE...]     (profiles: mixed small; default both)
#
# Each profile is generated once with /work/shared/bench/make-corpus (or $MAKE_CORPUS), copied
# twice, synced (so writeback of the copies does not land inside a timed run), then deleted by
# each tool. GNU shred leaves directories behind; `rm -rf` of the emptied tree is timed with it.
# handover also reads every overwritten byte back from the device and writes a certificate.
# Targets (issue 4): <= 2x shred on mixed, <= 1x on small. Only ratios from one run mean
# anything on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
keep=0
profiles=()
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) profiles+=("$1"); shift ;;
    esac
done
[ ${#profiles[@]} -gt 0 ] || profiles=(mixed small)
make_corpus=${MAKE_CORPUS:-/work/shared/bench/make-corpus}

cargo build --release -q
bin=$PWD/target/release/handover
work=$(mktemp -d "${BENCH_DIR:-$PWD/target}/shred-bench.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
home=$work/home
HANDOVER_HOME=$home "$bin" keygen --no-password >/dev/null 2>&1

now() { date +%s.%N; }
echo "filesystem of $work: $(stat -f -c %T "$work")"
printf '%-8s %8s %10s %12s %12s %8s\n' profile files bytes "shred -n1 -u" handover ratio
for p in "${profiles[@]}"; do
    src=$work/src-$p
    "$make_corpus" "$p" "$src" --scale "$scale" >/dev/null
    files=$(find "$src" -type f | wc -l)
    bytes=$(find "$src" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    cp -a "$src" "$work/gnu-$p"
    cp -a "$src" "$work/ho-$p"
    rm -rf "$src"
    sync

    t0=$(now)
    find "$work/gnu-$p" -type f -exec shred -n 1 -u {} +
    rm -rf "$work/gnu-$p"
    t1=$(now)
    sync

    t2=$(now)
    HANDOVER_HOME=$home "$bin" --quiet shred --yes --out "$work/certs" "$work/ho-$p" 2>/dev/null
    t3=$(now)
    [ ! -e "$work/ho-$p" ] || { echo "handover left $work/ho-$p behind" >&2; exit 1; }

    gnu=$(echo "$t1 - $t0" | bc -l)
    ho=$(echo "$t3 - $t2" | bc -l)
    printf '%-8s %8d %10d %11.2fs %11.2fs %7.2fx\n' "$p" "$files" "$bytes" "$gnu" "$ho" \
        "$(echo "$ho / $gnu" | bc -l)"
done
