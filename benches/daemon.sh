#!/usr/bin/env bash
# Benchmark of `posture run`: idle memory and CPU of the daemon over a minute at a short
# interval, and the cost of one check-and-send cycle, against a report sink on 127.0.0.1.
# Targets: idle RSS under 15 MB, no CPU between ticks (no busy polling).
#
#   benches/daemon.sh [SECONDS] [INTERVAL]      (defaults: 60 s, checks every 10s)
#
# Release build; live checks of this machine. Reads /proc, so Linux only. Needs python3 for the
# sink and GNU time (`apt-get install time`) for the cycle's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
interval=${2:-10s}

cargo build --release --bin posture >/dev/null 2>&1 || cargo build --release --bin posture
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/posture
work=$(mktemp -d)
cleanup() {
    [ -n "${agent:-}" ] && kill "$agent" 2>/dev/null || true
    [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The sink: accepts every report (200) and every check-in (no check-now), counts reports.
cat >"$work/sink.py" <<'PY'
import http.server, json, sys
count = 0
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        global count
        n = int(self.headers.get("Content-Length", 0)); data = json.loads(self.rfile.read(n))
        count += 1
        open(sys.argv[2], "w").write(str(count))
        self.reply({"report_id": data["report_id"], "duplicate": False, "check_now": False})
    def do_GET(self): self.reply({"check_now": False})
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$work/sink.py" "$work/port" "$work/count" & sink=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

export POSTURE_CONFIG_DIR=$work/etc POSTURE_STATE_DIR=$work/state
export POSTURE_ENDPOINT=http://127.0.0.1:$port POSTURE_LOG_LEVEL=warn POSTURE_LOG_FORMAT=human

# One check-and-send cycle, 20 times: median wall time and peak RSS.
times=()
for _ in $(seq 20); do
    start=$(date +%s%N)
    "$bin" run --once 2>/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", (a[10]+a[11])/2/1000}')
/usr/bin/time -o "$work/time" -f '%M' "$bin" run --once 2>/dev/null
cycle_rss=$(tail -1 "$work/time")

# The daemon for $seconds at $interval, checking in every 5 s.
POSTURE_INTERVAL=$interval POSTURE_CHECKIN_INTERVAL=5s "$bin" run 2>"$work/agent.log" & agent=$!
sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$agent/status"; }
start_ticks=$(ticks); start_count=$(cat "$work/count")
max_rss=0; samples=""
for _ in $(seq $(( seconds / 5 ))); do
    sleep 5
    r=$(rss_kb); samples="$samples $r"; [ "$r" -gt "$max_rss" ] && max_rss=$r
done
end_ticks=$(ticks); end_count=$(cat "$work/count")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status")
hz=$(getconf CLK_TCK)
cpu_ms=$(( (end_ticks - start_ticks) * 1000 / hz ))
reports=$(( end_count - start_count ))

echo "posture run: $seconds s at interval $interval (check-in every 5s), live checks, sink on 127.0.0.1"
echo "  reports delivered in the window:   $reports"
echo "  RSS samples every 5 s (KiB):      $samples"
echo "  RSS max of samples:               $(( max_rss / 1024 )).$(( max_rss % 1024 * 10 / 1024 )) MiB"
echo "  VmHWM (peak RSS since start):     $(( hwm / 1024 )).$(( hwm % 1024 * 10 / 1024 )) MiB"
echo "  CPU time (user+sys) in window:    ${cpu_ms} ms ($(awk -v c="$cpu_ms" -v r="$reports" 'BEGIN{ if (r>0) printf "%.1f ms per report incl. check-ins", c/r; else print "n/a"}'))"
echo "one check-and-send cycle (posture run --once, 20 runs):"
echo "  median wall time:                 ${median} ms"
echo "  peak RSS:                         $(( cycle_rss / 1024 )).$(( cycle_rss % 1024 * 10 / 1024 )) MiB"
# Between ticks: a daemon with nothing due for an hour must use no CPU at all.
kill "$agent"
for _ in $(seq 50); do kill -0 "$agent" 2>/dev/null || break; sleep 0.1; done
POSTURE_INTERVAL=1h POSTURE_CHECKIN_INTERVAL=1h "$bin" run 2>>"$work/agent.log" & agent=$!
sleep 3
idle_start=$(ticks); sleep 20; idle_end=$(ticks)
idle_rss=$(rss_kb)
echo "between ticks (interval 1h, 20 s window after the first check):"
echo "  CPU time:                         $(( (idle_end - idle_start) * 1000 / hz )) ms"
echo "  RSS:                              $(( idle_rss / 1024 )).$(( idle_rss % 1024 * 10 / 1024 )) MiB"
if grep -q -E 'ERROR|WARN' "$work/agent.log"; then
    echo "agent log had warnings:"; cat "$work/agent.log"
fi
