#!/usr/bin/env python3
"""What an idempotency key costs Redis on a heartbeat: CPU µs per call and bytes per record.

    [CALLS=100000] [ROUNDS=5] python3 bench/idempotency.py

Starts a redis-server on a free loopback port, loads lua/lessor.lua, leases one item, and
alternates, for ROUNDS rounds, `redis-benchmark` (-c 32 -P 16) of three FCALLs on it, as the
runner's redis-benchmark figure does:
the plain heartbeat (lessor_v5_work_heartbeat), the same heartbeat through lessor_v5_idempotent
with a fresh record each call (a key per request, as clients send them), and a replay (the same
key again: the record answers, nothing runs). Redis's own `INFO commandstats` gives the CPU µs
per call, which the client's share of the two cores cannot move. Then it prints the memory of
one heartbeat record (`MEMORY USAGE`) and the used memory per record over the records written.
"""
import os, statistics, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: free_port, start, Redis, stop_all)

CALLS = int(os.environ.get("CALLS", "100000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
ENV = "env_0190d2a0c7b87a1b9c3e4f5a6b7c8d9e"
PREFIX = f"lessor:{{{ENV}}}:"


def heartbeat(work):
    return ["lessor_v5_work_heartbeat", "4", PREFIX + "env", PREFIX + "work:" + work, PREFIX + "lease:" + work,
            PREFIX + "deadlines", work, "bench", "", "60", "refuse"]


def keyed(work, record):
    plain = heartbeat(work)
    return ["lessor_v5_idempotent", "5", PREFIX + "idem:" + record, *plain[2:6], "work_heartbeat",
            "0123456789abcdef0123456789abcdef", "86400000", "", *plain[6:]]


def bench(port, redis, args):
    redis.call("CONFIG", "RESETSTAT")
    # -r: __rand_int__ (in a fresh record's name only) becomes a random 12-digit number per call.
    subprocess.run(["redis-benchmark", "-p", str(port), "-c", "32", "-P", "16", "-n", str(CALLS), "-q", "-r", "1000000000",
                    "FCALL", *args], check=True, stdout=subprocess.DEVNULL)
    calls, usec = redis.commandstats()["fcall"]
    return usec / calls


def lease(redis, work):
    keys, arguments = run.environment_keys(ENV)
    item = [PREFIX + "work:" + work, PREFIX + "lease:" + work]
    redis.call("FCALL", "lessor_v5_work_enqueue", 11, *keys, *item, *arguments, work, "session", "s", "{}")
    redis.call("FCALL", "lessor_v5_work_ack", 11, *keys, *item, *arguments, work, "bench", 600)


def main():
    port = run.free_port()
    run.start(f"redis-{port}", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", run.WORK], port=port)
    redis = run.Redis(port)
    with open(os.path.join(os.path.dirname(__file__), "..", "lua", "lessor.lua"), "rb") as source:
        redis.call("FUNCTION", "LOAD", "REPLACE", source.read())
    redis.call("FCALL", "lessor_v5_environment_create", 1, PREFIX + "env", "bench", "", "self_hosted", "{}", 0, "")
    work = "work_bench"
    lease(redis, work)
    loads = {
        "plain": heartbeat(work),
        "keyed, fresh record": keyed(work, "fresh:__rand_int__"),
        "keyed, replayed": keyed(work, "replayed"),
    }
    results = {name: [] for name in loads}
    for round_index in range(ROUNDS):
        for name, args in loads.items():
            results[name].append(bench(port, redis, args))
        print(f"round {round_index + 1}: " + ", ".join(f"{name} {values[-1]:.2f}" for name, values in results.items()), flush=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"Redis CPU µs per FCALL, median of {ROUNDS} rounds of {CALLS:,} calls (-c 32 -P 16):")
    for name, value in medians.items():
        print(f"  {name:22} {value:6.2f}  ({value / medians['plain']:.2f}x plain)")
    print(f"  a key adds {medians['keyed, fresh record'] - medians['plain']:.2f} µs per heartbeat (fresh record)")

    redis.call("FLUSHALL")
    redis.call("FCALL", "lessor_v5_environment_create", 1, PREFIX + "env", "bench", "", "self_hosted", "{}", 0, "")
    lease(redis, work)
    before = int(redis.info("memory")["used_memory"])
    records = 10000
    redis.pipeline([["FCALL", *keyed(work, f"{index:032x}")] for index in range(records)])
    after = int(redis.info("memory")["used_memory"])
    one = redis.call("MEMORY", "USAGE", PREFIX + "idem:" + f"{0:032x}")
    print(f"a heartbeat's record: {one} bytes (MEMORY USAGE); used_memory grows {(after - before) / records:.0f} bytes per record over {records:,}")


if __name__ == "__main__":
    try:
        main()
    finally:
        run.stop_all()
