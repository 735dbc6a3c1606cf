#!/usr/bin/env bash
# Static checks of the monitoring files, without building anything: the alert rules (`promtool check rules`), the
# deployment's Prometheus config with the rules loaded (`promtool check config` on a copy whose rule_files points at
# dashboards/alerts, since the real path /etc/prometheus/rules only exists in the container), and every dashboard
# being JSON with a uid. Queries against real metrics: swift test --filter DashboardTests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "promtool is not installed: scripts/install-deps.sh --test installs it" >&2; exit 1; }
promtool check rules dashboards/alerts/*.yml
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed "s#/etc/prometheus/rules/\*\.yml#$PWD/dashboards/alerts/*.yml#" deploy/prometheus/prometheus.yml >"$scratch/prometheus.yml"
grep -q "$PWD/dashboards/alerts" "$scratch/prometheus.yml" || { echo "deploy/prometheus/prometheus.yml: rule_files no longer /etc/prometheus/rules/*.yml" >&2; exit 1; }
promtool check config "$scratch/prometheus.yml"
for board in dashboards/*.json; do
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d.get("uid"), "no uid"; print(sys.argv[1] + ": uid " + d["uid"] + ", " + str(sum(1 for p in d["panels"] if p["type"] != "row")) + " panels")' "$board"
done
