#!/usr/bin/env bash
# Installs the Debian packages Lessor builds and runs with, and any named as arguments (the
# test command adds chromium and chromium-driver), when any is missing.
# Safe to run again: it does nothing when everything is there.
set -euo pipefail
packages=(libhiredis-dev pkg-config redis-server redis-tools haproxy python3 python3-venv curl jq "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
