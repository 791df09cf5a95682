#!/usr/bin/env python3
"""What one heartbeat costs Redis, in figures that do not drift with the machine.

    python3 bench/redis_cost.py [--items N] [--annotate] [LIBRARY]

LIBRARY defaults to lua/lessor.lua; its `#!lua name=lessor_vN` line names the functions.
Prints three figures, each from a redis-server started on a free 127.0.0.1 port and stopped:

* Redis instructions per call (callgrind counts instructions, not seconds): the heartbeat
  function in its steady state (a compare-and-set on an active item, as bench/wrk/heartbeat.lua
  sends through the API), bench/heartbeat-like.lua (TIME, HGET, HSET, SET PX: the reference)
  and `return 1` (the floor of one round trip). --annotate adds the heartbeat's hottest
  functions inside Redis, by name only where redis-server has symbols (Debian's is stripped:
  addresses there, so measure changes by the totals).
* Heartbeats/s of one Redis core (redis-benchmark -c 64, -P 1 and -P 16), which depends on
  the machine.
* Redis bytes per leased, heartbeated item (`used_memory` before and after N items, default
  100,000, enqueued, acknowledged and heartbeated through the library), and what one item's
  keys hold (`MEMORY USAGE`, `HGETALL`).

bench/run.sh reports all three; this file alone is the quick loop for changing lua/lessor.lua
(about a minute).
"""
import glob, os, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: start, Redis, free_port, WORK)


def instructions(library, calls=20000, annotate=False):
    """{case: Redis instructions per call}, counted by callgrind while redis-benchmark sends
    `calls` calls (-c 16 -P 16) of each case; with `annotate`, also the heartbeat's hottest
    Redis functions as (instructions per call, function)."""
    port = run.free_port()
    out = os.path.join(run.WORK, "callgrind.out")
    server = run.start("redis-callgrind", ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
                                           "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                           "--dir", run.WORK], port=port)
    redis = run.Redis(port)
    redis.call("FUNCTION", "LOAD", "REPLACE", library.code)
    env, ids = library.leased_items(redis, 1000)
    prefix = f"lessor:{{{env}}}:"
    # Steady state: each call heartbeats one of the 1,000 items at random (redis-benchmark -r
    # fills in __rand_int__), unconditionally (expected ''), which runs the same commands as a
    # successful compare-and-set; redis-benchmark cannot chain the expectations the API's
    # clients send. One item beaten back to back would renew its lease within the same
    # millisecond, which no fleet does.
    work = ids[0][:-12] + "__rand_int__"
    like = redis.call("SCRIPT", "LOAD", open(os.path.join(run.ROOT, "bench", "heartbeat-like.lua")).read())
    null = redis.call("SCRIPT", "LOAD", "return 1")
    cases = {
        "heartbeat": library.heartbeat_call(env, work, 600),
        "heartbeat-like": ["EVALSHA", like, "2", prefix + "work:" + work, prefix + "lease:" + work, "bench", "600000"],
        "return 1": ["EVALSHA", null, "0"],
    }
    results, hottest = {}, []
    for name, command in cases.items():
        bench = ["redis-benchmark", "-p", str(port), "-c", "16", "-P", "16", "-q", "-r", str(len(ids))]
        subprocess.run(bench + ["-n", "2000"] + command, capture_output=True, check=True)  # warm up
        for f in glob.glob(out + ".*"):
            os.remove(f)
        for step in (["-z"], ["-i", "on"]):
            subprocess.run(["callgrind_control", *step, str(server.pid)], capture_output=True)
        subprocess.run(bench + ["-n", str(calls)] + command, capture_output=True, check=True)
        for step in (["-i", "off"], ["-d"]):
            subprocess.run(["callgrind_control", *step, str(server.pid)], capture_output=True)
        dump = max(glob.glob(out + ".*"), key=os.path.getsize)
        report = subprocess.run(["callgrind_annotate", "--inclusive=no", dump], capture_output=True, text=True).stdout
        total = next(line.split()[0] for line in report.splitlines() if "PROGRAM TOTALS" in line)
        results[name] = int(total.replace(",", "")) / calls
        if annotate and name == "heartbeat":
            for line in report.splitlines():
                match = re.match(r"\s*([\d,]+)\s+(?:\([\d.% ]+\)\s+)?\S*?:?(\S+) \[", line) or re.match(r"\s*([\d,]+)\s+\S+\s+\S+:(\S+)", line)
                if match and len(hottest) < 25:
                    hottest.append((int(match.group(1).replace(",", "")) / calls, match.group(2)))
    os.killpg(server.pid, 15)
    server.wait()
    return results, hottest


def ceiling(library, calls=200_000):
    """Heartbeats/s one Redis core runs: redis-benchmark -c 64 of the steady heartbeat over
    1,000 items, one call per round trip (-P 1) and sixteen (-P 16)."""
    port = run.free_port()
    server = run.start("redis-ceiling", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                         "--dir", run.WORK], port=port)
    redis = run.Redis(port)
    redis.call("FUNCTION", "LOAD", "REPLACE", library.code)
    env, ids = library.leased_items(redis, 1000)
    rates = {}
    for pipeline in (1, 16):
        output = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "64", "-n", str(calls), "-P", str(pipeline), "-q", "-r", "1000",
                                 *library.heartbeat_call(env, ids[0][:-12] + "__rand_int__", 600)], capture_output=True, text=True, check=True).stdout
        rates[f"P{pipeline}"] = float(re.findall(r"([\d.]+) requests per second", output)[-1])
    os.killpg(server.pid, 15)
    server.wait()
    return rates


def memory(library, count):
    """Bytes of used_memory per leased, heartbeated item, and one item's keys."""
    port = run.free_port()
    server = run.start("redis-memory", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                        "--dir", run.WORK], port=port)
    redis = run.Redis(port)
    redis.call("FUNCTION", "LOAD", "REPLACE", library.code)
    library.leased_items(redis, 10)  # the environment's indexes exist before the count
    before = int(redis.info("memory")["used_memory"])
    env, ids = library.leased_items(redis, count, heartbeats=2)
    after = int(redis.info("memory")["used_memory"])
    prefix = f"lessor:{{{env}}}:"
    item, lease = prefix + "work:" + ids[0], prefix + "lease:" + ids[0]
    parts = {
        "item hash": redis.call("MEMORY", "USAGE", item, "SAMPLES", "0"),
        "lease key": redis.call("MEMORY", "USAGE", lease, "SAMPLES", "0"),
        "hash encoding": redis.call("OBJECT", "ENCODING", item),
    }
    fields = redis.call("HGETALL", item)
    os.killpg(server.pid, 15)
    server.wait()
    return (after - before) / count, parts, list(zip(fields[::2], fields[1::2]))


def main():
    args = sys.argv[1:]
    annotate = "--annotate" in args
    count = int(args[args.index("--items") + 1]) if "--items" in args else 100_000
    paths = [a for a in args if a.endswith(".lua")]
    library = run.Library(paths[0] if paths else os.path.join(run.ROOT, "lua", "lessor.lua"))
    try:
        results, hottest = instructions(library, annotate=annotate)
        print(f"Redis instructions per call ({library.version}): " + ", ".join(f"{k} {v:,.0f}" for k, v in results.items()))
        print(f"heartbeat ÷ heartbeat-like = {results['heartbeat'] / results['heartbeat-like']:.2f}")
        for per_call, function in hottest:
            print(f"  {per_call:9,.0f}  {function}")
        print("heartbeats/s of one Redis core (redis-benchmark -c 64):", ceiling(library))
        per_item, parts, fields = memory(library, count)
        print(f"Redis bytes per leased, heartbeated item ({count:,} items): {per_item:,.0f}; one item: {parts}")
        for field, value in fields:
            print(f"  {field} = {value}")
    finally:
        run.stop_all()


if __name__ == "__main__":
    main()
