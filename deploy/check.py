#!/usr/bin/env python3
"""Checks deploy/ with real tools and against the code, since no Docker engine runs here.

    python3 deploy/check.py path/to/lessor [path/to/tools/bin]

* the Dockerfile with hadolint, the Kubernetes manifests with kubernetes-validate;
* docker-compose.yml, docker-compose.cluster.yml, haproxy.cfg and the manifests against the settings `lessor serve --help`
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

# docker-compose.yml (one Redis), docker-compose.cluster.yml (a Redis Cluster) and haproxy.cfg.
haproxy_cfg = open(os.path.join(here, "haproxy.cfg")).read()
check("option httpchk GET /readyz" in haproxy_cfg, "haproxy.cfg must health-check /readyz")
for file in ["docker-compose.yml", "docker-compose.cluster.yml"]:
    compose = yaml.safe_load(open(os.path.join(here, file)))
    services = compose["services"]
    nodes = [name for name in services if name.startswith("lessor")]
    redis_nodes = [name for name in services if re.fullmatch(r"redis(-\d+)?", name)]
    check(len(nodes) == 3, f"{file}: expected three lessor replicas, found {nodes}")
    for name in redis_nodes:
        check("--appendonly yes" in " ".join(services[name]["command"]), f"{file} {name}: AOF must be on")
    for name in nodes:
        environment = services[name]["environment"]
        for variable in environment:
            check(variable in settings, f"{file} {name}: {variable} is not a Lessor setting")
        for variable, path in environment.items():
            if variable.endswith("_FILE"):
                secret = path.removeprefix("/run/secrets/")
                check(secret in services[name].get("secrets", []) and secret in compose.get("secrets", {}),
                      f"{file} {name}: {variable}={path} is not a secret the service mounts")
        check(environment.get("LESSOR_HOST") == "0.0.0.0", f"{file} {name}: must listen on 0.0.0.0 in a container")
        if "LESSOR_REDIS_CLUSTER" in environment:
            addresses = {service["networks"]["lessor"]["ipv4_address"] for service in (services[n] for n in redis_nodes)}
            for seed in environment["LESSOR_REDIS_CLUSTER"].split(","):
                check(seed.rpartition(":")[0] in addresses, f"{file} {name}: seed {seed} is not a Redis node")
            init = " ".join(services["redis-cluster-init"]["command"])
            for address in addresses:
                check(f"{address}:6379" in init, f"{file}: the cluster is created without {address}")
        else:
            check(environment.get("LESSOR_REDIS_URL", "").startswith("redis://redis:"), f"{file} {name}: must use the redis service")
        for dependency in services[name].get("depends_on", {}):
            check(dependency in services, f"{file} {name}: depends on unknown {dependency}")
    proxy = services["haproxy"]
    for placeholder in set(re.findall(r"\$\{([A-Z0-9_]+)\}", haproxy_cfg)):
        check(placeholder in proxy["environment"], f"haproxy.cfg uses ${{{placeholder}}}, which {file} does not set")
    for index, name in enumerate(nodes, 1):
        host, _, port = proxy["environment"][f"LESSOR_NODE{index}"].partition(":")
        check(host == name, f"{file}: haproxy LESSOR_NODE{index} should point at {name}, not {host}")
        check(port == str(services[name]["environment"]["LESSOR_PORT"]), f"{file}: haproxy LESSOR_NODE{index} port != {name}'s LESSOR_PORT")
    bind_port = proxy["environment"]["LESSOR_LB_BIND"].rpartition(":")[2]
    check(any(str(p).endswith(f":{bind_port}") for p in proxy.get("ports", [])), f"{file}: haproxy must publish its bind port")

# Kubernetes manifests against each other and the settings.
manifests = {}
for path in glob.glob(os.path.join(here, "kubernetes", "*.yaml")):
    for document in yaml.safe_load_all(open(path)):
        manifests[document["kind"]] = document
config = manifests["ConfigMap"]["data"]
pod = manifests["Deployment"]["spec"]["template"]["spec"]
container = pod["containers"][0]
environment = {item["name"]: item["value"] for item in container.get("env", [])}
for variable in list(config) + list(environment):
    check(variable in settings, f"kubernetes: {variable} is not a Lessor setting")
# Secrets arrive as files (LESSOR_*_FILE), each a key of the Secret mounted where the variable points.
secret_keys = set(manifests["Secret"]["stringData"])
secret_volumes = {volume["name"] for volume in pod.get("volumes", []) if volume.get("secret", {}).get("secretName") == manifests["Secret"]["metadata"]["name"]}
mounts = {mount["mountPath"].rstrip("/") for mount in container.get("volumeMounts", []) if mount["name"] in secret_volumes}
for variable, path in environment.items():
    if variable.endswith("_FILE"):
        directory, _, key = path.rpartition("/")
        check(directory in mounts and key in secret_keys, f"kubernetes: {variable}={path} is not a key of the mounted Secret")
check(not set(config) & {name.removesuffix("_FILE") for name in environment if name.endswith("_FILE")},
      "kubernetes: a setting is given both in the ConfigMap and as a secret file")
check(container["ports"][0]["containerPort"] == int(config["LESSOR_PORT"]), "kubernetes: containerPort != LESSOR_PORT")
check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", "kubernetes: readiness must probe /readyz")
check(container["livenessProbe"]["httpGet"]["path"] == "/healthz", "kubernetes: liveness must probe /healthz")
drain_ms = int(config.get("LESSOR_DRAIN_DELAY_MS", "1000"))
check(pod["terminationGracePeriodSeconds"] * 1000 >= drain_ms + 5000,
      "kubernetes: terminationGracePeriodSeconds must cover the drain delay plus in-flight requests")
check(manifests["Service"]["spec"]["selector"] == manifests["Deployment"]["spec"]["selector"]["matchLabels"],
      "kubernetes: the Service must select the Deployment's pods")

# Metric names used by alerts and dashboard exist in the code.
# LessorRedis names its metrics "<metricsPrefix>_..."; the executable sets the prefix.
registered = set()
sources = [open(path).read() for path in glob.glob(os.path.join(root, "Sources", "**", "*.swift"), recursive=True)]
prefixes = {p for source in sources for p in re.findall(r'metricsPrefix = "([a-z_]+)"', source)}
for source in sources:
    registered |= set(re.findall(r'label: "(lessor_[a-z_]+)"', source))
    registered |= {p + "_" + name for p in prefixes for name in re.findall(r'label: "\\\([a-zA-Z.]*metricsPrefix\)_([a-z_]+)"', source)}
used = set(re.findall(r"lessor_[a-z_]+", open(os.path.join(here, "prometheus", "alerts.yml")).read()))
used |= set(re.findall(r"lessor_[a-z_]+", json.dumps(json.load(open(os.path.join(here, "grafana", "lessor-dashboard.json"))))))
for name in sorted(used):
    base = re.sub(r"_(bucket|count|sum)$", "", name)
    check(base in registered, f"{name} is used by an alert or the dashboard but no code registers {base}")

for problem in problems:
    print("deploy check:", problem, file=sys.stderr)
print(f"deploy check: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
