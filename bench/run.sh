#!/usr/bin/env bash
# The benchmark runner (issue #7): Lessor against this machine's floors (a Hummingbird hello
# world, nginx, redis-benchmark) and against etcd leases, in one run, as ratios. Installs what
# it needs, builds the release binaries, starts every server on free loopback ports, stops
# them all, and writes bench/results/<date>.md and .png.
#
#   bash bench/run.sh                  (DURATION=10 seconds per wrk run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
missing=()
for package in wrk nginx-light etcd-server valgrind linux-perf; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts the packaged services; the runner starts its own on free ports.
  $sudo service nginx stop >/dev/null 2>&1 || true
  $sudo service etcd stop >/dev/null 2>&1 || true
fi
venv=.build/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import matplotlib" 2>/dev/null || "$venv/bin/pip" install -q matplotlib

swift build -c release --product lessor 2>&1 | grep -v "prohibited flag" | tail -1
swift build -c release --product HelloWorldBench 2>&1 | grep -v "prohibited flag" | tail -1
BIN="$(swift build -c release --show-bin-path)" exec "$venv/bin/python" bench/run.py
