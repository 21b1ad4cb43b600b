#!/usr/bin/env bash
# bench/verify.sh [--scale F] [--runs N] [PROFILE...]     (default profiles: mixed small large)
#
# Times `handover verify` (streaming, nothing written) and `handover verify --extract` against
# the standard tools' way of checking the same archive, in one run on the same machine:
#   age -d -i KEY A | zstd -d | tar -C DIR -xf -   then   sha256sum -c --quiet SHA256SUMS
# and prints wall seconds, the ratios, and peak RSS (GNU /usr/bin/time). Only ratios are
# meaningful on a shared 2-core machine. Each measurement runs RUNS times (default 2: the
# first warms the page cache); the last run is reported. `sync` runs before every timed run.
#
# Corpora come from ../shared/bench/make-corpus (override with MAKE_CORPUS=...) and are kept
# in WORK (default target/bench-verify) between runs. HANDOVER=BINARY times that binary
# instead of building this tree (to compare two builds in one session). Targets (issue 3): verify <= 0.4x on
# mixed, <= 0.1x on small, --extract <= 0.8x; peak RSS <= 128 MiB on mixed and large.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=1
RUNS=2
PROFILES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) PROFILES+=("$1"); shift ;;
    esac
done
[ ${#PROFILES[@]} -gt 0 ] || PROFILES=(mixed small large)
MAKE_CORPUS=${MAKE_CORPUS:-$(pwd)/../shared/bench/make-corpus}
WORK=${WORK:-target/bench-verify}
for t in age zstd tar sha256sum /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "bench/verify.sh: $t is required" >&2; exit 2; }
done

if [ -z "${HANDOVER:-}" ]; then
    cargo build --release -q
    HANDOVER=$(pwd)/target/release/handover
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
HOME_DIR="$WORK/home"
if [ ! -f "$WORK/keys/handover.key" ]; then
    mkdir -p "$WORK/keys"
    "$HANDOVER" --home "$HOME_DIR" keygen --no-password --out "$WORK/keys" >/dev/null 2>&1
    "$HANDOVER" --home "$HOME_DIR" keygen --age --out "$WORK/keys" >/dev/null 2>&1
fi
KEY="$WORK/keys/age.key"
RCP=$(grep -o 'age1[0-9a-z]*' "$KEY" | head -1)

# Extraction targets are never deleted between timed runs: right after `rm -rf` of many
# files, ext4 spends most of each file creation skipping recently deleted inodes
# (find_inode_bit → recently_deleted, seen with perf), which made whichever command ran next
# 5–50× slower. Every run extracts into a new directory; all are removed at the end.
SEQ=0
# run NAME CMD: times CMD RUNS times, sets SECS and RSS_MIB of the last. Before each run XD
# is set to a new, not yet existing directory, and SETUP runs.
run() {
    local name=$1 cmd=$2 setup=${3:-true} i
    for ((i = 1; i <= RUNS; i++)); do
        SEQ=$((SEQ + 1))
        export XD="$WORK/x/$SEQ"
        bash -c "$setup"
        sync
        /usr/bin/time -o "$WORK/.time" -f '%e %M' bash -c "set -o pipefail; $cmd" \
            || { echo "$name FAILED" >&2; exit 1; }
    done
    read -r SECS RSS_KB < "$WORK/.time"
    RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
}

printf '# %s  cpus=%s  scale=%s  runs=%s (last reported)\n' "$(date -u +%FT%TZ)" "$(nproc)" "$SCALE" "$RUNS"
printf '%-7s %10s %10s %10s %8s %8s %12s %12s\n' profile tools_s verify_s extract_s verify_x extract_x verify_rss extract_rss
for p in "${PROFILES[@]}"; do
    CORPUS="$WORK/corpus-$p-$SCALE"
    if [ ! -d "$CORPUS" ]; then
        python3 "$MAKE_CORPUS" "$p" "$CORPUS" --scale "$SCALE" >/dev/null
    fi
    NAME="bench-$p-${SCALE//./_}"
    A="$WORK/out/$NAME.tar.zst.age"
    if [ ! -f "$A" ]; then
        "$HANDOVER" --home "$HOME_DIR" -q export "$CORPUS" --client bench --name "$NAME" \
            -r "$RCP" --sign-key "$WORK/keys/handover.key" --out "$WORK/out" >/dev/null 2>&1 \
            || { echo "bench/verify.sh: export of $CORPUS failed" >&2; exit 1; }
    fi
    export A KEY NAME HANDOVER WORK
    run tools 'age -d -i "$KEY" "$A" | zstd -dq | tar -C "$XD" -xf - && cd "$XD/$NAME" && sha256sum -c --quiet SHA256SUMS' \
        'mkdir -p "$XD"'
    T=$SECS
    run verify '"$HANDOVER" -q verify "$A" -i "$KEY" --signer "$WORK/keys/handover.pub" >/dev/null 2>&1'
    V=$SECS VR=$RSS_MIB
    run extract '"$HANDOVER" -q verify "$A" -i "$KEY" --signer "$WORK/keys/handover.pub" --extract "$XD" >/dev/null 2>&1' \
        'mkdir -p "$(dirname "$XD")"'
    E=$SECS ER=$RSS_MIB
    awk -v p="$p" -v t="$T" -v v="$V" -v e="$E" -v vr="$VR" -v er="$ER" 'BEGIN {
        printf "%-7s %10.3f %10.3f %10.3f %7.2fx %7.2fx %9.1fMiB %9.1fMiB\n", p, t, v, e, v / t, e / t, vr, er }'
done
rm -f "$WORK/.time"
rm -rf "$WORK/x"   # a next run within ~5 min creates files slower (see above): wait before it
