#!/bin/sh
# Installs the Debian packages xinyong needs to build and test (no option),
# fuzz and run the sanitizers (--dev) or benchmark against its peers, Redis
# and SQLite (--bench), and nothing else. It asks apt only when a package is missing, so a second run
# is quiet and fast.
set -eu
need="gcc make libjansson-dev libisal-dev jq"
case "${1:-}" in
    --dev) need="$need clang libclang-rt-14-dev" ;;
    --bench) need="$need redis-server libsqlite3-dev" ;;
esac
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
