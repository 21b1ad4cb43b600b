#!/usr/bin/env bash
# bench/export.sh [PROFILE...]
#
# Times `handover export` against the same work done by standard tools, in one
# run, and prints the ratios the issue sets as targets (issue 2, "Speed").
# PROFILE is a ../shared/bench/make-corpus profile: mixed, small, large
# (default: all three).
#
# Per profile, in ROUNDS alternating rounds (the order rotates every round),
# each command timed as one whole run, `sync` before each, caches not dropped:
#   export  handover --quiet export DIR ... --out OUT   (real files, peak RSS
#           from GNU /usr/bin/time %M)
#   pipe    tar -cf - . | zstd -T0 -3 | age -r R > OUT/x.tar.zst.age
#   sums    find . -type f -print0 | xargs -0 sha256sum > OUT/manifest
#   limit   tar -cf - . | zstd -T0 -3 > /dev/null       (the compression
#           limit; tar's stdout is a pipe, so it does read the files)
# "tools" is pipe + sums of the same round (baseline's c.total).  Printed:
# medians of the walls, and the MEDIAN OF THE PER-ROUND RATIOS (each ratio
# pairs runs made moments apart, which is what stays stable when other work
# shares the machine), with the min..max spread of those ratios as the noise.
# After `mixed`, export alone runs on a `mixed` corpus of half the scale to
# show that peak RSS does not grow with the corpus.
#
# Targets checked (2-core machine):
#   export <= 0.55 x tools on mixed and small; export <= 1.3 x limit;
#   peak RSS <= 80 MiB, and not growing (<= 10 %) when the corpus doubles.
#
# Environment:
#   BENCH_DIR=target/bench  where corpora (BENCH_DIR/corpus/PROFILE-SCALE,
#                           kept and reused), outputs (BENCH_DIR/out, emptied
#                           between runs), a throwaway home and keys, and the
#                           results (BENCH_DIR/results-*.txt) go
#   SCALE=1                 make-corpus --scale (0.25 for a quick look)
#   ROUNDS=3                rounds per profile
#   RSS_HALF=1              0 skips the half-size RSS check
#   IDLE_PCT=15 IDLE_WAIT=20  before each timed run, wait (up to IDLE_WAIT s) until
#                           other work uses under IDLE_PCT % of the CPUs over 0.5 s
#                           (IDLE_WAIT=0: never wait); the busy % seen is logged
#   MAKE_CORPUS=../shared/bench/make-corpus
# Needs: cargo, GNU tar, zstd, age, age-keygen, coreutils, findutils, python3,
# GNU time (/usr/bin/time).  Disk: the corpora plus about their size again.

set -euo pipefail

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
case "${1:-}" in -h | --help) usage ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
PROFILES=("$@")
[ ${#PROFILES[@]} -gt 0 ] || PROFILES=(mixed small large)
for p in "${PROFILES[@]}"; do
    case "$p" in mixed | small | large) ;; *) echo "bench/export.sh: unknown profile '$p'" >&2 && usage ;; esac
done
SCALE=${SCALE:-1}
ROUNDS=${ROUNDS:-3}
RSS_HALF=${RSS_HALF:-1}
IDLE_PCT=${IDLE_PCT:-15}
IDLE_WAIT=${IDLE_WAIT:-20}
MAKE_CORPUS=${MAKE_CORPUS:-$ROOT/../shared/bench/make-corpus}
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench}
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "bench/export.sh: ROUNDS must be a positive integer" >&2 && exit 2 ;; esac

# ---------------------------------------------------------------- tools --
missing=() pkgs=()
need() { # COMMAND PACKAGE
    if ! command -v "$1" >/dev/null 2>&1; then
        missing+=("$1")
        pkgs+=("$2")
    fi
}
need cargo "(rustup: https://rustup.rs)"
need tar tar
need zstd zstd
need age age
need age-keygen age
need sha256sum coreutils
need find findutils
need xargs findutils
need python3 python3
need awk gawk
if ! { [ -x /usr/bin/time ] && /usr/bin/time -f '%M' -o /dev/null true 2>/dev/null; }; then
    missing+=("/usr/bin/time (GNU)")
    pkgs+=(time)
fi
[ -x "$MAKE_CORPUS" ] || { missing+=("$MAKE_CORPUS") && pkgs+=("(the shared bench folder; set MAKE_CORPUS)"); }
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench/export.sh: missing: ${missing[*]}" >&2
    echo "  install with: sudo apt-get install -y $(printf '%s\n' "${pkgs[@]}" | grep -v '^(' | sort -u | tr '\n' ' ')" >&2
    printf '%s\n' "${pkgs[@]}" | grep '^(' | sort -u | sed 's/^/  and: /' >&2 || true
    exit 2
fi
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
    echo "bench/export.sh: tar is not GNU tar" >&2
    exit 2
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)
CORPORA="$BENCH_DIR/corpus"
OUT="$BENCH_DIR/out"
HOME_DIR="$BENCH_DIR/home"
TMP="$BENCH_DIR/tmp"
mkdir -p "$CORPORA" "$OUT" "$TMP"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT="$BENCH_DIR/results-$STAMP.txt"
: >"$REPORT"
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
cleanup() { rm -rf -- "$OUT" "$TMP"; }
trap cleanup EXIT

say "# bench/export.sh $STAMP  profiles=${PROFILES[*]} SCALE=$SCALE ROUNDS=$ROUNDS"
say "# writes to $BENCH_DIR (corpora: $CORPORA, kept; outputs: $OUT, removed; results: $REPORT)"
say "# host: $(uname -srm), $(nproc) cpus, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
say "# $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no git') $(tar --version | head -1); $(zstd --version | head -1); age $(age --version)"

# ---------------------------------------------------------------- build --
say "# building: cargo build --release"
cargo build --release --quiet
HANDOVER="${CARGO_TARGET_DIR:-$ROOT/target}/release/handover"
[ -x "$HANDOVER" ] || { echo "bench/export.sh: no binary at $HANDOVER" >&2 && exit 1; }

# Throwaway keys: an unprotected signing key in a home of its own, an age identity.
if [ ! -f "$HOME_DIR/handover.key" ]; then
    rm -rf -- "$HOME_DIR"
    "$HANDOVER" --home "$HOME_DIR" --quiet keygen --no-password >/dev/null
fi
[ -f "$BENCH_DIR/age.key" ] || age-keygen -o "$BENCH_DIR/age.key" 2>/dev/null
RCP=$(age-keygen -y "$BENCH_DIR/age.key")

# corpus PROFILE SCALE -> prints the directory, generating it once
corpus() {
    local dir="$CORPORA/$1-$2"
    if [ ! -f "$dir.done" ]; then
        rm -rf -- "$dir"
        echo "# generating $dir (make-corpus $1 --scale $2)" >&2
        "$MAKE_CORPUS" "$1" "$dir" --scale "$2" | tail -n 2 >&2
        touch "$dir.done"
    fi
    printf '%s\n' "$dir"
}

# --------------------------------------------------------------- timing --
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
minmax() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f..%.2f", lo, hi}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.4f", a / b}'; }

# The four commands, run by `bash -c` with DIR (the corpus) in the environment.
CMD_export='"$HANDOVER" --home "$HOME_DIR" --quiet export "$DIR" --client bench --name bench -r "$RCP" --out "$OUT" >/dev/null'
CMD_pipe='tar -C "$DIR" -cf - . | zstd -T0 -3 -q | age -r "$RCP" > "$OUT/x.tar.zst.age"'
CMD_sums='cd "$DIR" && find . -type f -print0 | xargs -0 sha256sum > "$OUT/manifest"'
CMD_limit='tar -C "$DIR" -cf - . | zstd -T0 -3 -q > /dev/null'
export HANDOVER HOME_DIR RCP OUT

# busy_pct: % of all CPUs busy over the next 0.5 s (from /proc/stat).
busy_pct() {
    local a b
    a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); u = y[1] - x[1]; i = y[2] - x[2];
        printf "%d", (u + i > 0 ? 100 * u / (u + i) : 0)}'
}
# settle: waits until the machine is quiet enough (see IDLE_PCT); sets BUSY to the last %.
settle() {
    local waited=0
    BUSY=$(busy_pct)
    while [ "$BUSY" -ge "$IDLE_PCT" ] && [ "$waited" -lt "$IDLE_WAIT" ]; do
        sleep 1.5
        waited=$((waited + 2))
        BUSY=$(busy_pct)
    done
}

# run NAME DIR: one timed run of CMD_NAME on DIR, outputs emptied first.
# Sets WALL (s), CPU (user+sys s of the whole command) and RSS (peak KiB of its largest process).
run() {
    local cmd="CMD_$1" t0
    rm -rf -- "$OUT" && mkdir -p "$OUT"
    sync
    settle
    t0=$(now)
    if ! DIR=$2 /usr/bin/time -f '%U %S %M' -o "$TMP/time" bash -c "set -euo pipefail; ${!cmd}" 2>"$TMP/stderr"; then
        echo "bench/export.sh: '$1' failed on $2: ${!cmd}" >&2
        cat "$TMP/stderr" >&2
        exit 1
    fi
    WALL=$(since "$t0")
    read -r CPU RSS < <(tail -n 1 "$TMP/time" | awk '{printf "%.2f %d\n", $1 + $2, $3}')
}

ok() { # VALUE LIMIT -> ok / MISSED
    awk -v v="$1" -v l="$2" 'BEGIN {print (v <= l ? "ok" : "MISSED")}'
}

ROWS=()
MIXED_RSS=""
bench_profile() { # PROFILE
    local p=$1 dir files bytes r k cmd
    dir=$(corpus "$p" "$SCALE")
    read -r files bytes < <(find "$dir" -type f -printf '%s\n' | awk '{n++; s += $1} END {printf "%d %d\n", n, s}')
    say "## $p: $dir files=$files bytes=$bytes"
    # Warm the page cache once (untimed), as every timed run after it will find it.
    tar -C "$dir" -cf - . | cat >/dev/null
    local -a e=() t=() pi=() su=() li=() rt=() rl=() rs=()
    local cmds=(export pipe sums limit)
    for ((r = 0; r < ROUNDS; r++)); do
        local line="round $((r + 1)):"
        local ew pw sw lw
        for ((k = 0; k < 4; k++)); do
            cmd=${cmds[$(((r + k) % 4))]}
            run "$cmd" "$dir"
            line+=" $cmd=${WALL}s/cpu=${CPU}s/busy=$BUSY%"
            case "$cmd" in
                export) ew=$WALL && rs+=("$RSS") && line+="/rss=$((RSS / 1024))MiB/out=$(stat -c %s "$OUT/bench.tar.zst.age")" ;;
                pipe) pw=$WALL && line+="/out=$(stat -c %s "$OUT/x.tar.zst.age")" ;;
                sums) sw=$WALL ;;
                limit) lw=$WALL ;;
            esac
        done
        local tw
        tw=$(awk -v a="$pw" -v b="$sw" 'BEGIN {printf "%.3f", a + b}')
        e+=("$ew") pi+=("$pw") su+=("$sw") li+=("$lw") t+=("$tw")
        rt+=("$(div "$ew" "$tw")") rl+=("$(div "$ew" "$lw")")
        say "  $line"
    done
    local me mt mp ms ml qt ql rss
    me=$(printf '%s\n' "${e[@]}" | median)
    mt=$(printf '%s\n' "${t[@]}" | median)
    mp=$(printf '%s\n' "${pi[@]}" | median)
    ms=$(printf '%s\n' "${su[@]}" | median)
    ml=$(printf '%s\n' "${li[@]}" | median)
    qt=$(printf '%s\n' "${rt[@]}" | median)
    ql=$(printf '%s\n' "${rl[@]}" | median)
    rss=$(printf '%s\n' "${rs[@]}" | sort -n | tail -n 1)
    local tt="n/a"
    case "$p" in mixed | small) tt=$(ok "$qt" 0.55) ;; esac
    ROWS+=("$(printf '%-6s %6s %8.0f %8.2f %8.2f %6.2f+%-6.2f %8.2f %6.3f %-6s %-10s %6.3f %-6s %-10s %6.1f %-6s' \
        "$p" "$SCALE" "$(div "$bytes" 1048576)" "$me" "$mt" "$mp" "$ms" "$ml" \
        "$qt" "$tt" "$(printf '%s\n' "${rt[@]}" | minmax)" \
        "$ql" "$(ok "$ql" 1.3)" "$(printf '%s\n' "${rl[@]}" | minmax)" \
        "$(div "$rss" 1024)" "$(ok "$(div "$rss" 1024)" 80)")")
    [ "$p" = mixed ] && MIXED_RSS=$rss
    return 0
}

for p in "${PROFILES[@]}"; do
    bench_profile "$p"
done

RSS_LINE=""
if [ -n "$MIXED_RSS" ] && [ "$RSS_HALF" != 0 ]; then
    half=$(awk -v s="$SCALE" 'BEGIN {printf "%g", s / 2}')
    hdir=$(corpus mixed "$half")
    hrss=0
    for ((r = 0; r < ROUNDS; r++)); do
        run export "$hdir"
        [ "$RSS" -gt "$hrss" ] && hrss=$RSS
    done
    growth=$(awk -v a="$hrss" -v b="$MIXED_RSS" 'BEGIN {printf "%+.1f", (b - a) / a * 100}')
    RSS_LINE=$(printf 'peak RSS, mixed: --scale %s %.1f MiB -> --scale %s %.1f MiB (%s%%): %s' \
        "$half" "$(div "$hrss" 1024)" "$SCALE" "$(div "$MIXED_RSS" 1024)" "$growth" \
        "$(awk -v g="$growth" 'BEGIN {print (g <= 10 ? "not growing (ok)" : "GROWING (MISSED)")}')")
fi

say ""
say "medians of $ROUNDS rounds (seconds); ratios are medians of per-round ratios, [min..max] across rounds"
say "$(printf '%-6s %6s %8s %8s %8s %13s %8s %6s %-6s %-10s %6s %-6s %-10s %6s %-6s' \
    profile scale MiB export tools pipe+sums limit e/tool '<=.55' spread e/lim '<=1.3' spread RSS '<=80')"
for row in "${ROWS[@]}"; do say "$row"; done
[ -z "$RSS_LINE" ] || say "$RSS_LINE"
say "# export = handover export to files; tools = tar|zstd -T0 -3|age + find|xargs sha256sum; limit = tar|zstd -T0 -3 >/dev/null"
say "# results: $REPORT"
