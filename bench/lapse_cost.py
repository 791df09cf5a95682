#!/usr/bin/env python3
"""What a lapse costs Redis: the reaper's work per lapsed lease, for two libraries.

    [ITEMS=2000] [ROUNDS=5] python3 bench/lapse_cost.py [LIBRARY ...]

For each round and each LIBRARY (default: lua/lessor.lua; an older release's file, e.g.
`git show <rev>:lua/lessor.lua > /tmp/old.lua`, to compare), it starts a redis-server on a
free 127.0.0.1 port, leases ITEMS items with a 1 s TTL, lets them lapse, and reaps them in
`work_reap` calls of 100 (the reaper's batch). Redis's `INFO commandstats` gives the CPU µs
of those calls; it prints each library's median per lapse over the rounds, the libraries
interleaved so a drifting host moves them alike.
"""
import os, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: start, Redis, free_port, WORK, Library)

ITEMS = int(os.environ.get("ITEMS", "2000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
RETENTION = 7 * 86400


def reap_cost(library):
    """Redis CPU µs per lapse of `library`, one round on a fresh redis-server."""
    port = run.free_port()
    server = run.start(f"redis-{port}", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", run.WORK], port=port)
    redis = run.Redis(port)
    redis.call("FUNCTION", "LOAD", "REPLACE", library.code.encode())
    env = f"env_{os.urandom(16).hex()}"
    redis.call("FCALL", f"{library.version}_environment_create", 1, f"lessor:{{{env}}}:env", "bench", "", "self_hosted", "{}", 0, "")
    ids = [f"work_{os.urandom(10).hex()}{n:012d}" for n in range(ITEMS)]
    redis.pipeline([library.item_call("work_enqueue", env, i, "session", "sess_" + i[5:], "{}") for i in ids])
    redis.pipeline([library.item_call("work_ack", env, i, "bench", 1) for i in ids])
    time.sleep(1.3)
    redis.call("CONFIG", "RESETSTAT")
    keys, prefixes = run.environment_keys(env, library.version)
    reaped = 0
    while reaped < ITEMS:
        reply = redis.call("FCALL", f"{library.version}_work_reap", len(keys), *keys, *prefixes, 100, RETENTION)
        assert reply[0] == "ok" and reply[1] > 0, reply
        reaped += reply[1]
    _, usec = redis.commandstats()["fcall"]
    server.terminate()
    server.wait(10)
    return usec / reaped


def main():
    libraries = [run.Library(path) for path in (sys.argv[1:] or [os.path.join(run.ROOT, "lua", "lessor.lua")])]
    costs = {library.version: [] for library in libraries}
    for _ in range(ROUNDS):
        for library in libraries:
            costs[library.version].append(reap_cost(library))
    print(f"Redis CPU µs per lapse (work_reap, batches of 100), median of {ROUNDS} rounds of {ITEMS:,} lapses:")
    for version, values in costs.items():
        print(f"  {version:12} {statistics.median(values):7.2f}   (rounds: {', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    try:
        main()
    finally:
        run.stop_all()
