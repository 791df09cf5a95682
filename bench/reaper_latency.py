#!/usr/bin/env python3
"""Reaper latency: how long after a lease lapses its item is back in `queued`, with nobody
polling. Starts redis-server and one `lessor serve` on free loopback ports, acks N items
with the minimum TTL (10 s), then watches each item's state every 10 ms.

    python3 bench/reaper_latency.py [path/to/lessor] [items]   (default .build/release/lessor, 20)
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime, timezone

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/lessor"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 20

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

redis_port, http_port, token = free_port(), free_port(), "bench-admin"
workdir = tempfile.mkdtemp()
redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
env = dict(os.environ, LESSOR_PORT=str(http_port), LESSOR_REDIS_URL=f"redis://127.0.0.1:{redis_port}",
           LESSOR_ADMIN_TOKEN=token, LESSOR_DEFAULT_TTL_SECONDS="10", LESSOR_LOG_LEVEL="warning")
lessor = subprocess.Popen([binary, "serve"], env=env)

def call(method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")

try:
    for _ in range(200):
        try:
            call("GET", "/readyz"); break
        except Exception:
            time.sleep(0.05)
    environment = call("POST", "/api/v1/cloud/environments", {"name": "bench"})["id"]
    base = f"/api/v1/cloud/environments/{environment}/work"
    items = []
    for _ in range(count):
        work = call("POST", base, {})["id"]
        acked = call("POST", f"{base}/{work}/ack")
        expires = datetime.strptime(acked["lease_expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        items.append((work, expires))
    delays = {}
    while len(delays) < count:
        for work, expires in items:
            if work not in delays and call("GET", f"{base}/{work}")["state"] == "queued":
                delays[work] = time.time() - expires
        time.sleep(0.01)
    values = sorted(delays.values())
    print(f"reaper latency over {count} lapsed leases (lapse -> observed queued, 10 ms sampling): "
          f"p50 {values[len(values) // 2] * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms")
finally:
    lessor.terminate(); redis.terminate()
    lessor.wait(); redis.wait()
