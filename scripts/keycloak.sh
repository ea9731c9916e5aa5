#!/usr/bin/env bash
# Keycloak for the test suite: `keycloak.sh install` downloads the server
# distribution from Maven Central once (cached outside the clone, keyed by
# version) and pre-builds it; `keycloak.sh start DIR` starts one server on a
# free loopback port with a throw-away in-memory database and writes its
# address, pid and admin client into DIR/keycloak.env; `keycloak.sh stop DIR`
# stops it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${ORGCTL_CACHE:-$HOME/.cache/orgctl}/keycloak/$KEYCLOAK_VERSION"
home="$cache/keycloak-$KEYCLOAK_VERSION"

java_home() {
  # Keycloak 26.7 supports OpenJDK 17, 21 and 25; prefer the newest here.
  for j in "${TEMURIN_25_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64; do
    if [ -n "$j" ] && [ -x "$j/bin/java" ]; then echo "$j"; return; fi
  done
  echo "keycloak.sh: no JDK found (set JAVA_HOME)" >&2; exit 1
}

install() {
  if [ -f "$home/.orgctl-built" ]; then return; fi
  mkdir -p "$cache"
  if [ ! -x "$home/bin/kc.sh" ]; then
    mvn -B -ntp -q "org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN:copy" \
      "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" \
      "-DoutputDirectory=$cache"
    tar -xzf "$cache/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" -C "$cache"
    rm -f "$cache/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
  fi
  # Pre-build once so each start is one JVM (no augmentation step).
  JAVA_HOME="$(java_home)" "$home/bin/kc.sh" build --db=dev-mem --health-enabled=true \
    --http-management-health-enabled=false >"$cache/build.log" 2>&1
  touch "$home/.orgctl-built"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local dir="$1"
  install
  mkdir -p "$dir"
  local port mport secret
  port="$(free_port)"
  mport="$(free_port)"
  secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  (
    export JAVA_HOME; JAVA_HOME="$(java_home)"
    export JAVA_OPTS_KC_HEAP="-Xms256m -Xmx1024m"
    export KC_BOOTSTRAP_ADMIN_CLIENT_ID=orgctl-tests KC_BOOTSTRAP_ADMIN_CLIENT_SECRET="$secret"
    exec "$home/bin/kc.sh" start --optimized --http-enabled=true --hostname-strict=false \
      --cache=local --http-host=127.0.0.1 --http-port="$port" --http-management-port="$mport" \
      --log-level=WARN
  ) >"$dir/keycloak.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
      {
        echo "ORGCTL_TEST_KEYCLOAK_URL=http://127.0.0.1:$port"
        echo "ORGCTL_TEST_KEYCLOAK_CLIENT_ID=orgctl-tests"
        echo "ORGCTL_TEST_KEYCLOAK_CLIENT_SECRET=$secret"
        echo "ORGCTL_TEST_KEYCLOAK_PID=$pid"
        echo "ORGCTL_TEST_KEYCLOAK_HOME=$home"
      } >"$dir/keycloak.env"
      echo "keycloak $KEYCLOAK_VERSION ready on 127.0.0.1:$port" >&2
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "keycloak.sh: Keycloak exited during start; its log:" >&2; tail -50 "$dir/keycloak.log" >&2; exit 1
    fi
    sleep 1
  done
  echo "keycloak.sh: Keycloak not ready after 240 s; its log:" >&2; tail -50 "$dir/keycloak.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

stop() {
  local dir="$1"
  [ -f "$dir/keycloak.env" ] || return 0
  local pid
  pid="$(sed -n 's/^ORGCTL_TEST_KEYCLOAK_PID=//p' "$dir/keycloak.env")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: keycloak.sh start DIR}" ;;
  stop) stop "${2:?usage: keycloak.sh stop DIR}" ;;
  *) echo "usage: keycloak.sh install|start DIR|stop DIR" >&2; exit 2 ;;
esac
