#!/usr/bin/env bash
# Installs the Debian packages Lessor builds and tests with, when any is missing.
# Safe to run again: it does nothing when everything is there.
set -euo pipefail
# chromium and chromium-driver: the status page's browser test (StatusPageBrowserTests).
packages=(libhiredis-dev pkg-config redis-server redis-tools haproxy python3 python3-venv curl jq chromium chromium-driver)
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
