#!/usr/bin/env bash
# A real Kubernetes control plane for the test suite, without Docker or nodes:
# `kube.sh install` builds etcd, kube-apiserver, kubectl and helm from the Go
# module proxy once (cached outside the clone, keyed by the versions in
# versions.env), and takes promtool from Debian's prometheus package; `kube.sh start DIR` starts etcd and kube-apiserver on free
# loopback ports (static token auth, a CA and serving certificate made with
# openssl, service-account keys), waits for /readyz and writes DIR/kube.env
# (kubeconfigs, the binaries' directory, the pids); `kube.sh stop DIR` stops
# them. No kubelet, scheduler or controller-manager runs: namespaces are never
# finalized and nothing garbage-collects owner references.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${ORGCTL_CACHE:-$HOME/.cache/orgctl}/kube/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
bin="$cache/bin"
promtool_dir="${ORGCTL_CACHE:-$HOME/.cache/orgctl}/promtool/$PROMETHEUS_DEB_VERSION"

# The binaries are built with the local Go toolchain (never one fetched by the
# go command), statically and without debug information.
go_env() {
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
  # The image's Go lives in /usr/local/go; a non-login shell may lack it on PATH.
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null || { echo "kube.sh: no Go toolchain (go) found" >&2; exit 1; }
}

# etcd's server module has `package main` at its root, but its go.mod replaces
# its sibling modules with relative paths, which `go install pkg@version`
# refuses. A wrapper module that requires it ignores those replaces and uses
# the sibling versions its go.mod requires.
build_etcd() {
  local mod="$cache/src/etcd"
  mkdir -p "$mod"
  (
    cd "$mod"
    [ -f go.mod ] || go mod init orgctl.test/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go build -trimpath -ldflags='-s -w' -o "$bin/etcd.new" go.etcd.io/etcd/server/v3
  )
  mv "$bin/etcd.new" "$bin/etcd"
}

# k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, …) at
# v0.0.0 and maps them to ./staging, so it only builds from a wrapper module
# that routes every staging module to the v0.MINOR.PATCH tagged with this
# release. The list comes from this exact version's go.mod (from the proxy).
build_kubernetes() {
  local mod="$cache/src/kubernetes" gomod m
  mkdir -p "$mod"
  (
    cd "$mod"
    [ -f go.mod ] || go mod init orgctl.test/kubernetes >/dev/null 2>&1
    gomod="$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
      sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod"); do
      go mod edit "-replace=$m=$m@v0.${KUBERNETES_VERSION#1.}"
    done
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kubectl@v$KUBERNETES_VERSION"
    # What hack/lib/version.sh stamps into a release build, so that /version,
    # `kubectl version` and the version-skew checks see the real version.
    local minor="${KUBERNETES_VERSION#1.}" x flags="-s -w"
    minor="${minor%%.*}"
    for x in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      flags="$flags -X $x.gitVersion=v$KUBERNETES_VERSION -X $x.gitMajor=1 -X $x.gitMinor=$minor"
      flags="$flags -X $x.gitTreeState=clean -X $x.buildDate=1970-01-01T00:00:00Z"
    done
    mkdir -p "$bin/kube.new"
    go build -trimpath -ldflags="$flags" -o "$bin/kube.new/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  )
  mv "$bin/kube.new/kube-apiserver" "$bin/kube.new/kubectl" "$bin/"
  rmdir "$bin/kube.new"
}

# Helm's go.mod has no replace directives, so `go install` builds it as is.
build_helm() {
  GOBIN="$bin/helm.new" go install -trimpath \
    -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION"
  mv "$bin/helm.new/helm" "$bin/helm"
  rmdir "$bin/helm.new"
}

# Runs one build step with its output in $cache/build.log, shown on failure.
# promtool from the Debian package, unpacked with dpkg -x: installing the
# package would also install (and may start) a Prometheus server.
fetch_promtool() {
  local tmp
  tmp="$(mktemp -d)"
  (
    cd "$tmp"
    apt-get download "prometheus=$PROMETHEUS_DEB_VERSION" ||
      { apt-get update -qq && apt-get download "prometheus=$PROMETHEUS_DEB_VERSION"; }
    dpkg -x prometheus_*.deb x
  )
  mkdir -p "$promtool_dir"
  mv "$tmp/x/usr/bin/promtool" "$promtool_dir/promtool"
  rm -rf "$tmp"
}

timed() {
  local what="$1" t0
  shift
  t0=$(date +%s)
  echo "kube.sh: building $what (once; cached under ${ORGCTL_CACHE:-$HOME/.cache/orgctl})" >&2
  # In the background so that `set -e` holds inside the step (it is ignored
  # in a command that is an `if` condition).
  "$@" >"$cache/build.log" 2>&1 &
  if ! wait "$!"; then
    echo "kube.sh: building $what failed; the end of $cache/build.log:" >&2
    tail -40 "$cache/build.log" >&2
    return 1
  fi
  echo "kube.sh: built $what in $(($(date +%s) - t0)) s" >&2
}

install() {
  mkdir -p "$bin"
  # Two test runs sharing a cache build each binary once.
  exec 9>"$cache/.lock"
  flock 9
  go_env
  [ -x "$bin/etcd" ] || timed "etcd $ETCD_VERSION" build_etcd
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] ||
    timed "kube-apiserver and kubectl $KUBERNETES_VERSION" build_kubernetes
  [ -x "$bin/helm" ] || timed "helm $HELM_VERSION" build_helm
  [ -x "$promtool_dir/promtool" ] || timed "promtool $PROMETHEUS_DEB_VERSION" fetch_promtool
  flock -u 9
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A CA and a leaf for 127.0.0.1/localhost signed by it: rustls refuses a
# self-signed CA certificate as a server certificate (CaUsedAsEndEntity).
make_certs() {
  local d="$1"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=orgctl-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$d/apiserver.ext"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() {
  local file="$1" server="$2" user="$3" token="$4" ca="$5"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: orgctl-test
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$ca")
users:
- name: $user
  user:
    token: $token
contexts:
- name: orgctl-test
  context: {cluster: orgctl-test, user: $user}
current-context: orgctl-test
EOF
  chmod 600 "$file"
}

wait_ready() {
  local what="$1" pid="$2" log="$3" seconds="$4"
  shift 4
  for _ in $(seq 1 "$((seconds * 2))"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "kube.sh: $what exited during start; its log:" >&2; tail -50 "$log" >&2; return 1
    fi
    sleep 0.5
  done
  echo "kube.sh: $what not ready after $seconds s; its log:" >&2; tail -50 "$log" >&2
  return 1
}

start() {
  local dir="$1" pid
  # A second start into one DIR would lose the first one's pids.
  if [ -f "$dir/kube/pids" ]; then
    for pid in $(cat "$dir/kube/pids"); do
      if kill -0 "$pid" 2>/dev/null; then
        echo "kube.sh: a control plane started in $dir still runs (pid $pid): kube.sh stop $dir first" >&2
        exit 1
      fi
    done
  fi
  install
  mkdir -p "$dir/kube"
  dir="$(cd "$dir" && pwd)"
  local d="$dir/kube" eport pport aport admin ctrl
  make_certs "$d"
  admin="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  ctrl="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  # token,user,uid,"groups": an admin (system:masters bypasses RBAC) and an
  # identity with no rights of its own, for tests that grant it the chart's RBAC.
  printf '%s\n' "$admin,orgctl-test-admin,1000,\"system:masters\"" \
    "$ctrl,orgctl-test-controller,1001" >"$d/tokens.csv"
  chmod 600 "$d/tokens.csv"
  eport="$(free_port)"
  pport="$(free_port)"
  aport="$(free_port)"

  "$bin/etcd" --name orgctl-test --data-dir "$d/etcd" \
    --listen-client-urls "http://127.0.0.1:$eport" --advertise-client-urls "http://127.0.0.1:$eport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "orgctl-test=http://127.0.0.1:$pport" \
    --unsafe-no-fsync --log-level warn >"$d/etcd.log" 2>&1 &
  local epid=$!
  echo "$epid" >"$d/pids"
  wait_ready etcd "$epid" "$d/etcd.log" 60 curl -sf "http://127.0.0.1:$eport/health" ||
    { kill "$epid" 2>/dev/null || true; exit 1; }

  "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$eport" \
    --bind-address 127.0.0.1 --secure-port "$aport" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" \
    --client-ca-file "$d/ca.crt" --cert-dir "$d/certs" \
    --service-account-issuer "https://127.0.0.1:$aport" \
    --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
    --token-auth-file "$d/tokens.csv" \
    --authorization-mode RBAC \
    --disable-admission-plugins ServiceAccount \
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
    >"$d/apiserver.log" 2>&1 &
  local apid=$!
  echo "$apid" >>"$d/pids"
  local url="https://127.0.0.1:$aport"
  # Readiness includes the RBAC bootstrap roles and the CRD informers.
  wait_ready kube-apiserver "$apid" "$d/apiserver.log" 180 \
    curl -sf --cacert "$d/ca.crt" -H "Authorization: Bearer $admin" "$url/readyz" ||
    { kill "$apid" "$epid" 2>/dev/null || true; exit 1; }

  kubeconfig "$d/admin.kubeconfig" "$url" orgctl-test-admin "$admin" "$d/ca.crt"
  kubeconfig "$d/controller.kubeconfig" "$url" orgctl-test-controller "$ctrl" "$d/ca.crt"
  {
    echo "ORGCTL_TEST_KUBECONFIG=$d/admin.kubeconfig"
    echo "ORGCTL_TEST_KUBECONFIG_CONTROLLER=$d/controller.kubeconfig"
    echo "ORGCTL_TEST_KUBE_USER_CONTROLLER=orgctl-test-controller"
    echo "ORGCTL_TEST_KUBE_BIN=$bin"
    echo "ORGCTL_TEST_PROMTOOL=$promtool_dir/promtool"
    echo "ORGCTL_TEST_KUBE_VERSION=$KUBERNETES_VERSION"
    echo "ORGCTL_TEST_KUBE_APISERVER_PID=$apid"
    echo "ORGCTL_TEST_KUBE_ETCD_PID=$epid"
  } >"$dir/kube.env"
  echo "kube-apiserver $KUBERNETES_VERSION (etcd $ETCD_VERSION) ready on $url" >&2
}

stop_pid() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

# The pids file is written as each process starts, so a start that failed
# half-way is stopped too; kube-apiserver first, then etcd.
stop() {
  local dir="$1" pid
  [ -f "$dir/kube/pids" ] || return 0
  for pid in $(tac "$dir/kube/pids"); do stop_pid "$pid"; done
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: kube.sh start DIR}" ;;
  stop) stop "${2:?usage: kube.sh stop DIR}" ;;
  *) echo "usage: kube.sh install|start DIR|stop DIR" >&2; exit 2 ;;
esac
