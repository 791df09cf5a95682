#!/usr/bin/env bash
# The wrapper benchmark: EVALSHA of bench/heartbeat-like.lua through LessorRedis from 64
# concurrent tasks, and redis-benchmark of the same script at -c 64 -P 1, against one
# redis-server started here on a free loopback port. Prints both rates and their ratio.
#
#   bash bench/redis-wrapper.sh [requests]        (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-200000}"
bash scripts/install-deps.sh

swift build -c release --product RedisWrapperBench 2>&1 | grep -v "prohibited flag" | tail -1
bin="$(swift build -c release --show-bin-path)/RedisWrapperBench"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --logfile "$dir/redis.log" --daemonize yes
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

sha="$(redis-cli -p "$port" script load "$(cat bench/heartbeat-like.lua)")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
echo "script:  bench/heartbeat-like.lua (sha1 $sha), $requests requests, 64 concurrent clients"

# Both clients share the machine's cores with redis-server, so single runs are noisy:
# alternate them for `rounds` rounds and report the median ratio.
rounds="${ROUNDS:-3}"
ratios=()
for round in $(seq "$rounds"); do
  redis-cli -p "$port" flushall >/dev/null
  wrapper_line="$("$bin" --port "$port" --requests "$requests" --concurrency 64 --pool-size 4)"
  wrapper_rate="$(sed -E 's/.*= ([0-9]+) req\/s.*/\1/' <<<"$wrapper_line")"
  redis-cli -p "$port" flushall >/dev/null
  bench_line="$(redis-benchmark -p "$port" -c 64 -P 1 -n "$requests" -r 1000 -q \
    EVALSHA "$sha" 2 'bench:{__rand_int__}:item' 'bench:{__rand_int__}:lease' holder 60000 | tr '\r' '\n' | grep 'requests per second' | tail -1)"
  bench_rate="$(grep -oE '[0-9]+(\.[0-9]+)? requests per second' <<<"$bench_line" | cut -d' ' -f1)"
  ratio="$(python3 -c "print(f'{${wrapper_rate} / ${bench_rate}:.2f}')")"
  ratios+=("$ratio")
  echo "round $round: wrapper ${wrapper_rate} req/s, redis-benchmark -c 64 -P 1 ${bench_rate} req/s, ratio ${ratio}"
done
echo "median ratio wrapper / redis-benchmark over $rounds rounds: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")"
