#!/usr/bin/env python3
"""The benchmark runner: Lessor against this machine's floors and against etcd, in one run.

    bash bench/run.sh            (installs what it needs, builds release, runs this)

Starts every server on free 127.0.0.1 ports, measures, stops everything it started, and
writes bench/results/<date>.md and bench/results/<date>.png. Absolute rates drift on shared
machines, so every figure that matters is a ratio to a floor measured in the same run.
Environment: DURATION (seconds per wrk run, default 10), BIN (release bin directory).
"""
import datetime, glob, json, os, platform, re, shutil, signal, socket, subprocess, sys, tempfile, time

from http.client import HTTPConnection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("BIN") or os.path.join(ROOT, ".build", "release"))
DURATION = int(os.environ.get("DURATION", "10"))
THREADS = 2
ADMIN = "bench-admin-token"
WORK = tempfile.mkdtemp(prefix="lessor-bench-")
TICK = os.sysconf("SC_CLK_TCK")
started = []  # every process we started, stopped at exit


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=20):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {limit} s")


def start(name, argv, env=None, port=None):
    log = open(os.path.join(WORK, name + ".log"), "w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                               cwd=WORK, start_new_session=True)
    started.append(process)
    if port:
        wait_port(port)
    return process


def stop_all():
    for process in reversed(started):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    shutil.rmtree(WORK, ignore_errors=True)


class Redis:
    """A minimal RESP client: enough for INFO, SLOWLOG, FCALL and pipelined setup."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def read(self):
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = self.file.read(int(rest) + 2)[:-2]
            return data.decode(errors="replace")
        if kind == b"*":
            return None if int(rest) < 0 else [self.read() for _ in range(int(rest))]
        raise RuntimeError(f"bad RESP line {line!r}")

    def call(self, *args):
        self.sock.sendall(self.encode(*args))
        return self.read()

    def pipeline(self, commands, batch=2000):
        replies = []
        for offset in range(0, len(commands), batch):
            chunk = commands[offset:offset + batch]
            self.sock.sendall(b"".join(self.encode(*c) for c in chunk))
            replies.extend(self.read() for _ in chunk)
        return replies

    def info(self, section):
        fields = {}
        for line in self.call("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                fields[key] = value
        return fields

    def commandstats(self):
        stats = {}
        for key, value in self.info("commandstats").items():
            parts = dict(part.split("=") for part in value.split(","))
            stats[key[len("cmdstat_"):]] = (int(parts["calls"]), int(parts["usec"]))
        return stats

    def cpu_seconds(self):
        cpu = self.info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except FileNotFoundError:
            pass
    return total / TICK


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def api(port, method, path, body=None, token=ADMIN, headers=None):
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    data = json.dumps(body) if body is not None else None
    connection.request(method, path, data, ({"Authorization": f"Bearer {token}"} if token else {}) | (headers or {}))
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, (json.loads(payload) if payload.strip() else None)


WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def latency_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(match.group(1)) * WRK_UNITS[match.group(2)]


def warm_up(url, script="post.lua", args=()):
    """Two unmeasured seconds of load: a server's first seconds (allocator, caches, its
    connections to Redis) would otherwise weigh on whichever run comes first."""
    wrk(url, script, args, duration=2)


def wrk(url, script, args=(), connections=64, duration=None, pids=()):
    """Runs wrk with --latency; returns rate, errors, p50/p99/max (ms) and CPU s of `pids`."""
    duration = duration or DURATION
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
               "-s", os.path.join(ROOT, "bench", "wrk", script), url]
    if args:
        command += ["--"] + [str(a) for a in args]
    before = cpu_seconds(pids)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pids) - before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    statuses = re.search(r"^statuses: (.*)$", output, re.M)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    maximum = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output).group(1)
    fine = re.search(r"^percentiles_us: (\d+) (\d+) (\d+)$", output, re.M)  # bench/wrk/heartbeat.lua's
    return {
        **({"p999": int(fine.group(3)) / 1000} if fine else {}),
        "rate": rate, "requests": total, "errors": errors, "socket_errors": socket_errors.group(1) if socket_errors else "",
        "statuses": statuses.group(1) if statuses else "",
        "p50": latency_ms(percentiles["50"]), "p99": latency_ms(percentiles["99"]), "max": latency_ms(maximum),
        "cpu_us": cpu / max(total - errors, 1) * 1e6, "command": " ".join(command[:-2] if args else command),
    }


def environment_keys(env, version=None):
    """The nine keys every whole-environment function of lua/lessor.lua declares first, and
    the three ARGV they start with (KeySpace.environmentKeys / environmentArguments).
    `version` (a library name): libraries before lessor_v5 declare the first eight."""
    prefix = f"lessor:{{{env}}}:"
    names = ["env", "queue", "delivered", "available", "deadlines", "items", "pollers", "stopped", "lapses"]
    if version and int(version.rsplit("_v", 1)[1]) < 5:
        names = names[:8]
    return [prefix + name for name in names], [prefix + "work:", prefix + "lease:", prefix + "wakeup"]


class Library:
    """A Redis Functions library file and the FCALL lines of its work functions."""

    def __init__(self, path):
        self.code = open(path).read()
        self.version = re.match(r"#!lua name=(\S+)", self.code).group(1)

    def item_call(self, function, env, work, *args):
        """FCALL of a whole-environment work function that names one item."""
        keys, prefixes = environment_keys(env, self.version)
        prefix = f"lessor:{{{env}}}:"
        return ("FCALL", f"{self.version}_{function}", len(keys) + 2, *keys, prefix + "work:" + work, prefix + "lease:" + work,
                *prefixes, work, *args)

    def heartbeat_call(self, env, work, ttl, expected=""):
        """FCALL of the heartbeat function for Worker-ID "bench"."""
        prefix = f"lessor:{{{env}}}:"
        return ["FCALL", f"{self.version}_work_heartbeat", "4", prefix + "env", prefix + "work:" + work, prefix + "lease:" + work,
                prefix + "deadlines", work, "bench", expected, str(ttl), "refuse"]

    def leased_items(self, redis, count, heartbeats=1):
        """An environment with `count` items enqueued, acknowledged by "bench" and heartbeated."""
        env = f"env_{os.urandom(16).hex()}"
        redis.call("FCALL", f"{self.version}_environment_create", 1, f"lessor:{{{env}}}:env", "bench", "", "self_hosted", "{}", 0)
        # Ids end in 12 decimal digits so redis-benchmark -r can pick among them (__rand_int__).
        stem = os.urandom(10).hex()
        ids = [f"work_{stem}{n:012d}" for n in range(count)]
        for function, args in (("work_enqueue", ("session", "{}")), ("work_ack", ("bench", 600))):
            replies = redis.pipeline([self.item_call(function, env, i, *((args[0], "sess_" + i[5:], args[1]) if function == "work_enqueue" else args))
                                      for i in ids])
            assert all(r[0] == "ok" for r in replies), replies[:1]
        for _ in range(heartbeats):
            replies = redis.pipeline([self.heartbeat_call(env, i, 600) for i in ids])
            # (a successful heartbeat answers one string, "ok <last heartbeat> ...")
            assert all(r.split()[0] == "ok" if isinstance(r, str) else r[0] == "ok" for r in replies), replies[:1]
        return env, ids


LIBRARY = Library(os.path.join(ROOT, "lua", "lessor.lua"))


class Lessor:
    """One redis-server and `lessor serve` replicas on it, with helpers to make leased items."""

    def __init__(self):
        self.redis_port = free_port()
        start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", WORK], port=self.redis_port)
        self.redis = Redis(self.redis_port)
        self.replicas = []
        self.add_replica()
        self.redis.call("FUNCTION", "LOAD", "REPLACE", LIBRARY.code)

    def add_replica(self, default_logging=False):
        """Starts one more `lessor serve` on the same Redis. Tuned (the default here): access
        logs off (LESSOR_LOG_LEVEL=notice). `default_logging`: as users run it, every setting
        at its default, one JSON access log line per request (written to a file)."""
        port = free_port()
        settings = {"LESSOR_PORT": str(port), "LESSOR_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}", "LESSOR_ADMIN_TOKEN": ADMIN}
        if not default_logging:
            settings["LESSOR_LOG_LEVEL"] = os.environ.get("LESSOR_LOG_LEVEL", "notice")
        process = start(f"lessor-{len(self.replicas)}", [os.path.join(BIN, "lessor"), "serve"], settings, port=port)
        deadline = time.time() + 20
        while api(port, "GET", "/readyz")[0] != 200:
            if time.time() > deadline:
                raise RuntimeError("lessor never became ready")
            time.sleep(0.1)
        self.replicas.append((process, port))
        return port

    @property
    def port(self):
        return self.replicas[0][1]

    def environment(self):
        status, body = api(self.port, "POST", "/api/v1/cloud/environments", {"name": "bench", "config": {"type": "self_hosted"}})
        assert status == 201, body
        return body["id"]

    def leased_items(self, env, count, ttl=600):
        """`count` items enqueued and acknowledged by Worker-ID "bench", through the very
        functions the API runs, pipelined (the API would take minutes to create 100,000)."""
        ids = [f"work_{os.urandom(16).hex()}" for _ in range(count)]
        ids.sort()
        replies = self.redis.pipeline([LIBRARY.item_call("work_enqueue", env, i, "session", "sess_" + i[5:], "{}") for i in ids])
        assert all(r[0] == "ok" for r in replies), replies[:3]
        replies = self.redis.pipeline([LIBRARY.item_call("work_ack", env, i, "bench", ttl) for i in ids])
        assert all(r[0] == "ok" for r in replies), replies[:3]
        path = os.path.join(WORK, f"items-{env}.txt")
        open(path, "w").write("\n".join(ids) + "\n")
        return ids, path


def heartbeat_run(lessor, env, items_file, connections=64, port=None, pids=None, pause_ms=None, duration=None):
    """One wrk run of CAS heartbeats over the items in `items_file`, each chain starting from
    the item's last heartbeat as Redis has it now; with `pause_ms`, a paced run (each
    connection waits that long between an answer and its next request)."""
    port = port or lessor.port
    pids = pids if pids is not None else [p.pid for p, _ in lessor.replicas]
    ids = open(items_file).read().split()
    # wrk exits with requests in flight; the servers still answer them. Read the expectations
    # only after those land, or their items start from a stale value and answer 412.
    time.sleep(1)
    lasts = lessor.redis.pipeline([("HGET", f"lessor:{{{env}}}:work:{i}", "latest_heartbeat_at") for i in ids])
    expected_file = items_file + ".expected"
    open(expected_file, "w").write("\n".join(last or "NO_HEARTBEAT" for last in lasts) + "\n")
    before = lessor.redis.commandstats()
    redis_cpu = lessor.redis.cpu_seconds()
    arguments = (items_file, ADMIN, env, THREADS, expected_file) + ((pause_ms,) if pause_ms is not None else ())
    result = wrk(f"http://127.0.0.1:{port}", "heartbeat.lua", arguments, connections, duration=duration, pids=pids)
    redis_cpu = lessor.redis.cpu_seconds() - redis_cpu
    after = lessor.redis.commandstats()
    good = result["requests"] - result["errors"]
    # Round trips Lessor sent: every one is an FCALL (EVALSHA for releases before the Functions
    # library, which bench/ab.py may compare against), the reaper's sweeps included, which is
    # why the figure sits a little above 1. commandstats also counts each command a function
    # runs inside, so the other rows are not round trips.
    calls = ("fcall", "evalsha")
    delta = lambda field: sum(after.get(c, (0, 0))[field] - before.get(c, (0, 0))[field] for c in calls)
    result["redis_calls"] = delta(0) / max(good, 1)
    result["redis_inner_commands"] = sum(after[c][0] - before.get(c, (0, 0))[0] for c in after if c not in calls) / max(good, 1)
    result["redis_script_us"] = delta(1) / max(good, 1)
    result["redis_cpu_us"] = redis_cpu / max(good, 1) * 1e6
    if result["errors"]:
        # A failed run must say why: the answers' statuses and what the replicas logged.
        print("FAILED REQUESTS:", result["statuses"], flush=True)
        for path in sorted(glob.glob(os.path.join(WORK, "lessor-*.log"))):
            print(f"--- {path} (last 20 lines)", *open(path, errors="replace").readlines()[-20:], sep="", flush=True)
    return result


COMPONENTS = [  # (component, test on (dso, mangled symbol, kernel?)), first match wins
    ("kernel (syscalls, scheduler, TCP)", lambda dso, sym, k: k),
    ("Lessor's own code + hiredis", lambda dso, sym, k: "hiredis" in dso or re.match(r"\$s\d+Lessor", sym)),
    ("Hummingbird + HTTPTypes", lambda dso, sym, k: re.match(r"\$s\d+(Hummingbird|HTTPTypes)", sym)),
    ("SwiftNIO (incl. its C HTTP parser)", lambda dso, sym, k: re.match(r"\$s\d+(NIO|_NIO|DequeModule|Atomics)", sym) or "nio_" in sym),
    ("Swift runtime + stdlib (retain/release, generics, strings)", lambda dso, sym, k: "libswiftCore" in dso or sym.startswith("$ss")),
    ("Swift concurrency + Dispatch", lambda dso, sym, k: "Concurrency" in dso or "dispatch" in dso),
    ("libc (malloc/free, memcpy, locks)", lambda dso, sym, k: "libc.so" in dso or "ld-linux" in dso or "vdso" in dso),
    ("Foundation", lambda dso, sym, k: "Foundation" in dso),
    ("other (metrics, logging, ...)", lambda dso, sym, k: True),
]


def profile(pid, workload):
    """`perf record -g` of process `pid` while `workload()` runs (it returns a wrk result):
    the hottest symbols by self time, the heaviest of Lessor's and Hummingbird's own frames
    by inclusive time, and CPU µs per request by component (self time split by library or
    Swift module, times the run's CPU µs per request)."""
    if shutil.which("perf") is None:
        return None
    data = os.path.join(WORK, f"perf-{pid}.data")
    perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    result = workload()
    perf.send_signal(signal.SIGINT)
    perf.wait()

    def report(*options, sort="sym"):
        out = subprocess.run(["perf", "report", "-i", data, "--sort", sort, "-g", "none", *options],
                             capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            match = re.match(r"\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?" + (r"(\S+)\s+" if sort == "dso,sym" else r"()") + r"\[(.)\]\s+(.*)", line)
            if match:
                rows.append((float(match.group(1)), match.group(3), match.group(4) == "k", match.group(5).strip()))
        return rows
    self_rows = report("--no-children", "--percent-limit", "0.5")
    self_time = [(pct, ("kernel: " if kernel else "") + readable(sym)) for pct, _, kernel, sym in self_rows[:20]]
    # Filtered on the mangled name, which still carries the module.
    ours = r"Lessor(HTTP|Redis|Core)|Hummingbird|JSONEncoder"
    inclusive = [(pct, readable(sym)) for pct, _, _, sym in report("--children", "--percent-limit", "0.5") if re.search(ours, sym)][:25]
    components = {name: 0.0 for name, _ in COMPONENTS}
    for pct, dso, kernel, sym in report("--no-children", "--percent-limit", "0", sort="dso,sym"):
        name = next(name for name, test in COMPONENTS if test(dso, sym, kernel))
        components[name] += pct / 100 * result["cpu_us"]
    return {"self": self_time, "inclusive": inclusive, "components": components, "cpu_us": result["cpu_us"]}


def main():
    results = {"date": datetime.date.today().isoformat()}
    print(f"work dir {WORK}; {DURATION} s per wrk run", flush=True)

    # Floors: Hummingbird hello world and nginx, driven by the same wrk command.
    port = free_port()
    hello = start("hello", [os.path.join(BIN, "HelloWorldBench"), str(port)], port=port)
    warm_up(f"http://127.0.0.1:{port}/hello")
    results["hello"] = wrk(f"http://127.0.0.1:{port}/hello", "post.lua", pids=[hello.pid])
    print("hello world", results["hello"], flush=True)
    results["hello_profile"] = profile(hello.pid, lambda: wrk(f"http://127.0.0.1:{port}/hello", "post.lua", pids=[hello.pid]))
    os.killpg(hello.pid, signal.SIGTERM)

    port = free_port()
    conf = os.path.join(WORK, "nginx.conf")
    open(conf, "w").write(f"""worker_processes auto; pid {WORK}/nginx.pid; error_log {WORK}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{
  default_type application/json; return 200 '{{"type":"work_heartbeat","ok":true}}'; }} }} }}
""")
    nginx = start("nginx", ["nginx", "-c", conf, "-p", WORK, "-g", "daemon off;"], port=port)
    results["nginx"] = wrk(f"http://127.0.0.1:{port}/", "post.lua", pids=[nginx.pid] + children(nginx.pid))
    print("nginx", results["nginx"], flush=True)
    os.killpg(nginx.pid, signal.SIGTERM)

    # Lessor: H1, C1, R1 at 64 connections on 1,000 live items.
    lessor = Lessor()
    env = lessor.environment()
    _, items = lessor.leased_items(env, 1000)
    # The floor of any route that asks Redis once: the hello world after one EVALSHA of
    # `return 1` through LessorRedis, on the same Redis.
    port = free_port()
    floor = start("hello-redis", [os.path.join(BIN, "HelloWorldBench"), str(port), str(lessor.redis_port)], port=port)
    warm_up(f"http://127.0.0.1:{port}/redis")
    results["hello_redis"] = wrk(f"http://127.0.0.1:{port}/redis", "post.lua", pids=[floor.pid])
    print("hello world + one Redis round trip", results["hello_redis"], flush=True)
    results["hello_redis_profile"] = profile(floor.pid, lambda: wrk(f"http://127.0.0.1:{port}/redis", "post.lua", pids=[floor.pid]))
    os.killpg(floor.pid, signal.SIGTERM)
    heartbeat_run(lessor, env, items, duration=2)  # warm-up, unmeasured
    results["h1"] = heartbeat_run(lessor, env, items)
    print("lessor", results["h1"], flush=True)
    for connections in (16, 256):
        results[f"h1_c{connections}"] = heartbeat_run(lessor, env, items, connections)
        print(f"lessor c{connections}", results[f"h1_c{connections}"], flush=True)

    # Where a heartbeat's CPU goes: perf samples of the lessor process during one more run.
    results["profile"] = profile(lessor.replicas[0][0].pid, lambda: heartbeat_run(lessor, env, items))

    # Latency at a fixed rate, the figure fleets are sized with: paced runs at 50 % and 80 % of
    # the maximum measured above (64 connections). A short calibration run first finds the
    # pause that gives the rate (a paced connection's cycle is its pause plus the latency);
    # each rate then runs three times and the run with the median p99 is reported, since one
    # stall of a shared host moves a p99 (all runs kept in the JSON).
    results["paced"] = {}
    for share in (0.5, 0.8):
        target = results["h1"]["rate"] * share
        pause = 64 / target * 1000
        probe = heartbeat_run(lessor, env, items, 64, pause_ms=int(pause), duration=4)
        pause = max(0, int(round(pause - (64 / probe["rate"] * 1000 - pause))))
        runs = [heartbeat_run(lessor, env, items, 64, pause_ms=pause) for _ in range(3)]
        for run in runs:
            run["target"], run["pause_ms"] = target, pause
            print(f"paced {share:.0%}", run, flush=True)
        results["paced"][f"{share:.0%}"] = {"runs": runs, "median": sorted(runs, key=lambda r: r["p99"])[1]}

    # The default configuration, as users run it: access logs on (one JSON line per request,
    # to a file here), every other setting at its default; same Redis, same items.
    default_port = lessor.add_replica(default_logging=True)
    default_pids = [lessor.replicas[-1][0].pid]
    heartbeat_run(lessor, env, items, 64, port=default_port, pids=default_pids, duration=2)  # warm-up
    results["h1_default"] = heartbeat_run(lessor, env, items, 64, port=default_port, pids=default_pids)
    print("lessor, default configuration", results["h1_default"], flush=True)
    os.killpg(default_pids[0], signal.SIGTERM)
    lessor.replicas.pop()

    # Redis's side, in figures that do not drift with the machine: instructions per call,
    # bytes per leased item, and one Redis core's heartbeat ceiling (bench/redis_cost.py).
    import redis_cost
    results["script_instructions"], _ = redis_cost.instructions(LIBRARY)
    print("callgrind", results["script_instructions"], flush=True)
    results["m1"], results["m1_parts"], _ = redis_cost.memory(LIBRARY, 100_000)
    print("M1 bytes per item", results["m1"], flush=True)
    results["redis_ceiling"] = redis_cost.ceiling(LIBRARY)
    print("redis-benchmark", results["redis_ceiling"], flush=True)

    big_env = lessor.environment()
    _, big_items = lessor.leased_items(big_env, 100_000)
    results["h1_100k"] = heartbeat_run(lessor, big_env, big_items)
    print("lessor 100k items", results["h1_100k"], flush=True)

    # Two replicas behind HAProxy against one behind HAProxy.
    second = lessor.add_replica()
    for label, ports in (("haproxy_1", [lessor.port]), ("haproxy_2", [lessor.port, second])):
        # (the second replica idles during the one-replica run)
        lb_port = free_port()
        cfg = os.path.join(WORK, label + ".cfg")
        servers = "".join(f"    server n{n} 127.0.0.1:{p}\n" for n, p in enumerate(ports))
        open(cfg, "w").write(f"""global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 75s
    timeout server 10s
    option http-keep-alive
frontend lessor
    bind 127.0.0.1:{lb_port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}""")
        proxy = start(label, ["haproxy", "-f", cfg], port=lb_port)
        results[label] = heartbeat_run(lessor, env, items, 64, port=lb_port, pids=[p.pid for p, _ in lessor.replicas] + [proxy.pid])
        print(label, results[label], flush=True)
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait()

    # Reaper: 10,000 leases lapse at once; time until all are queued again, and the longest
    # single command Redis ran meanwhile.
    reap_env = lessor.environment()
    reap_ids, _ = lessor.leased_items(reap_env, 10_000)
    prefix = f"lessor:{{{reap_env}}}:"
    lessor.redis.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
    lessor.redis.call("CONFIG", "SET", "slowlog-max-len", "200000")
    lessor.redis.pipeline([("DEL", prefix + "lease:" + i) for i in reap_ids])
    lessor.redis.call("SLOWLOG", "RESET")
    began = time.time()
    lessor.redis.pipeline([("ZADD", prefix + "deadlines", 0, i) for i in reap_ids])
    while lessor.redis.call("ZCARD", prefix + "queue") < len(reap_ids):
        if time.time() - began > 120:
            raise RuntimeError("the reaper did not requeue 10,000 leases within 120 s")
        time.sleep(0.01)
    results["reaper_seconds"] = time.time() - began
    entries = lessor.redis.call("SLOWLOG", "GET", "200000")
    scripts = [e for e in entries if e[3][0].upper() == "FCALL"]
    results["reaper_longest_us"] = max(e[2] for e in scripts)
    results["reaper_calls"] = sum(1 for e in scripts if e[3][1] == "lessor_v5_work_reap")
    lessor.redis.call("CONFIG", "SET", "slowlog-log-slower-than", "10000")
    print("reaper", results["reaper_seconds"], results["reaper_longest_us"], flush=True)

    # E1: etcd lease keep-alives through its JSON gateway at the same concurrency.
    client_port, peer_port = free_port(), free_port()
    etcd = start("etcd", ["etcd", "--data-dir", os.path.join(WORK, "etcd"), "--listen-client-urls", f"http://127.0.0.1:{client_port}",
                          "--advertise-client-urls", f"http://127.0.0.1:{client_port}", "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                          "--initial-cluster", f"default=http://127.0.0.1:{peer_port}"], port=client_port)
    leases = []
    for _ in range(1000):
        _, granted = api(client_port, "POST", "/v3/lease/grant", {"TTL": 600}, token=None)
        leases.append(granted["ID"])
    leases_file = os.path.join(WORK, "leases.txt")
    open(leases_file, "w").write("\n".join(leases) + "\n")
    results["etcd"] = wrk(f"http://127.0.0.1:{client_port}", "etcd-keepalive.lua", (leases_file,), pids=[etcd.pid])
    print("etcd", results["etcd"], flush=True)

    results["versions"] = versions()
    write_report(results)


def versions():
    def first(command):
        try:
            out = subprocess.run(command, capture_output=True, text=True)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return {
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "cores": os.cpu_count(), "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "kernel": platform.release(), "swift": first(["swift", "--version"]), "redis": first(["redis-server", "--version"]),
        "nginx": first(["nginx", "-v"]), "etcd": first(["etcd", "--version"]), "wrk": first(["wrk", "-v"]),
        "haproxy": first(["haproxy", "-v"]),
    }


def readable(symbol):
    """A symbol as a person reads it: demangled, generic noise cut, at most 110 characters."""
    symbol = symbol.split(" ---> ")[-1]
    if symbol.startswith("$s"):
        symbol = subprocess.run(["swift", "demangle", "--simplified", "--compact", symbol], capture_output=True, text=True).stdout.strip() or symbol
    symbol = re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", symbol))
    return symbol if len(symbol) <= 110 else symbol[:107] + "..."


def write_report(r):
    h1, hello, trip, nginx, etcd, default = r["h1"], r["hello"], r["hello_redis"], r["nginx"], r["etcd"], r["h1_default"]
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, r["date"])
    chart(r, base + ".png")
    v = r["versions"]
    ok = lambda met: "met" if met else "**not met**"
    p99s = lambda runs: " / ".join(f"{run['p99']:.2f}" for run in runs)
    instructions = r["script_instructions"]
    paced = r["paced"]
    lines = [
        f"# Benchmark results {r['date']}", "",
        f"Machine: {v['cores']} cores, {v['cpu']}, {v['memory']}, Linux {v['kernel']}. "
        f"{v['swift']}; {v['redis']}; {v['nginx']}; {v['etcd']}; {v['wrk']}; {v['haproxy']}.", "",
        f"Command: `bash bench/run.sh` (DURATION={DURATION} s per wrk run, `wrk -t{THREADS} --latency`, 64 connections unless "
        "a row says otherwise; Lessor tuned: access logs off, `LESSOR_LOG_LEVEL=notice`; the default configuration has one row "
        "of its own). wrk, the servers and Redis share the same cores, so rates are compared as ratios within this run.", "",
        "| figure | measured | target | |", "|---|---|---|---|",
        f"| Redis instructions per steady heartbeat (callgrind; the same on any machine) | **{instructions['heartbeat']:,.0f}** | ≤ 60,000 | {ok(instructions['heartbeat'] <= 60000)} |",
        f"| … ÷ the heartbeat-like reference (TIME, HGET, HSET, SET PX: {instructions['heartbeat-like']:,.0f}; `return 1`: {instructions['return 1']:,.0f}) "
        f"| **{instructions['heartbeat'] / instructions['heartbeat-like']:.2f}** | ≤ 1.05 | {ok(instructions['heartbeat'] / instructions['heartbeat-like'] <= 1.05)} |",
        f"| Redis CPU µs per heartbeat (`INFO cpu`, during the 64-connection run) / function µs (`commandstats`) | **{h1['redis_cpu_us']:.1f}** / {h1['redis_script_us']:.1f} | ≤ 12 | {ok(h1['redis_cpu_us'] <= 12)} |",
        f"| Heartbeats/s of one Redis core (`redis-benchmark -c 64 -r 1000`, -P 1 / -P 16) | {r['redis_ceiling']['P1']:,.0f} / {r['redis_ceiling']['P16']:,.0f} | – | |",
        f"| Redis round trips (FCALL) per heartbeat, reaper sweeps included | **{h1['redis_calls']:.3f}** | 1 | {ok(h1['redis_calls'] < 1.05)} |",
        f"| Front node: CPU µs per heartbeat ÷ the hello world after one Redis round trip | {h1['cpu_us']:.1f} ÷ {trip['cpu_us']:.1f} = **{h1['cpu_us'] / trip['cpu_us']:.2f}** | ≤ 1.15 | {ok(h1['cpu_us'] / trip['cpu_us'] <= 1.15)} |",
        f"| Front node: heartbeats/s ÷ the bare hello world's requests/s | {h1['rate']:,.0f} ÷ {hello['rate']:,.0f} = **{h1['rate'] / hello['rate']:.2f}** | ≥ 0.5 | {ok(h1['rate'] / hello['rate'] >= 0.5)} |",
        f"| … the same against the hello world after one Redis round trip (rate; CPU against the bare one) | {h1['rate'] / trip['rate']:.2f}; "
        f"{h1['cpu_us']:.1f} ÷ {hello['cpu_us']:.1f} = {h1['cpu_us'] / hello['cpu_us']:.2f} | – | |",
        f"| Default configuration (access logs on): heartbeats/s; CPU µs per heartbeat ÷ the tuned one's | {default['rate']:,.0f}; "
        f"{default['cpu_us']:.1f} ÷ {h1['cpu_us']:.1f} = **{default['cpu_us'] / h1['cpu_us']:.2f}** | measured | |",
        f"| Redis bytes per leased, heartbeated item (100,000 items; one item's hash / lease key: {r['m1_parts']['item hash']} / {r['m1_parts']['lease key']}) "
        f"| **{r['m1']:,.0f}** | ≤ 600 | {ok(r['m1'] <= 600)} |",
        *[f"| Latency at {share} of the maximum: {paced[share]['median']['rate']:,.0f}/s paced (target {paced[share]['median']['target']:,.0f}); "
          f"p50 / p99 / p99.9 (the median p99 of 3 runs: {p99s(paced[share]['runs'])}) | {paced[share]['median']['p50']:.2f} / "
          f"**{paced[share]['median']['p99']:.2f}** / {paced[share]['median']['p999']:.2f} ms | measured | |" for share in paced],
        f"| Heartbeats/s ÷ etcd lease keep-alives/s (JSON gateway) | {h1['rate']:,.0f} ÷ {etcd['rate']:,.0f} = **{h1['rate'] / etcd['rate']:.2f}** | ≥ 2 | {ok(h1['rate'] / etcd['rate'] >= 2)} |",
        f"| Heartbeats/s ÷ nginx's fixed response | {h1['rate']:,.0f} ÷ {nginx['rate']:,.0f} = {h1['rate'] / nginx['rate']:.2f} | – | |",
        f"| Reaper: 10,000 lapsed leases requeued / longest single script meanwhile | {r['reaper_seconds']:.2f} s / {r['reaper_longest_us']:,} µs ({r['reaper_calls']} reap calls) | no stall | |",
        "", "## Every run", "",
        "| run | conns | req/s | non-2xx | p50 ms | p99 ms | p99.9 ms | max ms | CPU µs/req | Redis calls/req | Redis CPU µs/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [("Hummingbird hello world", 64, hello)]
    rows += [("hello world + one Redis round trip (LessorRedis)", 64, r["hello_redis"])] if r.get("hello_redis") else []
    rows += [("nginx fixed 200", 64, nginx), ("etcd keep-alive (JSON gateway)", 64, etcd),
            ("Lessor, 1,000 items", 16, r["h1_c16"]), ("Lessor, 1,000 items", 64, h1), ("Lessor, 1,000 items", 256, r["h1_c256"]),
            ("Lessor, 100,000 items", 64, r["h1_100k"]), ("HAProxy → 1 Lessor", 64, r["haproxy_1"]), ("HAProxy → 2 Lessors", 64, r["haproxy_2"])]
    rows += [("Lessor, 1,000 items, default configuration", 64, default)]
    rows += [(f"Lessor, 1,000 items, paced at {share} of the maximum", 64, run) for share in paced for run in paced[share]["runs"]]
    for name, connections, run in rows:
        redis = f"{run['redis_calls']:.3f} | {run['redis_cpu_us']:.1f}" if "redis_calls" in run else "– | –"
        failed = f"{run['errors']} ({run['statuses']})" if run["errors"] and run.get("statuses") else f"{run['errors']}"
        p999 = f"{run['p999']:.2f}" if "p999" in run else "–"
        lines.append(f"| {name} | {connections} | {run['rate']:,.0f} | {failed} | {run['p50']:.2f} | {run['p99']:.2f} | {p999} | "
                     f"{run['max']:.2f} | {run['cpu_us']:.1f} | {redis} |")
    if r.get("profile"):
        lines += ["", "## Where a heartbeat's CPU goes (`perf record -g` of `lessor serve` during a 64-connection run)", ""]
        if r["profile"].get("components") and r.get("hello_profile"):
            ours, hello_parts = r["profile"]["components"], r["hello_profile"]["components"]
            trip = (r.get("hello_redis_profile") or {}).get("components")
            lines += ["CPU µs per request by component (perf self time by library or Swift module; perf itself "
                      "inflates every figure, so compare the columns, not with the tables above):", "",
                      "| component | Lessor heartbeat | hello world | difference |" + (" hello world + one Redis round trip | Lessor − that |" if trip else ""),
                      "|---|---|---|---|" + ("---|---|" if trip else "")]
            for name in ours:
                row = f"| {name} | {ours[name]:.1f} | {hello_parts.get(name, 0):.1f} | {ours[name] - hello_parts.get(name, 0):+.1f} |"
                if trip:
                    row += f" {trip.get(name, 0):.1f} | {ours[name] - trip.get(name, 0):+.1f} |"
                lines.append(row)
            total = lambda parts: sum(parts.values())
            row = f"| **total** | {total(ours):.1f} | {total(hello_parts):.1f} | {total(ours) - total(hello_parts):+.1f} |"
            lines += [row + (f" {total(trip):.1f} | {total(ours) - total(trip):+.1f} |" if trip else ""), ""]
        lines += ["Hottest symbols by self time:", "", "| self % | symbol |", "|---|---|"]
        lines += [f"| {p:.1f} | `{name}` |" for p, name in r["profile"]["self"]]
        lines += ["", "Lessor's, Hummingbird's, the JSON encoder's and the Redis wrapper's heaviest frames, inclusive:", "",
                  "| incl. % | frame |", "|---|---|"]
        lines += [f"| {p:.1f} | `{name}` |" for p, name in r["profile"]["inclusive"]]
    def template(command):
        command = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", command)
        command = re.sub(r"/tmp/lessor-bench-[^/]+/", "WORK/", command).replace(ROOT + "/", "")
        return re.sub(r"env_[0-9a-f]{32}", "ENV", re.sub(r"-c\d+ ", "-cN ", command))
    lines += ["", f"![throughput and p99 against connections]({r['date']}.png)", "", "wrk commands (N connections, PORT and WORK chosen by the runner):", ""]
    lines += [f"    {c}" for c in sorted({template(run["command"]) for _, _, run in rows})] + [""]
    open(base + ".md", "w").write("\n".join(lines))
    json.dump(r, open(base + ".json", "w"), indent=1)
    update_page(r["date"], lines[lines.index("| figure | measured | target | |"):lines.index("## Every run") - 1])
    print("\n".join(lines[:20]))
    print(f"wrote {base}.md and {base}.png")


PAGE_BEGIN, PAGE_END = "<!-- bench/run.py writes from here -->", "<!-- to here -->"


def update_page(date, table):
    """Puts the results' figure table, and a link to them, between docs/benchmarks.md's markers."""
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(path).read()
    if PAGE_BEGIN not in text or PAGE_END not in text:
        print("docs/benchmarks.md has no benchmark markers; table not copied", flush=True)
        return
    head, rest = text.split(PAGE_BEGIN, 1)
    _, tail = rest.split(PAGE_END, 1)
    block = [PAGE_BEGIN, f"From [`bench/results/{date}.md`](../bench/results/{date}.md):", "", *table, "", PAGE_END]
    open(path, "w").write(head + "\n".join(block) + tail)


def chart(r, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [(16, r["h1_c16"]), (64, r["h1"]), (256, r["h1_c256"])]
    x = [c for c, _ in runs]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(x, [run["rate"] for _, run in runs], "o-", color="tab:blue", label="Lessor heartbeats/s")
    left.axhline(r["hello"]["rate"], color="tab:blue", linestyle=":", label="Hummingbird hello world (64)")
    left.set_xscale("log", base=2)
    left.set_xticks(x, [str(c) for c in x])
    left.set_xlabel("wrk connections")
    left.set_ylabel("requests/s")
    right = left.twinx()
    right.plot(x, [run["p99"] for _, run in runs], "s--", color="tab:red", label="Lessor p99 (ms)")
    right.set_ylabel("p99 latency (ms)")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(lines, [l.get_label() for l in lines], loc="upper left", fontsize=8)
    left.set_title(f"Lessor CAS heartbeats, {r['versions']['cores']} cores, {r['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        # Rewrites the report and chart from a results JSON, without measuring again.
        write_report(json.load(open(sys.argv[2])))
        shutil.rmtree(WORK, ignore_errors=True)
        sys.exit(0)
    try:
        main()
    finally:
        stop_all()
