#!/usr/bin/env bash
# Runs one Lessor front node (release build) with any `lessor serve` flags you pass.
# Without LESSOR_REDIS_URL, LESSOR_REDIS_CLUSTER or LESSOR_REDIS_SENTINELS (or their flags)
# it starts a local redis-server for you on a
# free loopback port, keeps its data in .lessor/redis, and stops it when Lessor exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

swift build -c release --product lessor
bin="$(swift build -c release --show-bin-path)/lessor"

redis_port=""
stop_redis() {
  [ -n "$redis_port" ] && redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
}
if [ -z "${LESSOR_REDIS_URL:-}${LESSOR_REDIS_CLUSTER:-}${LESSOR_REDIS_SENTINELS:-}" ] \
   && [[ " $* " != *" --redis-url"* && " $* " != *" --redis-cluster"* && " $* " != *" --redis-sentinels"* ]]; then
  mkdir -p .lessor/redis
  redis_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$PWD/.lessor/redis" \
    --logfile "$PWD/.lessor/redis/redis.log" --daemonize yes
  trap stop_redis EXIT
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  export LESSOR_REDIS_URL="redis://127.0.0.1:$redis_port"
  echo "lessor: no LESSOR_REDIS_URL given, so I started redis-server at $LESSOR_REDIS_URL" \
       "(data in .lessor/redis); it stops when Lessor does." >&2
fi

# Without an admin token (LESSOR_ADMIN_TOKEN, LESSOR_ADMIN_TOKEN_FILE or their flags), the one
# kept in .lessor/admin-token (made on the first run): the status page and the admin routes
# need one. The node listens on loopback only unless told otherwise.
mkdir -p .lessor
admin_token="${LESSOR_ADMIN_TOKEN:-}"
if [ -z "${LESSOR_ADMIN_TOKEN:-}${LESSOR_ADMIN_TOKEN_FILE:-}" ] && [[ " $* " != *" --admin-token"* ]]; then
  [ -s .lessor/admin-token ] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(24))' > .lessor/admin-token)
  export LESSOR_ADMIN_TOKEN_FILE="$PWD/.lessor/admin-token"
  admin_token="$(cat .lessor/admin-token)"
  echo "lessor: no admin token given, so I use the one in .lessor/admin-token;" \
       "the status page is http://127.0.0.1:${LESSOR_PORT:-8080}/ui" >&2
fi

# What the README's walkthrough needs in a second terminal (`source .lessor/env`): where this
# node and its Redis are, its admin token, and the lessor CLI on PATH.
(
  umask 077
  echo "export LESSOR_URL=http://127.0.0.1:${LESSOR_PORT:-8080}"
  [ -n "${LESSOR_REDIS_URL:-}" ] && echo "export LESSOR_REDIS_URL=$LESSOR_REDIS_URL"
  [ -n "$admin_token" ] && echo "export LESSOR_ADMIN_TOKEN=$admin_token"
  echo "export PATH=\"$(dirname "$bin"):\$PATH\""
) > .lessor/env

# Lessor drains on SIGTERM; forward Ctrl-C and SIGTERM to it and wait for a clean exit.
"$bin" serve "$@" &
lessor_pid=$!
trap 'kill -TERM "$lessor_pid" 2>/dev/null || true' TERM INT
status=0
while kill -0 "$lessor_pid" 2>/dev/null; do
  wait "$lessor_pid" && status=0 || status=$?
done
exit "$status"
