#!/usr/bin/env python3
"""Checks deploy/ with real tools and against the code, since no Docker engine runs here.

    python3 deploy/check.py path/to/lessor [path/to/tools/bin]

* the Dockerfile with hadolint, the Kubernetes manifests with kubernetes-validate;
* docker-compose.yml, haproxy.cfg and the manifests against the settings `lessor serve --help`
  lists and against each other (ports, probes, drain time);
* every metric the alert rules and the dashboard use against the metrics the code registers.
Exits 1 and names every problem found.
"""
import glob, json, os, re, subprocess, sys
import yaml

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
binary = sys.argv[1]
tools = sys.argv[2] if len(sys.argv) > 2 else ""
problems = []

def tool(name):
    return os.path.join(tools, name) if tools else name

def check(condition, message):
    if not condition:
        problems.append(message)

# Real validators.
for command in ([tool("hadolint"), os.path.join(here, "Dockerfile")],
                [tool("kubernetes-validate"), "--strict"] + sorted(glob.glob(os.path.join(here, "kubernetes", "*.yaml")))):
    run = subprocess.run(command, capture_output=True, text=True)
    check(run.returncode == 0, f"{os.path.basename(command[0])} failed:\n{run.stdout}{run.stderr}")

# The settings the binary knows.
help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
settings = set(re.findall(r"\[(LESSOR_[A-Z_]+)\]", help_text))
check(len(settings) > 10, f"could not read the settings from {binary} serve --help")

# docker-compose.yml and haproxy.cfg.
compose = yaml.safe_load(open(os.path.join(here, "docker-compose.yml")))
services = compose["services"]
nodes = [name for name in services if name.startswith("lessor")]
check(len(nodes) == 3, f"expected three lessor replicas, found {nodes}")
for name in nodes:
    environment = services[name]["environment"]
    for variable in environment:
        check(variable in settings, f"docker-compose {name}: {variable} is not a Lessor setting")
    check(environment.get("LESSOR_HOST") == "0.0.0.0", f"docker-compose {name}: must listen on 0.0.0.0 in a container")
    check(environment.get("LESSOR_REDIS_URL", "").startswith("redis://redis:"), f"docker-compose {name}: must use the redis service")
    for dependency in services[name].get("depends_on", {}):
        check(dependency in services, f"docker-compose {name}: depends on unknown {dependency}")
redis_command = " ".join(services["redis"]["command"])
check("--appendonly yes" in redis_command, "docker-compose redis: AOF must be on")
proxy = services["haproxy"]
haproxy_cfg = open(os.path.join(here, "haproxy.cfg")).read()
for placeholder in set(re.findall(r"\$\{([A-Z0-9_]+)\}", haproxy_cfg)):
    check(placeholder in proxy["environment"], f"haproxy.cfg uses ${{{placeholder}}}, which docker-compose does not set")
for index, name in enumerate(nodes, 1):
    host, _, port = proxy["environment"][f"LESSOR_NODE{index}"].partition(":")
    check(host == name, f"haproxy LESSOR_NODE{index} should point at {name}, not {host}")
    check(port == str(services[name]["environment"]["LESSOR_PORT"]), f"haproxy LESSOR_NODE{index} port != {name}'s LESSOR_PORT")
check("option httpchk GET /readyz" in haproxy_cfg, "haproxy.cfg must health-check /readyz")
bind_port = proxy["environment"]["LESSOR_LB_BIND"].rpartition(":")[2]
check(any(str(p).endswith(f":{bind_port}") for p in proxy.get("ports", [])), "haproxy must publish its bind port")

# Kubernetes manifests against each other and the settings.
manifests = {}
for path in glob.glob(os.path.join(here, "kubernetes", "*.yaml")):
    for document in yaml.safe_load_all(open(path)):
        manifests[document["kind"]] = document
config = manifests["ConfigMap"]["data"]
for variable in list(config) + list(manifests["Secret"]["stringData"]):
    check(variable in settings, f"kubernetes: {variable} is not a Lessor setting")
pod = manifests["Deployment"]["spec"]["template"]["spec"]
container = pod["containers"][0]
check(container["ports"][0]["containerPort"] == int(config["LESSOR_PORT"]), "kubernetes: containerPort != LESSOR_PORT")
check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", "kubernetes: readiness must probe /readyz")
check(container["livenessProbe"]["httpGet"]["path"] == "/healthz", "kubernetes: liveness must probe /healthz")
drain_ms = int(config.get("LESSOR_DRAIN_DELAY_MS", "1000"))
check(pod["terminationGracePeriodSeconds"] * 1000 >= drain_ms + 5000,
      "kubernetes: terminationGracePeriodSeconds must cover the drain delay plus in-flight requests")
check(manifests["Service"]["spec"]["selector"] == manifests["Deployment"]["spec"]["selector"]["matchLabels"],
      "kubernetes: the Service must select the Deployment's pods")

# Metric names used by alerts and dashboard exist in the code.
registered = set()
for path in glob.glob(os.path.join(root, "Sources", "**", "*.swift"), recursive=True):
    registered |= set(re.findall(r'label: "(lessor_[a-z_]+)"', open(path).read()))
used = set(re.findall(r"lessor_[a-z_]+", open(os.path.join(here, "prometheus", "alerts.yml")).read()))
used |= set(re.findall(r"lessor_[a-z_]+", json.dumps(json.load(open(os.path.join(here, "grafana", "lessor-dashboard.json"))))))
for name in sorted(used):
    base = re.sub(r"_(bucket|count|sum)$", "", name)
    check(base in registered, f"{name} is used by an alert or the dashboard but no code registers {base}")

for problem in problems:
    print("deploy check:", problem, file=sys.stderr)
print(f"deploy check: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
