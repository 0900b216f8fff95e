#!/usr/bin/env bash
# test.sh runs the project's tests: every Go package, with the race detector.
# It needs no running service: the tests start the embedded Kafka, MongoDB and
# S3 stand-ins themselves and use the Redis at REDIS_URL (default 127.0.0.1:6379)
# or an embedded one. The TypeScript client test needs Node.js 20+ and npm.
# Fuzz targets then run for FUZZTIME each (scripts/fuzz.sh, default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
# go.mod pins the toolchain (its toolchain line); a machine whose Go defaults
# to GOTOOLCHAIN=local would ignore it and build with its own.
export GOTOOLCHAIN=auto
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
go test -race -count=1 -timeout 20m ./...
# Then every fuzz target for a bounded time beyond its checked-in corpus.
bash scripts/fuzz.sh
