#!/usr/bin/env bash
# The OpenAPI checkers of tests/suite/openapi.rs: `openapi-tools.sh install`
# installs openapi-spec-validator and schemathesis from PyPI into a
# virtualenv cached outside the clone (keyed by the versions in
# versions.env) and prints the environment tests/suite/openapi.rs reads
# (ORGCTL_TEST_OPENAPI_BIN: the virtualenv's bin directory).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
venv="${ORGCTL_CACHE:-$HOME/.cache/orgctl}/openapi-tools/spec-validator-$OPENAPI_SPEC_VALIDATOR_VERSION-schemathesis-$SCHEMATHESIS_VERSION"

install() {
  if [ ! -f "$venv/.orgctl-installed" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" \
      "schemathesis==$SCHEMATHESIS_VERSION" >"$venv/install.log" 2>&1 ||
      { cat "$venv/install.log" >&2; exit 1; }
    touch "$venv/.orgctl-installed"
  fi
  echo "ORGCTL_TEST_OPENAPI_BIN=$venv/bin"
}

case "${1:-}" in
  install) install ;;
  *) echo "usage: openapi-tools.sh install" >&2; exit 2 ;;
esac
