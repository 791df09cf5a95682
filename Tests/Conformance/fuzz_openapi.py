#!/usr/bin/env python3
"""Schemathesis against a live front node: every operation docs/openapi.yaml documents, in two
passes — with generated path ids (unknown and malformed ones: the 400/404 paths), then with
the ids of real objects this script makes first (Tests/Conformance/schemathesis.toml), so the
generated query parameters, headers and bodies reach the routes' logic. Fails on any 5xx, any
response that breaks its documented schema, status code or content type.

    python Tests/Conformance/fuzz_openapi.py --url http://127.0.0.1:8080 --admin-token T \
        [--examples 200] [--seed 16]

CI runs it with --examples 15 and seed 16 (the hostile-client test); a longer run, for people:
--examples 500 with no --seed (a new one each time; schemathesis prints it, to replay a failure).
Needs schemathesis (scripts/test.sh installs it in .build/tools).
"""
import argparse, json, os, subprocess, sys, tempfile, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def call(url, token, method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--examples", type=int, default=200, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, help="fixed for a reproducible run (default: a new one)")
    options = parser.parse_args()
    url, token = options.url.rstrip("/"), options.admin_token

    environment = call(url, token, "POST", "/api/v1/cloud/environments", {"name": "fuzz", "config": {"type": "self_hosted"}})["id"]
    work = call(url, token, "POST", f"/api/v1/cloud/environments/{environment}/work", {"metadata": {"k": "v"}})["id"]
    call(url, token, "POST", f"/api/v1/cloud/environments/{environment}/work/{work}/ack")
    worker = call(url, token, "POST", "/v1/workers", {"name": "fuzz"})
    pat = call(url, token, "POST", "/api/v1/tokens", {"name": "fuzz", "environment_ids": [environment]})
    variables = {
        "LESSOR_ADMIN_TOKEN": token, "LESSOR_FUZZ_ENVIRONMENT": environment, "LESSOR_FUZZ_WORK": work,
        "LESSOR_FUZZ_WORKER": worker["id"], "LESSOR_FUZZ_WORKER_TOKEN": worker["tokens"]["activity"], "LESSOR_FUZZ_TOKEN": pat["id"],
    }
    st = os.path.join(os.path.dirname(sys.executable), "st")
    common = [os.path.join(ROOT, "docs", "openapi.yaml"), "--url", url, "--checks", CHECKS,
              "--max-examples", str(options.examples), "--phases", "examples,coverage,fuzzing", "--no-shrink",
              "--max-failures", "50", "--workers", "1", "--request-timeout", "10"] + (["--seed", str(options.seed)] if options.seed is not None else [])
    status = 0
    with tempfile.TemporaryDirectory() as empty:
        passes = [
            ("generated ids", [st, "--config-file", os.path.join(empty, "none.toml"), "run", "-H", f"Authorization: Bearer {token}"]),
            ("real objects", [st, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run"]),
        ]
        open(os.path.join(empty, "none.toml"), "w").close()
        for name, command in passes:
            print(f"== schemathesis, {name} ==", flush=True)
            status |= subprocess.run(command + common, env={**os.environ, **variables}, cwd=empty).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
