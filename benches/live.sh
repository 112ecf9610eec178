#!/usr/bin/env bash
# Benchmark of live posture on Linux: the real daemon, live (no `--root`: the collector accepts
# only reports read from the running machine), against the real collector on 127.0.0.1.
#
# Everything runs as root in private mount and PID namespaces (`unshare --mount --pid`), so
# that the changes it makes are real to the kernel and invisible outside, and the system's
# mount table the checks read (`/proc/1/mountinfo`) is the namespace's: /usr/share is overlaid
# with a writable layer (overlayfs, the files below stay visible), and an ext4 image on a loop
# device is mounted and unmounted.
#
# 1. the time from a change to the collector having stored the report it causes (median and p95
#    over CHANGES changes of each kind):
#    - file change: a desktop session file added to or removed from /usr/share/xsessions (in
#      the overlay); the screen-lock check judges screen locking only where a desktop is
#      installed, so its verdict moves between not_applicable and a verdict per user (on a
#      machine without a desktop of its own, like the one the README figures come from);
#    - mount-table change: the loop device's ext4 filesystem mounted or unmounted (a real
#      change of /proc/self/mountinfo, seen by the daemon's `poll` on it); disk encryption
#      judges every mounted data filesystem, so its verdicts change.
#    "Stored" is when the collector's API first lists the report (polled every 20 ms; a 2xx means
#    committed), and also the collector's own `received_at`. The report's `trigger.detected_at`
#    gives the time from the change to the daemon noticing it (same machine, same clock).
# 2. real kernel uevents (`echo add > /sys/block/loopN/uevent`, a synthetic hot-plug the kernel
#    broadcasts like a real one). A loop device changes no verdict, so no report is sent (an
#    unchanged verdict waits for the schedule): the figure is the time to the re-check having
#    finished (`last_trigger_at` in the status).
# 3. the daemon's CPU time and RSS over IDLE_SECONDS idle, watches on and watches off
#    (`watch = false`: the schedule alone), running side by side over the same period with the
#    same credentials, the default interval (15 min, so no scheduled check falls in the window)
#    and check-in (1 min).
#
#   sudo benches/live.sh [CHANGES] [IDLE_SECONDS] [BIN_DIR]   (defaults: 20, 600, target/release)
#
# Debounce is the default 2 s; the rate limit is set to 1 s so changes 3 s apart are each
# measured. Needs root, unshare(1), losetup(8), mkfs.ext4(8), python3 and a release build of
# posture and posture-collector.
set -euo pipefail
cd "$(dirname "$0")/.."
changes=${1:-20}
idle=${2:-600}
bindir=${3:-}
if [ "$(id -u)" != 0 ]; then
    echo "benches/live.sh needs root: it makes real mounts in a private mount namespace" >&2
    exit 2
fi
if [ -z "$bindir" ]; then
    cargo build --release -p posture-agent -p posture-collector >/dev/null 2>&1 ||
        cargo build --release -p posture-agent -p posture-collector
    bindir=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
# Set by this script when it runs itself again inside its private namespaces.
if [ -z "${LIVE_BENCH_IN_NAMESPACE:-}" ]; then
    exec unshare --mount --pid --fork --mount-proc --propagation private \
        env LIVE_BENCH_IN_NAMESPACE=1 "$PWD/benches/live.sh" "$changes" "$idle" "$bindir"
fi
posture=$bindir/posture
collector=$bindir/posture-collector
work=$(mktemp -d)
pids=()
loop=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount "$work/mnt" 2>/dev/null || true
    # Mounts end with the namespace; a loop device is the kernel's, so detach it.
    [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
    umount /usr/share 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The changes' targets: a writable layer over /usr/share with an empty xsessions directory, an
# ext4 image on a loop device.
mkdir -p "$work/share-upper" "$work/share-work"
mount -t overlay overlay \
    -o "lowerdir=/usr/share,upperdir=$work/share-upper,workdir=$work/share-work" /usr/share
mkdir -p /usr/share/xsessions
truncate -s 16M "$work/volume.img"
mkfs.ext4 -q -F "$work/volume.img"
loop=$(losetup --find --show "$work/volume.img")
mkdir -p "$work/mnt"

# The collector, SQLite, on a free loopback port; on first start it writes its secrets to a
# file in its state directory.
"$collector" serve --database "sqlite:$work/collector.db" --listen 127.0.0.1:0 \
    --state-dir "$work/collector" >"$work/collector.out" 2>"$work/collector.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$work/collector.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^posture-collector listening on //p' "$work/collector.out")
admin=$(sed -n 's/^admin token: //p' "$work/collector/initial-secrets.txt" 2>/dev/null || true)
secret=$(sed -n 's/^enrollment secret: //p' "$work/collector/initial-secrets.txt" 2>/dev/null || true)
[ -n "$url" ] && [ -n "$admin" ] && [ -n "$secret" ] || { cat "$work/collector.out" "$work/collector.log"; exit 1; }

# An enrolled agent, live, in its own config and state directories: `agent NAME [VAR=VALUE...]`.
agent() {
    local name=$1; shift
    mkdir -p "$work/$name"
    # Enrollment names this machine (its machine id), so a second enrollment would replace the
    # first one's token: enroll once, and let later agents report as the same device.
    if [ -e "$work/credentials.json" ]; then
        mkdir -p -m 700 "$work/$name/state"
        cp -p "$work/credentials.json" "$work/$name/state/"
    else
        env -i PATH=/usr/bin:/bin POSTURE_CONFIG_DIR="$work/$name/etc" POSTURE_STATE_DIR="$work/$name/state" \
            POSTURE_ENROLL_SECRET="$secret" "$posture" enroll --endpoint "$url" >/dev/null 2>"$work/$name/enroll.log"
        cp -p "$work/$name/state/credentials.json" "$work/credentials.json"
    fi
    env -i PATH=/usr/bin:/bin POSTURE_CONFIG_DIR="$work/$name/etc" POSTURE_STATE_DIR="$work/$name/state" \
        POSTURE_LOG_LEVEL=warn POSTURE_LOG_FORMAT=human "$@" \
        "$posture" run 2>"$work/$name/agent.log" &
    pids+=($!)
    echo $! >"$work/$name/pid"
}

cat >"$work/measure.py" <<'PY'
# measure.py WORK URL ADMIN_TOKEN CHANGES LOOP: makes each change and times it.
import json, os, subprocess, sys, time, urllib.request
from datetime import datetime
from calendar import timegm
work, url, admin, changes, loop = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
state = f"{work}/lat/state"

def api(path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + admin})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)

def ns(rfc3339):
    if isinstance(rfc3339, int):
        return rfc3339 * 10**6  # the collector's times are Unix milliseconds
    # Python < 3.11 does not parse every RFC 3339 form: keep nanoseconds, drop the zone (UTC).
    t = rfc3339.rstrip("Z").replace("+00:00", "")
    base, _, frac = t.partition(".")
    d = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    return timegm(d.timetuple()) * 10**9 + int((frac + "000000000")[:9])

def status():
    try:
        with open(f"{state}/status.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

device = json.load(open(f"{state}/credentials.json"))["device_id"]
def latest():
    r = api(f"/api/v1/devices/{device}/reports?limit=1")["reports"]
    return r[0] if r else None

deadline = time.time() + 60
while latest() is None:
    if time.time() > deadline: sys.exit("no first report within 60 s")
    time.sleep(0.2)
time.sleep(3)

session = "/usr/share/xsessions/livebench.desktop"  # in the overlay
mnt = f"{work}/mnt"

def file_change():
    if os.path.exists(session):
        os.remove(session)
    else:
        with open(session, "w") as f:
            f.write("[Desktop Entry]\nName=Live bench\nExec=/bin/false\n")

def mount_change():
    mounted = any(l.split()[4] == mnt for l in open("/proc/self/mountinfo"))
    cmd = ["umount", mnt] if mounted else ["mount", "-t", "ext4", loop, mnt]
    subprocess.run(cmd, check=True)

def pct(values):
    v = sorted(values)
    median = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    p95 = v[max(0, -(-len(v) * 95 // 100) - 1)]
    return median, p95

results = {}
causes = {}
for kind, change in (("file", file_change), ("mount", mount_change)):
    seen_ms, recv_ms, detect_ms = [], [], []
    for i in range(changes):
        before = latest()["report_id"]
        t0 = time.time_ns()
        change()
        while True:
            r = latest()
            if r["report_id"] != before:
                t1 = time.time_ns()
                break
            if time.time_ns() - t0 > 30 * 10**9:
                sys.exit(f"{kind} change {i + 1}: no stored report within 30 s")
            time.sleep(0.02)
        seen_ms.append((t1 - t0) / 1e6)
        recv_ms.append((ns(r["received_at"]) - t0) / 1e6)
        trigger = r.get("trigger") or {}
        if trigger.get("kind") != "change":
            sys.exit(f"{kind} change {i + 1}: the stored report has no change trigger: {r}")
        causes.setdefault(kind, trigger.get("cause"))
        body = api(f"/api/v1/devices/{device}/reports/{r['report_id']}")
        detect_ms.append((ns(body["trigger"]["detected_at"]) - t0) / 1e6)
        time.sleep(1)
    results[kind] = (pct(seen_ms), pct(recv_ms), pct(detect_ms))

hot = []
if os.access("/sys/block", os.W_OK):
    name = os.path.basename(loop)
    for i in range(changes):
        before = status().get("last_trigger_at")
        t0 = time.time_ns()
        with open(f"/sys/block/{name}/uevent", "w") as f:
            f.write("add")
        while status().get("last_trigger_at") == before:
            if time.time_ns() - t0 > 30 * 10**9:
                sys.exit(f"uevent {i + 1}: no re-check within 30 s")
            time.sleep(0.02)
        hot.append((ns(status()["last_trigger_at"]) - t0) / 1e6)
        time.sleep(1)

for kind, label in (("file", "file change"), ("mount", "mount-table change")):
    (sm, sp), (rm, rp), (dm, dp) = results[kind]
    print(f"  {label:<20} -> stored (API lists it): median {sm:7.0f} ms, p95 {sp:7.0f} ms;"
          f" collector received_at: median {rm:7.0f} ms, p95 {rp:7.0f} ms;"
          f" detected by the daemon: median {dm:5.0f} ms, p95 {dp:5.0f} ms (trigger: {causes[kind]})")
if hot:
    m, p = pct(hot)
    print(f"  {'kernel uevent':<20} -> re-check done:       median {m:7.0f} ms, p95 {p:7.0f} ms"
          f" (verdicts unchanged, not sent; trigger: {status().get('last_trigger')})")
else:
    print("  kernel uevents: not measured (needs a writable /sys/block/loopN/uevent)")
PY

echo "machine: $(nproc) cores, $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "live posture: $changes changes of each kind, live in a private mount namespace, debounce 2s (default), watch_min_gap 1s, collector $url"
agent lat POSTURE_INTERVAL=1h POSTURE_CHECKIN_INTERVAL=1h POSTURE_WATCH_MIN_GAP=1s
python3 "$work/measure.py" "$work" "$url" "$admin" "$changes" "$loop"
echo "  status: $(env -i POSTURE_CONFIG_DIR="$work/lat/etc" POSTURE_STATE_DIR="$work/lat/state" "$posture" status | grep -E 'watch mode')"
kill "$(cat "$work/lat/pid")"

# Idle: watches on and off side by side, defaults otherwise.
agent on
agent off POSTURE_WATCH=false
for name in on off; do
    for _ in $(seq 300); do [ -s "$work/$name/state/status.json" ] && grep -q last_report_id "$work/$name/state/status.json" && break; sleep 0.1; done
done
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A t0
for name in on off; do t0[$name]=$(ticks "$(cat "$work/$name/pid")"); done
sleep "$idle"
hz=$(getconf CLK_TCK)
echo "idle ${idle} s (interval 15m, check-in 1m), load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in on off; do
    pid=$(cat "$work/$name/pid")
    cpu=$(( ($(ticks "$pid") - ${t0[$name]}) * 1000 / hz ))
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
    mode=$(env -i POSTURE_CONFIG_DIR="$work/$name/etc" POSTURE_STATE_DIR="$work/$name/state" "$posture" status | grep -E 'watch mode' | sed 's/^ *//')
    printf '  watches %-3s CPU %5d ms  RSS %s KiB (%d.%d MiB, peak %s KiB)  threads %s  %s\n' \
        "$name" "$cpu" "$rss" $((rss / 1024)) $((rss % 1024 * 10 / 1024)) "$hwm" "$threads" "$mode"
    awk '/^(Rss|Pss_Anon|Pss_File|Anonymous):/ {printf "    %s %s kB\n", $1, $2}' "/proc/$pid/smaps_rollup"
done
for name in lat on off; do
    if grep -q -E 'ERROR|WARN' "$work/$name/agent.log"; then
        echo "agent $name log had warnings:"; head -5 "$work/$name/agent.log"
    fi
done
