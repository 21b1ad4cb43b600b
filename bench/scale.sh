#!/usr/bin/env bash
# bench/scale.sh [SCALE...]     (default: 1 10, i.e. 100,000 and 1,000,000 small files)
#
# Export and verify at a million files (issue 12, "Scale"), against the standard tools in
# the same run, with the peak RSS of each (GNU /usr/bin/time %M; for a pipeline, its largest
# process). Per SCALE, on a `make-corpus small --scale SCALE` tree, every command once
# (RUNS=N for more; the last is reported), `sync` before each:
#   export    handover export                    vs  tar | zstd -T0 -3 | age  +  find | xargs sha256sum
#   verify    handover verify (streams, writes nothing)
#   list      handover verify --list > /dev/null (the listing goes through a temporary file)
#   json      handover --json verify --list > /dev/null
#   extract   handover verify --extract DIR      vs  age -d | zstd -d | tar -x  +  sha256sum -c
# verify, list and json are compared with the tools' extract + check too (what a client
# without handover runs to check an archive). Targets: verify peak RSS < 128 MiB at 1,000,000
# files, and export peak RSS flat from 100,000 to 1,000,000. Only same-run ratios mean
# anything on a shared machine.
#
# Environment: WORK=target/bench-scale (outputs; extractions, removed at the end),
# CORPORA=WORK (where corpus-small-SCALE is made once and kept), RUNS=1,
# MAKE_CORPUS=../shared/bench/make-corpus.
# Disk: about 3 GiB per 1,000,000 files (corpus, archive, one extraction at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

case "${1:-}" in -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
SCALES=("$@")
[ ${#SCALES[@]} -gt 0 ] || SCALES=(1 10)
RUNS=${RUNS:-1}
MAKE_CORPUS=${MAKE_CORPUS:-$ROOT/../shared/bench/make-corpus}
WORK=${WORK:-target/bench-scale}
for t in age age-keygen zstd tar sha256sum find xargs python3 /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "bench/scale.sh: $t is required" >&2; exit 2; }
done
[ -x "$MAKE_CORPUS" ] || { echo "bench/scale.sh: no $MAKE_CORPUS (set MAKE_CORPUS)" >&2; exit 2; }

cargo build --release -q
HANDOVER=$ROOT/target/release/handover
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
CORPORA=${CORPORA:-$WORK}
if [ ! -f "$WORK/keys/handover.key" ]; then
    mkdir -p "$WORK/keys"
    "$HANDOVER" --home "$WORK/home" keygen --no-password --out "$WORK/keys" >/dev/null 2>&1
    age-keygen -o "$WORK/keys/age.key" 2>/dev/null
fi
KEY=$WORK/keys/age.key
RCP=$(age-keygen -y "$KEY")
export HANDOVER KEY RCP WORK

# run NAME CMD [SETUP]: runs CMD (bash, pipefail) RUNS times after SETUP and a sync; sets SECS
# and MIB (peak RSS) of the last run. XD is a new path for an extraction.
SEQ=0
run() {
    local name=$1 cmd=$2 setup=${3:-true} i t0 t1
    for ((i = 1; i <= RUNS; i++)); do
        SEQ=$((SEQ + 1))
        export XD="$WORK/x/$SEQ"
        # Never removed between timed runs: right after `rm -rf` of many files ext4 creates
        # files several times slower (see bench/verify.sh); all go at the end.
        mkdir -p "$WORK/x"
        bash -c "$setup"
        sync
        t0=$(date +%s.%N)
        /usr/bin/time -o "$WORK/.time" -f '%M' bash -c "set -o pipefail; $cmd" 2>"$WORK/.stderr" \
            || { echo "bench/scale.sh: $name failed: $cmd" >&2; cat "$WORK/.stderr" >&2; exit 1; }
        t1=$(date +%s.%N)
    done
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    MIB=$(awk '{printf "%.1f", $1 / 1024}' "$WORK/.time")
}
row() { # WHAT SECS MIB TOOLS_SECS TOOLS_MIB
    awk -v w="$1" -v s="$2" -v m="$3" -v ts="$4" -v tm="$5" -v f="$FILES" \
        'BEGIN {printf "%-8s %9d %9.2f %9.2f %7.2fx %10.1f %10.1f\n", w, f, s, ts, s / ts, m, tm}'
}

printf '# bench/scale.sh %s  %s cpus  %s  scales: %s  runs: %s (last reported)\n' \
    "$(date -u +%FT%TZ)" "$(nproc)" "$(git describe --always --dirty 2>/dev/null || echo no-git)" \
    "${SCALES[*]}" "$RUNS"
printf '%-8s %9s %9s %9s %8s %10s %10s\n' what files handover tools ratio rss_MiB tools_MiB
for s in "${SCALES[@]}"; do
    CORPUS=$CORPORA/corpus-small-$s
    if [ ! -f "$CORPUS.done" ]; then
        rm -rf "$CORPUS"
        "$MAKE_CORPUS" small "$CORPUS" --scale "$s" >/dev/null
        touch "$CORPUS.done"
    fi
    FILES=$(find "$CORPUS" -type f | wc -l)
    # Every timed command reads the corpus or the archive from the page cache: warm both
    # (untimed) rather than let whichever runs first pay for the disk.
    tar -C "$CORPUS" -cf - . | cat >/dev/null
    OUT=$WORK/out-$s
    export CORPUS OUT
    NAME=scale-${s//./_}
    export NAME
    run tools-export 'tar -C "$CORPUS" -cf - . | zstd -T0 -3 -q | age -r "$RCP" > "$WORK/x/t.tar.zst.age" && cd "$CORPUS" && find . -type f -print0 | xargs -0 sha256sum > "$WORK/x/sums"'
    TS=$SECS TM=$MIB
    run export '"$HANDOVER" --home "$WORK/home" -q export "$CORPUS" --client bench --name "$NAME" -r "$RCP" --sign-key "$WORK/keys/handover.key" --out "$OUT" >/dev/null' \
        'rm -rf "$OUT"'
    row export "$SECS" "$MIB" "$TS" "$TM"
    A=$OUT/$NAME.tar.zst.age
    export A
    cat "$A" >/dev/null
    run tools-check 'age -d -i "$KEY" "$A" | zstd -dq | tar -C "$XD" -xf - && cd "$XD/$NAME" && sha256sum -c --quiet SHA256SUMS' \
        'mkdir -p "$XD"'
    TS=$SECS TM=$MIB
    V='"$HANDOVER" -q verify "$A" -i "$KEY" --signer "$WORK/keys/handover.pub"'
    run verify "$V >/dev/null"
    row verify "$SECS" "$MIB" "$TS" "$TM"
    run list "$V --list >/dev/null"
    row list "$SECS" "$MIB" "$TS" "$TM"
    run json "${V/-q verify/-q --json verify} --list >/dev/null"
    row json "$SECS" "$MIB" "$TS" "$TM"
    run extract "$V --extract \"\$XD\" >/dev/null"
    row extract "$SECS" "$MIB" "$TS" "$TM"
done
rm -rf "$WORK/x" "$WORK/.time" "$WORK/.stderr"
