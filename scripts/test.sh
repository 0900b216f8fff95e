#!/usr/bin/env bash
# test.sh runs the project's tests: every Go package, with the race detector.
# It needs no running service: the tests start the embedded Kafka, MongoDB and
# S3 stand-ins themselves and use the Redis at REDIS_URL (default 127.0.0.1:6379)
# or an embedded one. Prerequisites are checked below (Chromium installed with
# apt when it can be); the README test (e2e/readme_test.go) runs the README's
# examples with bash, curl, go install and npm.
# Fuzz targets then run for FUZZTIME each (scripts/fuzz.sh, default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
# go.mod pins the toolchain (its toolchain line); a machine whose Go defaults
# to GOTOOLCHAIN=local would ignore it and build with its own.
export GOTOOLCHAIN=auto

# Prerequisites (README "The two commands"): Go, gcc (cgo), bash, curl,
# Node.js 20+ with npm, and Debian's Chromium for the browser tests. Chromium
# is installed with apt when missing and apt is usable (root, or sudo without
# a password); anything else missing stops here with what to install.
missing=()
for tool in go gcc curl node npm; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if command -v node >/dev/null; then
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$node_major" -lt 20 ]; then
    missing+=("node>=20 (found $(node --version))")
  fi
fi
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  apt=()
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    apt=(sudo -n)
  fi
  if [ "$(id -u)" -eq 0 ] || [ ${#apt[@]} -gt 0 ]; then
    echo "test.sh: installing Debian's chromium for the browser tests (apt-get)" >&2
    "${apt[@]}" apt-get update -qq && "${apt[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ||
      echo "test.sh: apt-get could not install chromium" >&2
  fi
fi
[ -x /usr/bin/chromium ] || missing+=("chromium (/usr/bin/chromium, Debian's package: apt-get install chromium)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: missing prerequisites of the tests:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 2
fi
# The TypeScript client's dependencies, which TestTSClient needs: installed
# from the lockfile when missing or older than it.
if [ ! -d clients/ts/node_modules ] || [ clients/ts/package-lock.json -nt clients/ts/node_modules/.package-lock.json ]; then
  npm ci --prefix clients/ts --no-audit --no-fund --loglevel=error
fi
# The browser tests (e2e/browser_test.go) drive Debian's
# Chromium with playwright-core, pinned in e2e/browser/package-lock.json;
# install it when missing or when the lockfile changed (npm registry only).
if [ ! -f e2e/browser/node_modules/playwright-core/package.json ] ||
  [ e2e/browser/package-lock.json -nt e2e/browser/node_modules/.package-lock.json ]; then
  npm ci --prefix e2e/browser --no-audit --no-fund --loglevel=error
fi
# The Helm chart's offline checks (deploy/helm) need helm and the Kubernetes
# OpenAPI spec at their pinned versions: installed from the Go module proxy
# (a no-op once there), and required, so that CI never skips those tests.
bash scripts/k8stools.sh
go test -race -count=1 -timeout 20m ./...
# Then every fuzz target for a bounded time beyond its checked-in corpus.
bash scripts/fuzz.sh
