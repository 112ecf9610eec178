#!/usr/bin/env bash
# Type-checks and lints the macOS and Windows code of the agent on a Linux machine:
#
#     scripts/cross-check.sh [TARGET...]
#
# Targets (default: all three): x86_64-pc-windows-gnu, x86_64-pc-windows-msvc (the MSI's target)
# and aarch64-apple-darwin. Crates: everything that ships in the agent (posture-agent and its
# library crates schema, policy, host, checks, client), with --all-targets (lib, bin, tests).
# The collector is a Linux server and is not checked for these targets.
#
# How: no rustup target ships a standard library we could use here without downloading it, so
# the script uses Debian's `rustc-web`/`cargo-web` toolchain, whose `rust-web-src` package carries
# the matching standard-library source, and builds std for each target with `-Zbuild-std`
# (`RUSTC_BOOTSTRAP=1`). Only this script uses that toolchain; the rest of the project keeps the
# rustup toolchain of rust-toolchain.toml. Nothing is linked, so the C that dependencies compile
# (ring) only has to compile: MinGW's gcc for windows-gnu, clang (as clang-cl, with llvm-lib) for
# windows-msvc and clang for macOS, each given a few stub headers that stand in for the SDK
# (string.h, assert.h, TargetConditionals.h for ring; stdlib.h and windows.h for ring and
# stacker under clang-cl).
#
# Lints: clippy works with -Zbuild-std. The script runs Debian's clippy-driver (`rust-web-clippy`)
# as the workspace wrapper of Debian's `cargo check` (what `cargo clippy` does), with the
# workspace's lint levels and `-D warnings`: cargo, rustc and clippy-driver are then one Debian
# build, and std is built by the rustc that clippy-driver is. Running `cargo clippy` with
# rustup's proxies first on PATH mixes the rustup and Debian sysroots (std "compiled by an
# incompatible version of rustc"); that is why the script calls /usr/bin/cargo itself.
# POSTURE_CROSS_LINT=check runs plain `cargo check` (still with warnings denied) instead.
#
# The standard library and all dependencies are built once per target into a cache outside the
# repository, POSTURE_CROSS_CACHE (default: $XDG_CACHE_HOME/posture-cross or
# ~/.cache/posture-cross); later runs are incremental. The workspace's own target/ is untouched.
#
# Packages: the Debian packages it needs are installed with apt-get when missing (as root, or
# with sudo). Under CI=true a missing package, a failed install, or a machine without apt is a
# failure; elsewhere the script says what is missing and exits 0 without checking. A Debian
# toolchain older than the workspace's rust-version is always a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(x86_64-pc-windows-gnu x86_64-pc-windows-msvc aarch64-apple-darwin)
CRATES=(posture-agent posture-schema posture-policy posture-host posture-checks posture-client)
CACHE="${POSTURE_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/posture-cross}"
LINT="${POSTURE_CROSS_LINT:-clippy}"

say() { echo "cross-check: $*" >&2; }
die() { say "error: $*"; exit 1; }
# Outside CI, a machine that cannot provide the toolchain skips the check, loudly.
unavailable() {
    if [ "${CI:-}" = true ]; then die "$*"; fi
    say "SKIPPED: $*"
    say "the macOS and Windows code was NOT type-checked; CI (CI=true) fails here instead"
    exit 0
}

if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
packages=(rustc-web cargo-web rust-web-src)
[ "$LINT" = clippy ] && packages+=(rust-web-clippy)
for t in "${TARGETS[@]}"; do
    case "$t" in
        x86_64-pc-windows-gnu) packages+=(gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64) ;;
        x86_64-pc-windows-msvc) packages+=(clang llvm) ;;
        aarch64-apple-darwin) packages+=(clang) ;;
        *) die "unsupported target $t (supported: ${ALL_TARGETS[*]})" ;;
    esac
done
case "$LINT" in clippy | check) ;; *) die "POSTURE_CROSS_LINT must be clippy or check, not $LINT" ;; esac

# --- Debian packages, installed only when missing ------------------------------------------
command -v dpkg-query >/dev/null || unavailable "no dpkg here: this script needs Debian's rustc-web packages"
missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
        unavailable "missing Debian packages ${missing[*]} and not root (no sudo) to install them"
    fi
    if ! { "${sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2; then
        unavailable "apt-get could not install ${missing[*]}"
    fi
fi

# --- The Debian toolchain, and only it -----------------------------------------------------
for f in /usr/bin/cargo /usr/bin/rustc; do [ -x "$f" ] || die "$f is missing after installing cargo-web and rustc-web"; done
[ "$LINT" = clippy ] && { [ -x /usr/bin/clippy-driver ] || die "/usr/bin/clippy-driver is missing after installing rust-web-clippy"; }
have=$(/usr/bin/rustc --version | awk '{print $2}')
need=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -n "$need" ] || die "no rust-version in Cargo.toml"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
    die "Debian's rustc is $have, older than the workspace's rust-version $need: the macOS and Windows code cannot be checked with it (a newer rustc-web is needed)"
fi
src=$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library
[ -d "$src" ] || die "no standard-library source at $src (package rust-web-src)"

# --- Stub headers and tool names for the C that dependencies compile -----------------------
mkdir -p "$CACHE/stubs/msvc" "$CACHE/bin"
stubs="$CACHE/stubs"
# Writes stdin to $1 only when it differs, so that nothing rebuilds for a new timestamp.
stub() { local new; new=$(cat); [ -f "$1" ] && [ "$(cat "$1")" = "$new" ] || printf '%s\n' "$new" >"$1"; }
stub "$stubs/TargetConditionals.h" <<'EOF'
/* Check-only build on Linux: stands in for the Apple SDK header (nothing is linked). */
#define TARGET_OS_OSX 1
#define TARGET_OS_MAC 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_VISION 0
#define TARGET_OS_SIMULATOR 0
EOF
stub "$stubs/assert.h" <<'EOF'
/* Check-only build on Linux: stands in for the SDK header (nothing is linked). */
#define assert(x) ((void)0)
EOF
stub "$stubs/string.h" <<'EOF'
/* Check-only build on Linux: stands in for the SDK header (nothing is linked). */
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
EOF
stub "$stubs/msvc/stdlib.h" <<'EOF'
/* Check-only build on Linux: stands in for the MSVC header (nothing is linked). */
unsigned long _byteswap_ulong(unsigned long);
unsigned __int64 _byteswap_uint64(unsigned __int64);
unsigned short _byteswap_ushort(unsigned short);
__declspec(noreturn) void abort(void);
EOF
stub "$stubs/msvc/windows.h" <<'EOF'
/* Check-only build on Linux: stands in for the Windows SDK header (nothing is linked); declares
   what stacker's C uses (stacker comes with insta, a dev-dependency). */
typedef void *PVOID;
PVOID GetCurrentFiber(void);
EOF
ln -sf "$(readlink -f "$(command -v clang)")" "$CACHE/bin/clang-cl"
llvm_ar=$(readlink -f "$(command -v llvm-ar)")
ln -sf "$llvm_ar" "$CACHE/bin/llvm-lib"
resource=$(clang -print-resource-dir)

export CC_aarch64_apple_darwin=clang
export CFLAGS_aarch64_apple_darwin="--target=arm64-apple-macos11 -ffreestanding -nostdinc -isystem $resource/include -isystem $stubs"
export CC_x86_64_pc_windows_msvc=clang-cl
export AR_x86_64_pc_windows_msvc=llvm-lib
export CFLAGS_x86_64_pc_windows_msvc="/X -imsvc $resource/include -imsvc $stubs/msvc -imsvc $stubs"
# The bundled SQLite (the credentials check reads copies of users' SQLite databases with it) needs
# the SDKs' full C headers, which these stubs are not. Nothing is linked here, so libsqlite3-sys is
# told to name the system library instead of compiling its copy; real builds compile it as usual.
export LIBSQLITE3_SYS_USE_PKG_CONFIG=1

# Debian's cargo, rustc and clippy-driver before rustup's proxies; rust-toolchain.toml is a
# rustup file and does not apply to them.
export PATH="$CACHE/bin:/usr/bin:$PATH"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$CACHE/target"
unset RUSTC_WRAPPER RUSTUP_TOOLCHAIN RUSTFLAGS CARGO_BUILD_RUSTFLAGS
# Warnings of the workspace crates are errors; std and the dependencies are built with the same
# flags in both modes, so switching modes never rebuilds them.
unset CARGO_ENCODED_RUSTFLAGS
if [ "$LINT" = clippy ]; then
    export RUSTC_WORKSPACE_WRAPPER=/usr/bin/clippy-driver
    # How `cargo clippy -- -D warnings` hands its flags to clippy-driver.
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
else
    printf '#!/bin/sh\nexec "$@" -Dwarnings\n' >"$CACHE/bin/deny-warnings"
    chmod +x "$CACHE/bin/deny-warnings"
    export RUSTC_WORKSPACE_WRAPPER="$CACHE/bin/deny-warnings"
fi

package_args=()
for c in "${CRATES[@]}"; do package_args+=(-p "$c"); done
say "$LINT with $(/usr/bin/cargo --version) and $(/usr/bin/rustc --version | cut -d' ' -f1,2); cache $CACHE"
failed=()
for t in "${TARGETS[@]}"; do
    say "=== $t ($(date -u +%H:%M:%S))"
    if ! /usr/bin/cargo check --locked --all-targets -Zbuild-std=std,panic_abort --target "$t" "${package_args[@]}"; then
        failed+=("$t")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then die "failed for ${failed[*]}"; fi
say "ok: ${TARGETS[*]}"
