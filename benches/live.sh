#!/usr/bin/env bash
# Benchmark of live posture on Linux: the time from a change on the machine to the report
# reaching an HTTP endpoint on 127.0.0.1 (median and p95 over N changes), and the daemon's CPU
# and RSS over an idle period with its watches active.
#
#   benches/live.sh [CHANGES] [IDLE_SECONDS] [BINARY]     (defaults: 20, 600, target/release/posture)
#
# The daemon judges a copy of the fake root tests/fixtures/linux/machines/compliant-gnome
# (`posture run --root`); each change removes or restores etc/modprobe.d/usb-storage.conf, which
# flips the removable-media verdict, so every change must produce a report. Debounce is the
# default 2 s; the rate limit is set to 1 s so changes 3 s apart are each measured. The endpoint
# is a small report sink (python3), not the collector: it records the receive time of each report.
set -euo pipefail
cd "$(dirname "$0")/.."
changes=${1:-20}
idle=${2:-600}
bin=${3:-}
if [ -z "$bin" ]; then
    cargo build --release --bin posture >/dev/null 2>&1 || cargo build --release --bin posture
    bin=${CARGO_TARGET_DIR:-$PWD/target}/release/posture
fi
work=$(mktemp -d)
cleanup() {
    [ -n "${agent:-}" ] && kill "$agent" 2>/dev/null || true
    [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cp -a tests/fixtures/linux/machines/compliant-gnome "$work/root"

cat >"$work/sink.py" <<'PY'
import http.server, json, sys, time
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
        open(sys.argv[2], "a").write("%d %d\n" % (count, time.time_ns()))
        self.reply({"report_id": data["report_id"], "duplicate": False, "check_now": False})
    def do_GET(self): self.reply({"check_now": False})
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$work/sink.py" "$work/port" "$work/received" & sink=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
touch "$work/received"

export POSTURE_CONFIG_DIR=$work/etc POSTURE_STATE_DIR=$work/state
export POSTURE_ENDPOINT=http://127.0.0.1:$port POSTURE_LOG_LEVEL=warn POSTURE_LOG_FORMAT=human
export POSTURE_INTERVAL=1h POSTURE_CHECKIN_INTERVAL=1h POSTURE_WATCH_MIN_GAP=1s
"$bin" run --root "$work/root" 2>"$work/agent.log" & agent=$!
for _ in $(seq 100); do [ "$(wc -l <"$work/received")" -ge 1 ] && break; sleep 0.1; done
sleep 2

conf=$work/root/etc/modprobe.d/usb-storage.conf
cp "$conf" "$work/usb-storage.conf"
lat=()
for i in $(seq "$changes"); do
    before=$(wc -l <"$work/received")
    t0=$(date +%s%N)
    if [ -e "$conf" ]; then rm "$conf"; else cp "$work/usb-storage.conf" "$conf"; fi
    for _ in $(seq 300); do [ "$(wc -l <"$work/received")" -gt "$before" ] && break; sleep 0.05; done
    t1=$(tail -1 "$work/received" | awk '{print $2}')
    [ "$(wc -l <"$work/received")" -gt "$before" ] || { echo "change $i: no report within 15 s"; exit 1; }
    lat+=($(( (t1 - t0) / 1000000 )))
    sleep 1
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
p95=$(echo "$sorted" | awk '{a[NR]=$1} END {i=int(NR*0.95+0.999); if(i<1)i=1; print a[i]}')

ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$agent/status"; }
sleep 3
t_start=$(ticks); sleep "$idle"; t_end=$(ticks)
hz=$(getconf CLK_TCK)
rss=$(rss_kb)
echo "live posture: $changes changes under --root, debounce 2s (default), watch_min_gap 1s"
echo "  change -> report received, median:  ${median} ms"
echo "  change -> report received, p95:     ${p95} ms"
echo "  status: $("$bin" status | grep -E 'watch mode')"
echo "idle ${idle} s with watches active:"
echo "  CPU time (user+sys):                $(( (t_end - t_start) * 1000 / hz )) ms"
echo "  RSS:                                $(( rss / 1024 )).$(( rss % 1024 * 10 / 1024 )) MiB"
if grep -q -E 'ERROR|WARN' "$work/agent.log"; then
    echo "agent log had warnings:"; head -20 "$work/agent.log"
fi
