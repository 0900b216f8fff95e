#!/usr/bin/env bash
# tools.sh installs the pinned code-generation toolchain into the repository:
#   - npm tools (buf, protoc-gen-es, tsc, just) from tools/package-lock.json into tools/node_modules;
#   - the Go tools pinned by tools/go.mod into .bin/: the protoc plugins, staticcheck, govulncheck;
#   - indexdb (builds the offline vulnerability database, see scripts/vulncheck.sh),
#     pinned by tools/vulndb/go.mod, into .bin/;
#   - the third-party .proto imports into third_party/ (see scripts/protodeps.sh).
# It is idempotent and needs only the Go module proxy and the npm registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Build the Go tools with the toolchain pinned by the `toolchain` lines of tools/go.mod.
export GOTOOLCHAIN=auto

if [ ! -x tools/node_modules/.bin/buf ] || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
  # Not `npm ci`: rust-just lists optional per-platform packages that the
  # registry reachable here does not serve, so the lockfile cannot hold them.
  npm install --prefix tools --no-audit --no-fund --loglevel=error
fi

mkdir -p .bin
(cd tools && GOBIN="$root/.bin" go install tool)
(cd tools/vulndb && GOBIN="$root/.bin" go install tool)

bash scripts/protodeps.sh
