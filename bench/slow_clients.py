#!/usr/bin/env python3
"""Slow clients against one running front node: heartbeats of a well-behaved worker while
hundreds of connections trickle their requests a byte at a time.

    python3 bench/slow_clients.py --url http://127.0.0.1:8080 --admin-token T \
        [--connections 500] [--seconds 20] [--trickle-ms 100]

Start the node with the read timeout you want measured (LESSOR_HTTP_READ_TIMEOUT_MS; the
default is 10 s). Every trickling connection sends a heartbeat request one byte per
--trickle-ms and, once the node closes it, opens again, until --seconds have passed. The
worker meanwhile heartbeats one leased item over one keep-alive connection, back to back.

Prints the worker's heartbeat latencies (p50, p99, max) and the tricklers' fate: how many
were answered 408, how long after their first byte the node closed them. Exits 1 when a
heartbeat was not answered 200, a trickler was never refused, or one stayed open longer than
the read timeout plus 2 s. Standard library only; talks to nothing but --url.
"""
import argparse, asyncio, json, sys, time
from urllib.parse import urlsplit


async def request(reader, writer, method, path, token, headers=None, body=b""):
    """One HTTP/1.1 request on a keep-alive connection; returns (status, body bytes)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: lessor", f"Authorization: Bearer {token}",
             f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def trickle(host, port, path, interval, stop_at, results):
    """Reconnects and trickles a heartbeat request until stop_at; records each connection's end."""
    payload = (f"POST {path} HTTP/1.1\r\nHost: lessor\r\nContent-Length: 0\r\n"
               + "X-Slow: " + "z" * 4000 + "\r\n\r\n").encode()
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            results.append(("connect failed", 0.0, str(error)))
            await asyncio.sleep(interval)
            continue
        first = time.monotonic()
        answer = b""

        async def read_answer():
            nonlocal answer
            try:
                while chunk := await reader.read(4096):
                    answer += chunk
            except (ConnectionError, OSError):
                pass

        reading = asyncio.ensure_future(read_answer())
        try:
            for index in range(len(payload)):
                if reading.done():
                    break
                writer.write(payload[index:index + 1])
                await writer.drain()
                await asyncio.sleep(interval)
        except (ConnectionError, OSError):
            pass
        await reading  # ends when the node closes the connection
        results.append((answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "closed",
                        time.monotonic() - first, ""))
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--trickle-ms", type=float, default=100)
    parser.add_argument("--read-timeout-ms", type=float, default=10000, help="the node's LESSOR_HTTP_READ_TIMEOUT_MS")
    options = parser.parse_args()
    url = urlsplit(options.url)
    host, port, token = url.hostname, url.port or 80, options.admin_token

    reader, writer = await asyncio.open_connection(host, port)
    status, body = await request(reader, writer, "POST", "/api/v1/cloud/environments", token,
                                 {"Content-Type": "application/json"}, b'{"name":"slow-clients","config":{"type":"self_hosted"}}')
    assert status == 201, (status, body)
    base = f"/api/v1/cloud/environments/{json.loads(body)['id']}/work"
    status, body = await request(reader, writer, "POST", base, token, {"Content-Type": "application/json"}, b"{}")
    assert status == 201, (status, body)
    work = json.loads(body)["id"]
    status, body = await request(reader, writer, "POST", f"{base}/{work}/ack", token, {"Worker-ID": "steady"})
    assert status == 200, (status, body)
    heartbeat = f"{base}/{work}/heartbeat?desired_ttl_seconds=600"

    stop_at = time.monotonic() + options.seconds
    ends = []
    tricklers = [asyncio.ensure_future(trickle(host, port, heartbeat, options.trickle_ms / 1000, stop_at, ends))
                 for _ in range(options.connections)]
    await asyncio.sleep(min(1.0, options.seconds / 4))  # let the tricklers connect first
    latencies, failures = [], []
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        status, body = await request(reader, writer, "POST", heartbeat, token, {"Worker-ID": "steady"})
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            failures.append((status, body[:200]))
    writer.close()
    await asyncio.wait_for(asyncio.gather(*tricklers), timeout=options.read_timeout_ms / 1000 + 10)

    latencies.sort()
    def percentile(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")
    refused = [duration for outcome, duration, _ in ends if outcome == "408"]
    longest = max((duration for _, duration, _ in ends), default=0.0)
    outcomes = {}
    for outcome, _, _ in ends:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"heartbeats: {len(latencies)} sent, {len(failures)} not 200; latency ms p50 {percentile(0.5):.2f} "
          f"p99 {percentile(0.99):.2f} max {latencies[-1] if latencies else float('nan'):.2f}")
    print(f"trickling connections: {options.connections} at once, {len(ends)} opened in {options.seconds:.0f} s; "
          f"outcomes {outcomes}; closed after their first byte in {min(refused, default=0):.2f}-{longest:.2f} s "
          f"(read timeout {options.read_timeout_ms / 1000:.2f} s)")
    problems = []
    if failures:
        problems.append(f"heartbeats not answered 200: {failures[:3]}")
    if not latencies:
        problems.append("no heartbeat was sent")
    if options.connections and not refused:
        problems.append("no trickling connection was answered 408")
    if longest > options.read_timeout_ms / 1000 + 2:
        problems.append(f"a trickling connection stayed open {longest:.2f} s")
    for problem in problems:
        print("problem:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
