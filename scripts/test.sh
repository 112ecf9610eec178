#!/usr/bin/env bash
# The whole test suite, as CI runs it: `scripts/test.sh`.
#
# Integration tests of the collector also run against a real PostgreSQL and drive the dashboard in
# headless Chromium. This script installs and starts both from Debian's packages when it can (as
# root, or with sudo). Without them those tests are reported as ignored (never as passed) and
# everything else runs; under CI=true (as .ci/run sets) they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

if [ -z "${POSTURE_TEST_POSTGRES_URL:-}" ] && [ -x scripts/start-postgres.sh ]; then
    if url=$(as_root scripts/start-postgres.sh | tail -n 1) && [ -n "$url" ]; then
        export POSTURE_TEST_POSTGRES_URL="$url"
        echo "test.sh: PostgreSQL tests use $POSTURE_TEST_POSTGRES_URL"
    else
        echo "test.sh: PostgreSQL could not be started; its tests will be ignored (and fail under CI=true)"
    fi
fi
if ! command -v chromium >/dev/null && [ -x scripts/install-chromium.sh ]; then
    as_root scripts/install-chromium.sh || echo "test.sh: Chromium could not be installed; the browser test will be ignored (and fail under CI=true)"
fi

cargo test --workspace --locked "$@"
