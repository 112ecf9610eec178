#!/usr/bin/env bash
# Packaging test for Linux: builds the posture .deb and .rpm and takes them through a whole
# life in a throwaway Debian root: install, upgrade, remove, purge.
#
#   packaging/linux/test-deb.sh          (as root, on Debian or Ubuntu; no arguments)
#
# Why a debootstrap chroot rather than this machine: the packages are installed into a clean
# minimal Debian, so the test sees exactly what a fresh laptop would (no leftovers from earlier
# runs, no dependency this machine happens to have), and this machine's /usr, /etc and
# /var/lib are never touched; cleaning up is unmounting two file systems and deleting one
# directory. The chroot also carries systemd (not running), so `systemd-analyze verify` checks
# the installed unit against the installed binary and man pages. Building the root costs one
# download of a minimal Debian; set POSTURE_ROOTFS_CACHE=FILE.tar to keep it between runs.
#
# The state an upgrade must keep is written by the installed agent itself: it enrolls with a
# collector run on this machine's loopback (the host build of the collector package), delivers
# one report and spools another while the collector is down; after the upgrade the same token
# must still deliver.
#
# What it installs on this machine when missing: debootstrap, rpm and jq (apt), cargo-deb and
# cargo-generate-rpm (cargo install --locked, into ~/.cargo/bin). Those tools stay; nothing
# posture installs does.
#
# Optional environment: POSTURE_DEBIAN_SUITE (default: this machine's Debian or Ubuntu codename,
# else bookworm), POSTURE_DEBIAN_MIRROR (default: debootstrap's), POSTURE_ROOTFS_CACHE (see above),
# POSTURE_KEEP_ROOT=1 (leave the chroot for inspection; mounts are still undone),
# POSTURE_COLLECTOR_PROFILE (cargo profile of the collector's package, default dev: see below).
#
# Prints one PASS or FAIL line per check and exits non-zero if any check failed.
# Single-quoted $ below are dpkg-query formats and scripts for inner shells, on purpose.
# shellcheck disable=SC2016
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: one PASS/FAIL line for a command's success.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
step() { echo; echo "--- $* ($(date -u +%H:%M:%S))"; }
die() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: dpkg, chroot and mount need it"
command -v dpkg >/dev/null || die "needs a Debian-based machine (dpkg)"

started=$(date +%s)

# ---------------------------------------------------------------------------------------------
step "tools"
missing_apt=()
command -v debootstrap >/dev/null || missing_apt+=(debootstrap)
command -v rpm >/dev/null || missing_apt+=(rpm)
command -v jq >/dev/null || missing_apt+=(jq)
if [ ${#missing_apt[@]} -gt 0 ]; then
    echo "installing ${missing_apt[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi
missing_cargo=()
cargo deb --version >/dev/null 2>&1 || missing_cargo+=("cargo-deb@$CARGO_DEB_VERSION")
cargo generate-rpm --version >/dev/null 2>&1 || missing_cargo+=("cargo-generate-rpm@$CARGO_GENERATE_RPM_VERSION")
if [ ${#missing_cargo[@]} -gt 0 ]; then
    echo "installing ${missing_cargo[*]} with cargo install --locked"
    cargo install --locked --quiet "${missing_cargo[@]}"
fi
echo "$(cargo deb --version), $(cargo generate-rpm --version), $(rpm --version)"

# ---------------------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/var/tmp}/posture-deb-test.XXXXXX")
root="$work/root"
fake_systemctl=/usr/local/sbin/systemctl

mounts_under_root() { findmnt -rn -o TARGET | grep -F "$root/" || true; }
cleanup() {
    local status=$?
    set +e
    [ -z "${collector_pid:-}" ] || kill "$collector_pid" 2>/dev/null
    # Innermost first.
    mounts_under_root | sort -r | while read -r m; do umount -l "$m"; done
    if [ -n "$(mounts_under_root)" ]; then
        echo "FAIL: file systems still mounted under $root; not deleting $work" >&2
        status=1
    elif [ "${POSTURE_KEEP_ROOT:-}" = 1 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
step "build"
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cargo build --release --locked -p posture-agent
generated="$target_dir/release/packaging"
rm -rf "$generated"
"$target_dir/release/posture" generate man --out "$generated/man"
"$target_dir/release/posture" generate completions bash zsh fish --out "$generated/completions"
mkdir -p "$work/debs" "$work/rpms"
cargo deb --no-build -p posture-agent --deb-revision 1 -o "$work/debs/"
# The same binary with a later version: what dpkg sees on an upgrade (maintainer scripts run
# with "upgrade"/"configure <old version>"), without a second release build.
cargo deb --no-build -p posture-agent --deb-revision 2 -o "$work/debs/"
cargo generate-rpm -p agent -o "$work/rpms/"
deb1=$(ls "$work"/debs/posture_*-1_*.deb)
deb2=$(ls "$work"/debs/posture_*-2_*.deb)
rpm1=$(ls "$work"/rpms/posture-*.rpm)
version1=$(dpkg-deb -f "$deb1" Version)
version2=$(dpkg-deb -f "$deb2" Version)
echo "built $(basename "$deb1"), $(basename "$deb2"), $(basename "$rpm1")"

collector=false
collector_bin=
if [ -f crates/collector/Cargo.toml ] && grep -q '^\[package.metadata.deb\]' crates/collector/Cargo.toml; then
    collector=true
    # The dev profile by default: CI has just built the collector that way for its tests, while a
    # release build of it took 12 min on the 2-core CI machine. This test checks the package
    # (files, unit, maintainer scripts), not the code; the release workflow packages release
    # builds. POSTURE_COLLECTOR_PROFILE=release tests exactly what ships.
    collector_profile=${POSTURE_COLLECTOR_PROFILE:-dev}
    cargo build --locked --profile "$collector_profile" -p posture-collector
    cargo deb --no-build --profile "$collector_profile" -p posture-collector -o "$work/debs/"
    collector_deb=$(ls "$work"/debs/posture-collector_*.deb)
    echo "built $(basename "$collector_deb")"
    profile_dir=$collector_profile
    [ "$profile_dir" != dev ] || profile_dir=debug
    collector_bin="$target_dir/$profile_dir/posture-collector"
else
    echo "note: crates/collector has no [package.metadata.deb]; the collector package is not tested"
fi

# ---------------------------------------------------------------------------------------------
step "the .deb's contents"
listing=$(dpkg-deb -c "$deb1")
has_entry() { # MODE PATH
    grep -qE "^$1 (root/root|0/0) +[0-9]+ [0-9-]+ [0-9:]+ \./${2#/}\$" <<<"$listing"
}
check "deb ships /usr/bin/posture 0755" has_entry '-rwxr-xr-x' /usr/bin/posture
check "deb ships /etc/posture/config.toml 0640" has_entry '-rw-r-----' /etc/posture/config.toml
check "deb ships the systemd unit" has_entry '-rw-r--r--' /usr/lib/systemd/system/posture.service
check "deb ships the man page posture(1)" has_entry '-rw-r--r--' /usr/share/man/man1/posture.1
check "deb ships a man page per subcommand (posture-run.1)" has_entry '-rw-r--r--' /usr/share/man/man1/posture-run.1
check "deb ships bash completions" has_entry '-rw-r--r--' /usr/share/bash-completion/completions/posture
check "deb ships zsh completions" has_entry '-rw-r--r--' /usr/share/zsh/vendor-completions/_posture
check "deb ships fish completions" has_entry '-rw-r--r--' /usr/share/fish/vendor_completions.d/posture.fish
check "deb marks config.toml as a conffile" \
    bash -c "dpkg-deb --ctrl-tarfile '$deb1' | tar -xO ./conffiles | grep -qx /etc/posture/config.toml"
only_usr_and_etc() { ! grep -vE ' \./((usr|etc)(/.*)?)?$' <<<"$listing"; }
check "deb has no file outside /usr and /etc" only_usr_and_etc
check "deb depends only on libc6" bash -c "dpkg-deb -f '$deb1' Depends | grep -qE '^libc6( |\$)'"
check "upgrade package has a later version ($version2 > $version1)" \
    dpkg --compare-versions "$version2" gt "$version1"

# ---------------------------------------------------------------------------------------------
step "a clean Debian root"
suite=${POSTURE_DEBIAN_SUITE:-}
if [ -z "$suite" ]; then
    # shellcheck disable=SC1091
    # The host's own release, so the binary built here finds the C library it was linked against.
    # debootstrap knows the default mirror of Debian and Ubuntu suites.
    suite=$( (. /etc/os-release && case "${ID:-}" in debian | ubuntu) echo "${VERSION_CODENAME:-}" ;; esac) || true)
    suite=${suite:-bookworm}
fi
if [ -n "${POSTURE_ROOTFS_CACHE:-}" ] && [ -f "$POSTURE_ROOTFS_CACHE" ]; then
    mkdir -p "$root"
    tar -xpf "$POSTURE_ROOTFS_CACHE" -C "$root"
    echo "unpacked $POSTURE_ROOTFS_CACHE"
else
    # systemd for systemd-analyze and systemctl (not running: the root is never booted), man-db so
    # verify can check the unit's Documentation=man: pages, procps for the collector package's
    # dependency (/bin/kill in its ExecReload; dpkg -i does not fetch dependencies).
    debootstrap --variant=minbase --include=systemd,man-db,procps "$suite" "$root" \
        ${POSTURE_DEBIAN_MIRROR:+"$POSTURE_DEBIAN_MIRROR"} >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; die "debootstrap $suite failed"; }
    echo "debootstrap $suite: done"
    if [ -n "${POSTURE_ROOTFS_CACHE:-}" ]; then
        tar -cpf "$POSTURE_ROOTFS_CACHE" -C "$root" .
        echo "saved the root to $POSTURE_ROOTFS_CACHE"
    fi
fi
# /proc and a read-only /sys, so `posture --check` inside sees a real system to judge.
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys" \
    || echo "note: cannot mount sysfs here; the checks will report what they could not read"

in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
cp "$deb1" "$deb2" "$root/tmp/"
rdeb1="/tmp/$(basename "$deb1")"
rdeb2="/tmp/$(basename "$deb2")"

mode_of() { in_root stat -c '%a %U:%G' "$1" 2>/dev/null; }
has_mode() { [ "$(mode_of "$1")" = "$2" ]; }
exists() { [ -e "$root$1" ] || [ -L "$root$1" ]; }
absent() { ! exists "$1"; }
dpkg_status() { in_root dpkg-query -W -f '${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' '; }
enabled_link=/etc/systemd/system/multi-user.target.wants/posture.service

# An admin's edit of the config; upgrades must keep it.
edit_config() {
    in_root sed -i 's|^#interval = .*|interval = "30m"|' /etc/posture/config.toml
}

# A collector on this machine's loopback, which the chroot shares: the host-built binary of the
# collector package (or nothing, when there is none), with its own database under $work. Its
# first start writes the enrollment secret to initial-secrets.txt in its state directory (never
# to standard output). COLLECTOR_PORT keeps the port across restarts.
collector_pid=
collector_url=
enroll_secret=
start_collector() {
    local log="$work/collector.$1.log"
    "$collector_bin" serve --database "sqlite:$work/collector.db" \
        --state-dir "$work/collector-state" --listen "127.0.0.1:${COLLECTOR_PORT:-0}" >"$log" 2>&1 &
    collector_pid=$!
    local i
    for i in $(seq 1 100); do
        collector_url=$(sed -n 's/^posture-collector listening on \(http:[^ ]*\)$/\1/p' "$log")
        [ -n "$collector_url" ] && break
        kill -0 "$collector_pid" 2>/dev/null || break
        sleep 0.2
    done
    [ -n "$collector_url" ] || { cat "$log"; die "the collector did not start"; }
    COLLECTOR_PORT=${collector_url##*:}
    if [ -z "$enroll_secret" ]; then
        enroll_secret=$(sed -n 's/^enrollment secret: //p' "$work/collector-state/initial-secrets.txt" 2>/dev/null || true)
        [ -n "$enroll_secret" ] || { cat "$log"; die "the collector's first start wrote no enrollment secret"; }
    fi
}
stop_collector() {
    [ -n "$collector_pid" ] || return 0
    kill "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
    collector_pid=
}

# The state the installed agent writes itself, which upgrades must keep: `posture enroll`
# against the collector (credentials.json), one `posture run --once` delivered, then one spooled
# while the collector is down (a 20-digit spool key). Never files written by this script.
seed_state() {
    edit_config
    if $collector; then
        start_collector first
        # The secret through the environment: one in 64 starts with "-".
        check "the installed posture enrolls with a local collector" \
            in_root POSTURE_ENROLL_SECRET="$enroll_secret" /usr/bin/posture enroll \
            --endpoint "$collector_url"
        check "posture run --once delivers a report to it" \
            in_root /usr/bin/posture run --once --log-format json
        check "the delivered report left the spool" \
            bash -c '! ls "$0"/*.json >/dev/null 2>&1' "$root/var/lib/posture/spool"
        stop_collector
    else
        check "the installed posture sets up webhook mode" \
            in_root /usr/bin/posture enroll --webhook --endpoint http://127.0.0.1:9
    fi
    in_root /usr/bin/posture run --once --log-format json >"$work/run-down.log" 2>&1 \
        && down_rc=0 || down_rc=$?
    check "posture run --once with the endpoint down exits 2 and keeps the report" [ "$down_rc" = 2 ]
    spooled=$(cd "$root/var/lib/posture/spool" && ls -- *.json 2>/dev/null || true)
    check "the spool holds one report under a 20-digit key ($spooled)" \
        bash -c '[[ "$0" =~ ^[0-9]{20}\.json$ ]]' "$spooled"
    check "the agent wrote credentials.json 0600" \
        has_mode /var/lib/posture/credentials.json "600 root:root"
    cp "$root/var/lib/posture/credentials.json" "$work/credentials.before"
    cp "$root/var/lib/posture/spool/$spooled" "$work/spooled.before" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
step "install $version1 (systemd not running)"
check "dpkg -i succeeds without a running systemd" in_root dpkg -i "$rdeb1" </dev/null
check "package is installed" [ "$(dpkg_status posture)" = ii ]
check "/usr/bin/posture is 0755 root:root" has_mode /usr/bin/posture "755 root:root"
check "/etc/posture/config.toml is 0640 root:root" has_mode /etc/posture/config.toml "640 root:root"
check "/var/lib/posture is 0700 root:root" has_mode /var/lib/posture "700 root:root"
check "installed unit is packaging/linux/posture.service" \
    cmp -s "$here/posture.service" "$root/usr/lib/systemd/system/posture.service"
# deb-systemd-helper links to /lib/systemd/system, the same directory on merged-/usr systems.
check "service is enabled (multi-user.target.wants link)" \
    bash -c "readlink '$root$enabled_link' | grep -qE '^(/usr)?/lib/systemd/system/posture.service\$'"
verify_out=$(in_root systemd-analyze verify posture.service 2>&1) && verify_rc=0 || verify_rc=$?
[ -z "$verify_out" ] || echo "$verify_out"
check "systemd-analyze verify posture.service: no error, no warning (man pages found too)" \
    [ "$verify_rc:$verify_out" = "0:" ]
check "the unit is Type=notify, sandboxed and keeps only CAP_DAC_READ_SEARCH" bash -c '
    u=$1
    for d in Type=notify ProtectSystem=strict ProtectHome=read-only NoNewPrivileges=yes \
        PrivateTmp=yes StateDirectory=posture ConfigurationDirectory=posture \
        StateDirectoryMode=0700 CapabilityBoundingSet=CAP_DAC_READ_SEARCH \
        "ExecStart=/usr/bin/posture run"; do
        grep -qx "$d" "$u" || { echo "missing: $d"; exit 1; }
    done' _ "$root/usr/lib/systemd/system/posture.service"
check "posture --version names the packaged version" \
    bash -c "[[ \"\$(chroot '$root' /usr/bin/posture --version)\" == \"posture ${version1%-*}\" ]]"

json="$work/report.json"
in_root /usr/bin/posture --check --format json >"$json" 2>"$work/check.stderr" && check_rc=0 || check_rc=$?
echo "posture --check exited $check_rc: $(jq -r '.posture // "no verdict"' "$json" 2>/dev/null || echo "not JSON")"
check "installed posture --check exits 0, 1 or 2" [ "$check_rc" -le 2 ]
check "its report is JSON with the schema's required fields" jq -e '
    (.schema_version, .report_id, .generated_at, .agent, .posture, .device, .policy) != null
    and (.checks | type == "array" and length > 0)' "$json"
expected_rc=$(jq -r '{"compliant": 0, "noncompliant": 1}[.posture] // 2' "$json" 2>/dev/null || echo x)
check "its exit status matches its verdict ($(jq -r .posture "$json" 2>/dev/null) -> $expected_rc)" \
    [ "$check_rc" = "$expected_rc" ]
check "man posture works in the installed system" bash -c "chroot '$root' man -w posture >/dev/null"

# ---------------------------------------------------------------------------------------------
step "upgrade to $version2"
seed_state
check "dpkg -i of the newer version succeeds (no conffile prompt)" in_root dpkg -i "$rdeb2" </dev/null
check "version $version2 is installed" \
    [ "$(in_root dpkg-query -W -f '${Version}' posture)" = "$version2" ]
check "the admin's config edit survived" grep -qx 'interval = "30m"' "$root/etc/posture/config.toml"
check "no .dpkg-new/.dpkg-dist copy of the config was left" \
    bash -c "! ls '$root'/etc/posture/config.toml.dpkg-* >/dev/null 2>&1"
check "the enrollment (credentials.json) survived unchanged" \
    cmp -s "$work/credentials.before" "$root/var/lib/posture/credentials.json"
check "credentials.json is still 0600" has_mode /var/lib/posture/credentials.json "600 root:root"
check "the spooled report survived unchanged" \
    cmp -s "$work/spooled.before" "$root/var/lib/posture/spool/$spooled"
status_json=$(in_root /usr/bin/posture status --json 2>/dev/null || echo '{}')
if $collector; then
    check "posture status after the upgrade: enrolled, with a device id and one report delivered" \
        jq -e '.enrolled == true and (.device_id | type == "string")
            and .status.delivered_total == 1 and .spool.reports == 1' <<<"$status_json"
    # The token still works after the upgrade: the collector takes the spooled report.
    start_collector after-upgrade
    check "after the upgrade, posture run --once delivers with the same token" \
        in_root /usr/bin/posture run --once --log-format json
    stop_collector
    check "... and the spool is empty" \
        bash -c '[ -z "$(ls -A "$0" | grep -E "^[0-9]{20}\.json$")" ]' "$root/var/lib/posture/spool"
else
    check "posture status after the upgrade: webhook mode, one report spooled" \
        jq -e '.enrolled == true and .spool.reports == 1' <<<"$status_json"
fi
check "/var/lib/posture is still 0700" has_mode /var/lib/posture "700 root:root"
check "/etc/posture/config.toml is still 0640" has_mode /etc/posture/config.toml "640 root:root"
check "service is still enabled" exists "$enabled_link"

# ---------------------------------------------------------------------------------------------
step "remove"
check "dpkg -r succeeds" in_root dpkg -r posture </dev/null
check "package is removed, config kept (rc)" [ "$(dpkg_status posture)" = rc ]
check "binary and unit are gone" bash -c "! [ -e '$root/usr/bin/posture' ] && ! [ -e '$root/usr/lib/systemd/system/posture.service' ]"
check "config is kept on remove" grep -qx 'interval = "30m"' "$root/etc/posture/config.toml"
check "enrollment and spool are kept on remove" \
    bash -c "[ -f '$root/var/lib/posture/credentials.json' ] && [ -d '$root/var/lib/posture/spool' ]"

step "purge"
check "dpkg -P succeeds" in_root dpkg -P posture </dev/null
check "package is gone from dpkg's database" [ -z "$(dpkg_status posture)" ]
check "state (/var/lib/posture) is removed" absent /var/lib/posture
check "config (/etc/posture) is removed" absent /etc/posture
check "the enable link is removed" absent "$enabled_link"

# ---------------------------------------------------------------------------------------------
step "install, upgrade, remove with systemd running (recorded systemctl)"
# The maintainer scripts act on the service only when /run/systemd/system exists. A stand-in
# systemctl, first on the PATH dpkg gives maintainer scripts, records what they ask for and keeps
# a running/stopped flag; unit-file work (preset, is-enabled) goes to the real systemctl, which
# does it offline.
mkdir -p "$root/run/systemd/system"
cat >"$root$fake_systemctl" <<'EOF'
#!/bin/sh
log=/run/recorded-systemctl.log
flag=/run/posture-service-active
args=$(echo "$*" | sed 's/--quiet //g; s/--system //g; s/-- //g')
echo "$args" >>"$log"
case "$args" in
    # Offline unit-file work (deb-systemd-helper's `systemctl --root=/ preset`): the real thing.
    *--root=*) exec /usr/bin/systemctl "$@" ;;
    --version*) exec /usr/bin/systemctl "$@" ;;
    # --root=/ makes the real systemctl read unit files instead of asking a manager.
    is-enabled*) exec /usr/bin/systemctl --root=/ "$@" ;;
    list-units*) exit 0 ;;
    is-active*) [ -e "$flag" ] ;;
    "start posture.service"|"restart posture.service") : >"$flag" ;;
    "stop posture.service") rm -f "$flag" ;;
esac
exit 0
EOF
chmod 0755 "$root$fake_systemctl"
recorded() { grep -qx "$1" "$root/run/recorded-systemctl.log"; }
running() { [ -e "$root/run/posture-service-active" ]; }

check "dpkg -i with systemd running succeeds" in_root dpkg -i "$rdeb1" </dev/null
check "install reloads systemd" recorded "daemon-reload"
check "install starts the service" recorded "start posture.service"
check "service is running after install" running
: >"$root/run/recorded-systemctl.log"
check "upgrade with systemd running succeeds" in_root dpkg -i "$rdeb2" </dev/null
check "upgrade restarts the service (new binary runs)" recorded "restart posture.service"
check "upgrade does not stop it first" bash -c "! grep -qx 'stop posture.service' '$root/run/recorded-systemctl.log'"
check "service is running after upgrade" running
: >"$root/run/recorded-systemctl.log"
check "dpkg -r with systemd running succeeds" in_root dpkg -r posture </dev/null
check "remove stops the service" recorded "stop posture.service"
check "service is stopped after remove" bash -c "! [ -e '$root/run/posture-service-active' ]"
check "dpkg -P with systemd running succeeds" in_root dpkg -P posture </dev/null
check "nothing of posture is left" bash -c "! [ -e '$root/var/lib/posture' ] && ! [ -e '$root/etc/posture' ] && ! [ -e '$root$enabled_link' ]"
rm -f "$root$fake_systemctl" "$root/run/recorded-systemctl.log" "$root/run/posture-service-active"
rmdir "$root/run/systemd/system"

# ---------------------------------------------------------------------------------------------
step "the .rpm"
rpm_list=$(rpm -qlvp "$rpm1")
rpm_has() { # MODE PATH
    grep -qE "^$1 +[0-9]+ root +root +[0-9]+ .* $2\$" <<<"$rpm_list"
}
check "rpm ships /usr/bin/posture 0755" rpm_has '-rwxr-xr-x' /usr/bin/posture
check "rpm ships /etc/posture/config.toml 0640" rpm_has '-rw-r-----' /etc/posture/config.toml
check "rpm ships the unit in /usr/lib/systemd/system" rpm_has '-rw-r--r--' /usr/lib/systemd/system/posture.service
check "rpm ships man pages and completions" bash -c '
    for f in /usr/share/man/man1/posture.1 /usr/share/man/man1/posture-run.1 \
        /usr/share/bash-completion/completions/posture /usr/share/zsh/site-functions/_posture \
        /usr/share/fish/vendor_completions.d/posture.fish; do
        rpm -qlp "$0" | grep -qx "$f" || { echo "missing: $f"; exit 1; }
    done' "$rpm1"
check "rpm marks config.toml %config(noreplace)" \
    bash -c "rpm -qp --configfiles '$rpm1' | grep -qx /etc/posture/config.toml && rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$rpm1' | grep -qx 'cn /etc/posture/config.toml'"
rpm_scripts=$(rpm -qp --scripts "$rpm1")
check "rpm %post creates the state dir 0700 and enables on first install" \
    bash -c "grep -q 'install -d -m 0700 -o root -g root /var/lib/posture' <<<\"\$0\" && grep -q 'systemctl enable posture.service' <<<\"\$0\"" "$rpm_scripts"
check "rpm %preun stops and disables on removal" \
    bash -c "grep -q 'systemctl stop posture.service' <<<\"\$0\" && grep -q 'systemctl disable posture.service' <<<\"\$0\"" "$rpm_scripts"
check "rpm %postun restarts on upgrade" bash -c "grep -q 'systemctl try-restart posture.service' <<<\"\$0\"" "$rpm_scripts"
check "rpm scriptlets are valid sh" bash -c '
    for tag in POSTIN PREUN POSTUN; do
        rpm -qp --qf "%{$tag}" "$0" | sh -n || { echo "bad $tag"; exit 1; }
    done' "$rpm1"

# Install it for real into the same root (rpm's own database there), so the scriptlets run.
mkdir -p "$root/var/lib/rpm"
rpm --root "$root" --initdb
check "rpm -i runs its scriptlets without a running systemd" \
    rpm --root "$root" -i --nodeps --nosignature "$rpm1"
check "rpm install: /var/lib/posture is 0700" has_mode /var/lib/posture "700 root:root"
check "rpm install: config is 0640" has_mode /etc/posture/config.toml "640 root:root"
check "rpm install: service is enabled" exists "$enabled_link"
check "rpm install: posture --check runs (exit 0-2)" \
    bash -c "chroot '$root' /usr/bin/posture --check >/dev/null 2>&1; [ \$? -le 2 ]"
edit_config
check "rpm -e succeeds" rpm --root "$root" -e posture
check "rpm erase: binary gone, service disabled" \
    bash -c "! [ -e '$root/usr/bin/posture' ] && ! [ -e '$root$enabled_link' ]"
check "rpm erase: the edited config is saved as config.toml.rpmsave" \
    grep -qx 'interval = "30m"' "$root/etc/posture/config.toml.rpmsave"
rm -rf "$root/var/lib/posture" "$root/etc/posture"

# ---------------------------------------------------------------------------------------------
if $collector; then
    step "the collector .deb"
    cp "$collector_deb" "$root/tmp/"
    rcdeb="/tmp/$(basename "$collector_deb")"
    check "collector: depends on procps (the unit's ExecReload runs /bin/kill)" \
        bash -c "dpkg-deb -f '$collector_deb' Depends | grep -qE '(^|, )procps( |,|\$)'"
    check "collector: dpkg -i succeeds" in_root dpkg -i "$rcdeb" </dev/null
    check "collector: binary is 0755" has_mode /usr/bin/posture-collector "755 root:root"
    check "collector: settings file is a conffile, 0640" has_mode /etc/posture-collector/collector.env "640 root:root"
    check "collector: unit installed and enabled" \
        exists /etc/systemd/system/multi-user.target.wants/posture-collector.service
    cverify=$(in_root systemd-analyze verify --man=no posture-collector.service 2>&1) && crc=0 || crc=$?
    [ -z "$cverify" ] || echo "$cverify"
    check "collector: systemd-analyze verify passes" [ "$crc:$cverify" = "0:" ]
    check "collector: posture-collector --version runs" bash -c "chroot '$root' /usr/bin/posture-collector --version >/dev/null"
    mkdir -p "$root/var/lib/private/posture-collector"
    printf 'db' >"$root/var/lib/private/posture-collector/collector.db"
    check "collector: dpkg -P succeeds" in_root dpkg -P posture-collector </dev/null
    check "collector: purge removes its database and settings" \
        bash -c "! [ -e '$root/var/lib/private/posture-collector' ] && ! [ -e '$root/etc/posture-collector' ]"
fi

# ---------------------------------------------------------------------------------------------
echo
echo "test-deb.sh took $(($(date +%s) - started)) s"
echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
