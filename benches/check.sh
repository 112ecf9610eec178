#!/usr/bin/env bash
# Benchmark of `posture --check`: wall time (median of many runs) and peak RSS, on this machine
# and on a fixture root, release build. Targets: median under 20 ms, peak RSS under 10 MB.
#
#   benches/check.sh [RUNS]
#
# Needs GNU time (`apt-get install time`); uses hyperfine when installed for the wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}

cargo build --release --bin posture >/dev/null 2>&1 || cargo build --release --bin posture
bin=target/release/posture
[ -x /usr/bin/time ] || { echo "benches/check.sh: needs GNU time (/usr/bin/time): apt-get install time" >&2; exit 2; }

median_ms() { # runs the command $runs times, prints the median wall time in ms
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'
}

peak_rss_kb() { # max RSS over 20 runs, in KiB
    local max=0 out
    out=$(mktemp)
    for _ in $(seq 20); do
        /usr/bin/time -o "$out" -f '%M' "$@" >/dev/null 2>&1 || true
        local kb
        kb=$(tail -n 1 "$out")
        [ "$kb" -gt "$max" ] && max=$kb
    done
    rm -f "$out"
    echo "$max"
}

report() {
    local label=$1; shift
    local med rss
    med=$(median_ms "$@")
    rss=$(peak_rss_kb "$@")
    printf '%-34s median %7s ms over %d runs   peak RSS %6.1f MB\n' "$label" "$med" "$runs" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
}

echo "posture --check, release build, $(nproc) cores, $(uname -r)"
report "this machine (human output)" "$bin" --check
report "this machine (--format json)" "$bin" --check --format json
for root in tests/fixtures/linux/machines/*/; do
    report "fixture root $(basename "$root")" "$bin" --check --root "$root"
done
if command -v hyperfine >/dev/null; then
    hyperfine --warmup 10 --runs "$runs" -N "$bin --check --format json" 2>/dev/null | sed -n '1,4p'
fi
