#!/usr/bin/env bash
# Builds the posture agent installer for macOS: target/macos-pkg/posture-VERSION.pkg.
#
#   packaging/macos/build-pkg.sh [--universal] [--sign "Developer ID Installer: NAME (TEAM)"]
#
# Runs on macOS only (pkgbuild, productbuild, lipo come with the Xcode command line tools).
# --universal builds for arm64 and x86_64 and joins them with lipo (both Rust targets must be
# installed: rustup target add aarch64-apple-darwin x86_64-apple-darwin). Signing the binary
# (codesign) and notarizing the result (xcrun notarytool) need Apple credentials and are left to
# the release job.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

universal=false
sign_identity=
while [ $# -gt 0 ]; do
    case "$1" in
        --universal) universal=true ;;
        --sign) sign_identity=${2:?--sign needs an identity}; shift ;;
        *) echo "usage: $0 [--universal] [--sign IDENTITY]" >&2; exit 2 ;;
    esac
    shift
done

[ "$(uname -s)" = Darwin ] || { echo "error: build-pkg.sh runs on macOS only" >&2; exit 2; }

version=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "posture-agent"))')
out="$repo/target/macos-pkg"
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/root" "$out"

if $universal; then
    cargo build --release --locked -p posture-agent --target aarch64-apple-darwin
    cargo build --release --locked -p posture-agent --target x86_64-apple-darwin
    binary="$stage/posture"
    lipo -create -output "$binary" \
        target/aarch64-apple-darwin/release/posture target/x86_64-apple-darwin/release/posture
else
    cargo build --release --locked -p posture-agent
    binary=target/release/posture
fi

# The payload, laid out as it lands on the Mac.
root="$stage/root"
install -d "$root/usr/local/bin" "$root/Library/LaunchDaemons" \
    "$root/usr/local/share/man/man1" "$root/usr/local/share/zsh/site-functions" \
    "$root/usr/local/share/posture"
install -m 0755 "$binary" "$root/usr/local/bin/posture"
install -m 0644 "$here/com.posture.agent.plist" "$root/Library/LaunchDaemons/"
"$binary" generate man --out "$root/usr/local/share/man/man1"
"$binary" generate completions zsh --out "$root/usr/local/share/zsh/site-functions"
# The Linux default config with this platform's paths; postinstall copies it to
# /Library/Application Support/posture/config.toml on first install only.
sed -e 's|/var/lib/posture|/Library/Application Support/posture/state|g' \
    -e 's|/etc/posture|/Library/Application Support/posture|g' \
    -e 's|Under systemd the unit.s StateDirectory= decides it.|The LaunchDaemon runs as root, so this is the system location.|' \
    "$repo/packaging/linux/config.toml" > "$root/usr/local/share/posture/config.toml.example"
chmod 0644 "$root/usr/local/share/posture/config.toml.example"
install -m 0755 "$here/uninstall.sh" "$root/usr/local/share/posture/uninstall.sh"

# --ownership recommended: files are installed root:wheel whoever built the package, which
# launchd insists on for LaunchDaemons.
pkgbuild --root "$root" \
    --identifier com.posture.agent \
    --version "$version" \
    --scripts "$here/scripts" \
    --ownership recommended \
    --install-location / \
    "$stage/posture-component.pkg"

sed "s/@VERSION@/$version/" "$here/distribution.xml" > "$stage/distribution.xml"
sign_args=()
[ -n "$sign_identity" ] && sign_args=(--sign "$sign_identity")
productbuild --distribution "$stage/distribution.xml" \
    --package-path "$stage" \
    "${sign_args[@]}" \
    "$out/posture-$version.pkg"

echo "built $out/posture-$version.pkg"
