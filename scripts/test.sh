#!/usr/bin/env bash
# Runs the whole test suite: unit tests and tests against real redis-server processes
# that the suite starts on free loopback ports. Extra arguments go to `swift test`
# (for example --filter RedisClientTests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# Fail on any compiler warning in our own code (dependencies' warnings are theirs).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
swift build --build-tests 2>&1 | tee "$log"
if grep -E "^$PWD/(Sources|Tests|bench)/.*warning:" "$log"; then
  echo "error: the build above has warnings in Lessor's own code" >&2
  exit 1
fi
swift test --skip-build --disable-xctest "$@"
