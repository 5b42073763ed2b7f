#!/bin/sh
# The dependency step of `make check` and `make demo`: on Debian 12 it installs
# whatever is missing (apt-get when root), otherwise prints the exact command.
# `deps.sh bench` adds what `make bench` needs for its PyTorch peers.
set -eu
PKGS="build-essential libcjson-dev libturbojpeg0-dev libpng-dev zlib1g-dev libopenblas-dev \
bats bats-support bats-assert mandoc python3-numpy python3-pil jq sentencepiece"
[ "${1:-}" = bench ] && PKGS="$PKGS python3-torch time"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "pv: missing packages:$missing (install them with your package manager)" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    echo "pv: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "pv: missing packages; run:" >&2
    echo "    sudo apt-get install -y$missing" >&2
    exit 1
fi
