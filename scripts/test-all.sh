#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it: installs
# (once, cached under $ORGCTL_CACHE, keyed by the versions in versions.env)
# and starts the real servers the tests need on loopback (Keycloak, and etcd
# with kube-apiserver plus the kubectl and helm binaries) and the OpenAPI
# checkers (a PyPI virtualenv), runs every test
# with those servers required (a suite that finds its server absent fails
# instead of skipping), and stops the servers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export ORGCTL_CACHE="${ORGCTL_CACHE:-$HOME/.cache/orgctl}"
run="$(mktemp -d "${TMPDIR:-/tmp}/orgctl-test.XXXXXX")"
cleanup() {
  scripts/keycloak.sh stop "$run" || true
  scripts/kube.sh stop "$run" || true
}
trap cleanup EXIT

started=$(date +%s)
# Build the tests while the servers install and start; the Go builds of the
# Kubernetes binaries (cold: minutes, warm: none) overlap the cargo build.
cargo test --locked --no-run &
build=$!
scripts/kube.sh start "$run" &
kube=$!
scripts/openapi-tools.sh install >"$run/openapi.env" &
openapi=$!
scripts/keycloak.sh start "$run"
wait "$kube"
wait "$openapi"
wait "$build"
echo "servers and build ready in $(( $(date +%s) - started )) s" >&2

set -a
# shellcheck disable=SC1091
source "$run/keycloak.env"
# shellcheck disable=SC1091
source "$run/kube.env"
# shellcheck disable=SC1091
source "$run/openapi.env"
set +a
export ORGCTL_TEST_REQUIRE_SERVERS=1
cargo test --locked "$@"
