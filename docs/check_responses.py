#!/usr/bin/env python3
"""Validates recorded responses of a live server against docs/openapi.yaml.

    python docs/check_responses.py docs/openapi.yaml exchanges.json

exchanges.json is a list of {"method", "path" (the template, e.g. /v1/workers/{id}),
"status", "body" (parsed JSON)}. Each body is checked against the response schema the
document declares for that path, method and status. Exits 1 naming every mismatch.
"""
import json, sys
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

spec = yaml.safe_load(open(sys.argv[1]))
exchanges = json.load(open(sys.argv[2]))
problems = []
for exchange in exchanges:
    method, path, status = exchange["method"].lower(), exchange["path"], str(exchange["status"])
    operation = spec["paths"].get(path, {}).get(method)
    if operation is None:
        problems.append(f"{method.upper()} {path}: not in the document")
        continue
    response = operation["responses"].get(status)
    if response is None:
        problems.append(f"{method.upper()} {path}: status {status} is not documented")
        continue
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    # The schema's local refs ('#/components/...') resolve against the whole document.
    wrapped = dict(spec)
    wrapped["x-check"] = schema
    resource = Resource(contents=wrapped, specification=DRAFT202012)
    validator = Draft202012Validator({"$ref": "urn:lessor:x#/x-check"}, registry=Registry().with_resource("urn:lessor:x", resource))
    for error in validator.iter_errors(exchange["body"]):
        problems.append(f"{method.upper()} {path} {status}: {error.message} at {list(error.absolute_path)}")

for problem in problems:
    print("openapi:", problem, file=sys.stderr)
print(f"openapi: {len(exchanges)} responses checked, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
