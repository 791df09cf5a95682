#!/usr/bin/env python3
"""A/B of two `lessor` binaries on the heartbeat: CPU µs per heartbeat and heartbeats/s.

    BIN_A=<dir with lessor> BIN_B=<dir with lessor> [ROUNDS=3] [DURATION=10] python3 bench/ab.py

Each round starts a fresh redis-server and one `lessor serve` of A, then of B (alternating,
so drift of the host's speed falls on both), creates 1,000 leased items through the HTTP API
(so the two binaries may speak different Lua), and runs the runner's CAS heartbeat load
(bench/wrk/heartbeat.lua, 64 connections). Prints every run and the medians. Needs what
bench/run.sh installs (wrk); it uses run.py's helpers, so its figures are the runner's.
"""
import os, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: start, Redis, api, wrk, heartbeat_run)


class Node:
    """One redis-server and one `lessor serve` from `bin_dir`, as heartbeat_run expects."""

    def __init__(self, bin_dir):
        self.redis_port = run.free_port()
        self.redis_process = run.start(f"redis-{self.redis_port}", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                                                   "--save", "", "--appendonly", "no", "--dir", run.WORK], port=self.redis_port)
        self.redis = run.Redis(self.redis_port)
        port = run.free_port()
        process = run.start(f"lessor-{port}", [os.path.join(bin_dir, "lessor"), "serve"], {
            "LESSOR_PORT": str(port), "LESSOR_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
            "LESSOR_ADMIN_TOKEN": run.ADMIN, "LESSOR_LOG_LEVEL": "notice",
        }, port=port)
        deadline = time.time() + 20
        while run.api(port, "GET", "/readyz")[0] != 200:
            if time.time() > deadline:
                raise RuntimeError("lessor never became ready")
            time.sleep(0.1)
        self.replicas = [(process, port)]
        self.port = port

    def leased_items(self, count=1000):
        status, body = run.api(self.port, "POST", "/api/v1/cloud/environments", {"name": "ab", "config": {"type": "self_hosted"}})
        assert status == 201, body
        env = body["id"]
        base = f"/api/v1/cloud/environments/{env}/work"
        ids = []
        for _ in range(count):
            status, item = run.api(self.port, "POST", base, {})
            assert status == 201, item
            status, acked = run.api(self.port, "POST", f"{base}/{item['id']}/ack", headers={"Worker-ID": "bench"})
            assert status == 200, acked
            ids.append(item["id"])
        path = os.path.join(run.WORK, f"items-{env}.txt")
        open(path, "w").write("\n".join(ids) + "\n")
        return env, path

    def stop(self):
        for process, _ in self.replicas:
            process.terminate()
            process.wait(10)
        self.redis_process.terminate()
        self.redis_process.wait(10)


def main():
    bins = {"A": os.environ["BIN_A"], "B": os.environ["BIN_B"]}
    rounds = int(os.environ.get("ROUNDS", "3"))
    results = {"A": [], "B": []}
    try:
        for index in range(rounds):
            for name in (("A", "B") if index % 2 == 0 else ("B", "A")):
                node = Node(bins[name])
                env, items = node.leased_items()
                result = run.heartbeat_run(node, env, items, 64)
                node.stop()
                results[name].append(result)
                print(f"round {index + 1} {name}: {result['rate']:,.0f}/s, {result['cpu_us']:.1f} µs CPU per heartbeat, "
                      f"{result['redis_cpu_us']:.1f} µs Redis CPU, non-2xx {result['errors']}", flush=True)
    finally:
        run.stop_all()
    for name in ("A", "B"):
        cpu = [r["cpu_us"] for r in results[name]]
        rate = [r["rate"] for r in results[name]]
        redis_cpu = [r["redis_cpu_us"] for r in results[name]]
        print(f"{name} ({bins[name]}): median {statistics.median(rate):,.0f}/s, {statistics.median(cpu):.1f} µs lessor CPU "
              f"(runs {', '.join(f'{c:.1f}' for c in cpu)}), {statistics.median(redis_cpu):.1f} µs Redis CPU per heartbeat")


if __name__ == "__main__":
    main()
