#!/bin/sh
# Removes the posture agent from a Mac (macOS packages have no uninstaller of their own).
#   sudo /usr/local/share/posture/uninstall.sh           keeps config, enrollment and spool
#   sudo /usr/local/share/posture/uninstall.sh --purge   deletes them too
set -eu

[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0 $*" >&2; exit 2; }

LABEL=com.posture.agent
/bin/launchctl bootout "system/$LABEL" 2>/dev/null || true
rm -f "/Library/LaunchDaemons/$LABEL.plist" /usr/local/bin/posture \
    /usr/local/share/man/man1/posture.1 /usr/local/share/man/man1/posture-*.1 \
    /usr/local/share/zsh/site-functions/_posture
rm -rf /usr/local/share/posture
if [ "${1:-}" = "--purge" ]; then
    rm -rf "/Library/Application Support/posture" /Library/Logs/posture
fi
/usr/sbin/pkgutil --forget "$LABEL" >/dev/null 2>&1 || true
echo "posture removed${1:+ (purged)}"
