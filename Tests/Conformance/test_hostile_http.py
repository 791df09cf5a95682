"""Hostile and slow clients against live front nodes, over raw sockets (standard library only).

LESSOR_URL: a node started with LESSOR_HTTP_READ_TIMEOUT_MS=1000 (and the default limits
otherwise); LESSOR_LIMITED_URL: a node with LESSOR_HTTP_MAX_CONNECTIONS=8. Both share one
Redis; LESSOR_ADMIN_TOKEN is their admin token. FUZZ_CASES and FUZZ_SEED size the byte-level
fuzz of the heartbeat route (defaults: 400 cases, seed 16).
"""
import json, os, random, socket, time, unittest
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

URL = urlsplit(os.environ["LESSOR_URL"])
LIMITED = urlsplit(os.environ["LESSOR_LIMITED_URL"])
TOKEN = os.environ["LESSOR_ADMIN_TOKEN"]
READ_TIMEOUT = 1.0
FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "400"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "16"))


def raw(url, data, wait=5.0, settle=None):
    """Sends bytes on a new connection; returns everything answered until the node closes it
    (or `wait` seconds pass, or, with `settle`, that long after the answer so far is whole
    responses: a keep-alive connection stays open) and whether it closed."""
    with socket.create_connection((url.hostname, url.port), timeout=wait) as connection:
        try:
            connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent: the answer is still there to read
        answer, closed, deadline = b"", False, time.monotonic() + wait
        while time.monotonic() < deadline:
            connection.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = connection.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            answer += chunk
            if settle is not None and whole(answer):
                deadline = min(deadline, time.monotonic() + settle)
        return answer, closed


def heads_and_bodies(answer):
    """(head, body) of every complete response at the start of `answer` (Content-Length framed)."""
    parts = []
    while answer.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = next((int(line.partition(b":")[2]) for line in head.split(b"\r\n")[1:]
                       if line.partition(b":")[0].strip().lower() == b"content-length"), 0)
        if len(rest) < length:
            break
        parts.append((head, rest[:length]))
        answer = rest[length:]
    return parts


def whole(answer):
    """True when `answer` is one or more complete responses and nothing more."""
    parts = heads_and_bodies(answer)
    return bool(parts) and len(answer) == sum(len(head) + 4 + len(body) for head, body in parts)


def responses(answer):
    """(status, headers, body) of every complete response in `answer`."""
    found = []
    for head, body in heads_and_bodies(answer):
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        found.append((int(lines[0].split(" ")[1]), headers, body))
    return found


def request(method, path, body=b"", headers=None, token=TOKEN):
    lines = [f"{method} {path} HTTP/1.1", "Host: lessor", f"Authorization: Bearer {token}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def call(method, path, body=b"", headers=None, url=URL):
    answer, _ = raw(url, request(method, path, body, {"Connection": "close", **(headers or {})}))
    status, _, payload = responses(answer)[0]
    return status, json.loads(payload) if payload and payload != b"null" else None


class Fixture:
    """One environment with one item acked by worker `steady`, made once for the module."""
    environment = work = heartbeat = None

    @classmethod
    def get(cls):
        if cls.work is None:
            status, environment = call("POST", "/api/v1/cloud/environments", b'{"name":"hostile","config":{"type":"self_hosted"}}')
            assert status == 201, environment
            cls.environment = environment["id"]
            base = f"/api/v1/cloud/environments/{cls.environment}/work"
            status, item = call("POST", base, b"{}")
            assert status == 201, item
            cls.work = item["id"]
            status, acked = call("POST", f"{base}/{cls.work}/ack", headers={"Worker-ID": "steady"})
            assert status == 200, acked
            cls.heartbeat = f"{base}/{cls.work}/heartbeat?desired_ttl_seconds=600"
        return cls


def heartbeat_ok():
    fixture = Fixture.get()
    status, body = call("POST", fixture.heartbeat, headers={"Worker-ID": "steady"})
    return status == 200 and body["state"] == "active"


class SlowAndLargeRequests(unittest.TestCase):
    def test_a_trickled_head_gets_408_in_its_familys_format_and_is_closed(self):
        for path, check in [
            (Fixture.get().heartbeat, lambda body: body["error"]["type"] == "timeout_error" and body["type"] == "error"),
            ("/v1/workers/wrk_01h455vb4pex5vsknk084sn02q/activity-heartbeat", lambda body: body == {"error": "request_timeout"}),
        ]:
            with socket.create_connection((URL.hostname, URL.port), timeout=10) as connection:
                started = time.monotonic()
                answer = b""
                for byte in f"POST {path} HTTP/1.1\r\nHost: lessor\r\nX-Slow: ".encode() + b"z" * 100:
                    try:
                        connection.sendall(bytes([byte]))
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    connection.settimeout(0.05)
                    try:
                        chunk = connection.recv(65536)
                    except socket.timeout:
                        continue
                    answer += chunk
                    if not chunk or time.monotonic() - started > 5:
                        break
                connection.settimeout(5)
                while chunk := connection.recv(65536):
                    answer += chunk
                elapsed = time.monotonic() - started
            [(status, headers, body)] = responses(answer)
            self.assertEqual(status, 408)
            self.assertEqual(headers["connection"], "close")
            self.assertTrue(check(json.loads(body)), body)
            self.assertTrue(headers.get("x-request-id"))
            self.assertGreaterEqual(elapsed, READ_TIMEOUT * 0.9)
            self.assertLess(elapsed, READ_TIMEOUT + 3)

    def test_a_body_short_of_its_content_length_gets_408(self):
        fixture = Fixture.get()
        enqueue = f"/api/v1/cloud/environments/{fixture.environment}/work"
        data = f"POST {enqueue} HTTP/1.1\r\nHost: lessor\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 10\r\n\r\n{{}}   ".encode()
        answer, closed = raw(URL, data, wait=READ_TIMEOUT + 3)
        [(status, _, body)] = responses(answer)
        self.assertEqual(status, 408)
        self.assertEqual(json.loads(body)["error"]["type"], "timeout_error")
        self.assertTrue(closed)
        # A route that answered before reading the body (the heartbeat takes none): its answer
        # stands alone; the connection closes at the read timeout without a second one.
        data = f"POST {fixture.heartbeat} HTTP/1.1\r\nHost: lessor\r\nAuthorization: Bearer {TOKEN}\r\nWorker-ID: steady\r\nContent-Length: 10\r\n\r\n12345".encode()
        answer, closed = raw(URL, data, wait=READ_TIMEOUT + 3)
        self.assertEqual([status for status, _, _ in responses(answer)], [200])
        self.assertTrue(closed)

    def test_an_idle_keep_alive_connection_outlives_the_read_timeout(self):
        fixture = Fixture.get()
        with socket.create_connection((URL.hostname, URL.port), timeout=5) as connection:
            for _ in range(2):
                connection.sendall(request("POST", fixture.heartbeat, headers={"Worker-ID": "steady"}))
                answer = b""
                while not responses(answer) or len(responses(answer)[0][2]) < int(responses(answer)[0][1]["content-length"]):
                    answer += connection.recv(65536)
                self.assertEqual(responses(answer)[0][0], 200)
                time.sleep(READ_TIMEOUT * 1.5)

    def test_oversized_heads_get_431(self):
        fixture = Fixture.get()
        cases = [
            (fixture.heartbeat, {"X-Big": "b" * 40_000}, lambda body: body["error"]["type"] == "request_too_large"),
            (fixture.heartbeat + "&pad=" + "p" * 50_000, {}, lambda body: body["error"]["type"] == "request_too_large"),
            (fixture.heartbeat, {f"X-Many-{index}": "m" for index in range(1200)}, lambda body: body["error"]["type"] == "request_too_large"),
            ("/v1/workers/wrk_01h455vb4pex5vsknk084sn02q/activity-heartbeat", {"X-Big": "b" * 40_000},
             lambda body: body == {"error": "request_too_large"}),
        ]
        for path, headers, check in cases:
            answer, closed = raw(URL, request("POST", path, headers=headers))
            [(status, response_headers, body)] = responses(answer)
            self.assertEqual(status, 431, path[:80])
            self.assertTrue(check(json.loads(body)), body)
            self.assertTrue(closed)
        self.assertTrue(heartbeat_ok())


    def test_a_large_body_arriving_with_its_head_is_not_a_large_head(self):
        # On a keep-alive connection the node's reads grow to 64 KiB, so a later request's head
        # and its 50 KB body arrive in one read; only the head is held to the limit.
        fixture = Fixture.get()
        body = json.dumps({"metadata": {"note": "n" * 50_000}}).encode()
        with socket.create_connection((URL.hostname, URL.port), timeout=5) as connection:
            for _ in range(4):
                connection.sendall(request("POST", f"/api/v1/cloud/environments/{fixture.environment}/work", body,
                                           {"Content-Type": "application/json"}))
                answer = b""
                while not heads_and_bodies(answer):
                    chunk = connection.recv(65536)
                    self.assertTrue(chunk, f"closed after {answer[:300]!r}")
                    answer += chunk
                [(status, _, payload)] = responses(answer)
                self.assertNotEqual(status, 431, payload)
                self.assertLess(status, 500, payload)


class ConnectionLimit(unittest.TestCase):
    def test_one_connection_over_the_limit_gets_503_and_one_freed_serves_again(self):
        held = []
        try:
            # The node allows 8; the test harness's own HTTP client may keep one or two of them.
            while len(held) < 9:
                connection = socket.create_connection((LIMITED.hostname, LIMITED.port), timeout=5)
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: lessor\r\n\r\n")
                answer = connection.recv(65536)
                if not answer.startswith(b"HTTP/1.1 200"):
                    self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
                    connection.close()
                    break
                held.append(connection)
            self.assertGreaterEqual(len(held), 6)
            self.assertLessEqual(len(held), 8)
            for path, check in [
                ("/api/v1/cloud/environments/env_00000000000000000000000000000000",
                 lambda body: body["error"]["type"] == "unavailable_error"),
                ("/v1/environments/env_00000000000000000000000000000000", lambda body: body["error"]["type"] == "api_error"),
                ("/v1/workers/wrk_01h455vb4pex5vsknk084sn02q", lambda body: body == {"error": "unavailable"}),
            ]:
                answer, closed = raw(LIMITED, request("GET", path))
                [(status, headers, body)] = responses(answer)
                self.assertEqual(status, 503)
                self.assertEqual(headers["retry-after"], "1")
                self.assertTrue(check(json.loads(body)), body)
                self.assertTrue(closed)
            held.pop().close()
            deadline = time.monotonic() + 5
            while True:
                answer, _ = raw(LIMITED, b"GET /healthz HTTP/1.1\r\nHost: lessor\r\nConnection: close\r\n\r\n")
                if responses(answer)[0][0] == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(responses(answer)[0][0], 200)
        finally:
            for connection in held:
                connection.close()


class ByteLevelFuzz(unittest.TestCase):
    """Malformed request lines, headers and encodings at the heartbeat route: every answer is
    a response below 500 (or a closed connection), and the node answers well-formed requests
    after each batch of them."""

    def handmade(self, path):
        valid = request("POST", path, headers={"Worker-ID": "steady"})
        return [
            b"\x00\x01\x02\r\n\r\n", b"GARBAGE\r\n\r\n", b"POST\r\n\r\n", b"POST  HTTP/1.1\r\n\r\n",
            valid.replace(b"HTTP/1.1", b"HTTP/9.9"), valid.replace(b"HTTP/1.1", b"HTTP/1.1x"),
            valid.replace(b"POST ", b"P\x00ST "), valid.replace(b"POST", b"BREW"), valid.replace(b"\r\n", b"\n"),
            valid.replace(b"\r\n", b"\r"), valid.replace(b"Host: lessor", b"Host lessor"),
            valid.replace(b"Host: lessor", b"Host : lessor"), valid.replace(b"Host: lessor", b"Host: lessor\r\n folded"),
            valid.replace(b"Content-Length: 0", b"Content-Length: -1"), valid.replace(b"Content-Length: 0", b"Content-Length: 0\r\nContent-Length: 5"),
            valid.replace(b"Content-Length: 0", b"Content-Length: 99999999999999999999999"),
            valid.replace(b"Content-Length: 0", b"Transfer-Encoding: chunked") + b"zz\r\nhello\r\n0\r\n\r\n",
            valid.replace(b"Content-Length: 0", b"Transfer-Encoding: chunked\r\nContent-Length: 3") + b"3\r\nabc\r\n0\r\n\r\n",
            valid.replace(b"Content-Length: 0", b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n",
            valid.replace(b"Content-Length: 0", b"Content-Length: 7\r\nContent-Type: application/json") + b"{\"x\":\xff}",
            valid.replace(path.encode(), path.encode() + b"%zz"), valid.replace(path.encode(), path.encode() + b"&desired_ttl_seconds=%00"),
            valid.replace(path.encode(), path.encode().replace(b"/work/", b"/w\xc3\x28rk/")),
            valid.replace(path.encode(), b"*"), valid.replace(path.encode(), b"http://other" + path.encode()),
            valid.replace(b"Bearer ", b"Bearer \xe2\x82"), valid.replace(b"Worker-ID: steady", b"Worker-ID: st\x7feady"),
            valid.replace(b"Worker-ID: steady", b"Worker-ID: " + b"w" * 200),
            valid + valid + b"POST / HTTP/1.1\r\n\r\n\x00",
        ]

    def mutated(self, rng, valid):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(4)
            position = rng.randrange(len(data) + 1)
            if kind == 0 and data:
                data[min(position, len(data) - 1)] = rng.randrange(256)
            elif kind == 1:
                data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif kind == 2:
                del data[position:position + rng.randint(1, 16)]
            else:
                end = min(len(data), position + rng.randint(1, 32))
                data[position:position] = data[position:end]
        return bytes(data)

    def test_malformed_bytes_never_get_a_5xx_and_the_node_keeps_serving(self):
        rng = random.Random(FUZZ_SEED)
        fixture = Fixture.get()
        paths = [fixture.heartbeat, f"/v1/environments/{fixture.environment}/work/{fixture.work}/heartbeat",
                 "/v1/workers/wrk_01h455vb4pex5vsknk084sn02q/activity-heartbeat"]
        cases = [case for path in paths for case in self.handmade(path)]
        valid = [request("POST", path, body=b'{"isActiveRecently":true}', headers={"Worker-ID": "steady", "Content-Type": "application/json"})
                 for path in paths]
        cases += [self.mutated(rng, rng.choice(valid)) for _ in range(FUZZ_CASES)]
        problems, statuses = [], {}

        def send(data):
            answer, closed = raw(URL, data, READ_TIMEOUT + 4, settle=0.2)
            found = responses(answer)
            for status, _, _ in found:
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 500:
                    problems.append(f"{status} for {data[:160]!r}: {answer[:300]!r}")
            if answer and not found:
                problems.append(f"not an HTTP response for {data[:160]!r}: {answer[:160]!r}")
            if not answer and not closed:
                problems.append(f"no answer and still open after {READ_TIMEOUT + 4} s for {data[:160]!r}")

        with ThreadPoolExecutor(48) as pool:
            for start in range(0, len(cases), 96):
                list(pool.map(send, cases[start:start + 96]))
                if not heartbeat_ok():
                    problems.append(f"a well-formed heartbeat failed after cases {start}-{start + 95}")
        print(f"fuzz: {len(cases)} cases, seed {FUZZ_SEED}, statuses {dict(sorted(statuses.items()))}")
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
