#!/usr/bin/env bash
# Install headless Chromium from Debian packages for the collector's dashboard test.
# Idempotent: does nothing when chromium is already installed. Runs as root on Debian 12.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium) already installed" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: must run as root to install packages" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y chromium chromium-driver >&2
chromium --version >&2
