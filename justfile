# justfile: the project's tasks. `just` itself is the npm package rust-just,
# pinned in tools/package.json; run `bash scripts/tools.sh` once, then
# `tools/node_modules/.bin/just <recipe>` (or put that directory on PATH).

set shell := ["bash", "-euo", "pipefail", "-c"]

export PATH := justfile_directory() / ".bin" + ":" + justfile_directory() / "tools/node_modules/.bin" + ":" + env_var("PATH")

# Use the toolchain pinned by go.mod's `toolchain` line (a machine's own Go may default to local).
export GOTOOLCHAIN := "auto"

# List the recipes.
default:
    @just --list

# Install the pinned toolchain (buf, protoc plugins, tsc) and the third-party protos.
tools:
    bash scripts/tools.sh

# Regenerate gen/ (Go, TypeScript) and openapi/ from proto/.
generate: tools
    rm -rf gen/go gen/ts openapi/*.swagger.json
    buf generate
    gofmt -l gen/go | (! grep .) || { echo "generated Go is not gofmt-clean" >&2; exit 1; }

# Lint the contracts (buf lint, buf format), type-check the generated TypeScript, vet the Go code and
# run staticcheck (pinned in tools/go.mod, checks in staticcheck.conf) on all but the generated packages.
lint: tools
    buf lint proto
    buf format --diff --exit-code proto
    tsc -p tools/tsconfig.gen.json
    unformatted=$(git ls-files -co --exclude-standard '*.go' | xargs -r "$(go env GOROOT)/bin/gofmt" -l); test -z "$unformatted" || { echo "gofmt: these files need formatting: $unformatted" >&2; exit 1; }
    go vet ./...
    staticcheck -version
    go list ./... | grep -v '/gen/go/' | xargs staticcheck

# Run govulncheck offline against the pinned Go vulnerability database; fails on a reachable vulnerability.
vulncheck: tools
    bash scripts/vulncheck.sh

# Copy the Swagger UI assets of the pinned swagger-ui-dist (tools/package.json) into openapi/swaggerui/dist.
swaggerui: tools
    bash scripts/swaggerui.sh

# Regenerate (code and Swagger UI assets), then fail if gen/ or openapi/ differ from what is committed.
check-generated: generate swaggerui
    @git add -N gen openapi
    @git diff --exit-code --stat -- gen openapi || { echo "gen/ or openapi/ is stale: run 'just generate swaggerui' and commit" >&2; exit 1; }

# Run the tests (the README's test command).
test:
    bash scripts/test.sh

# Lint, render and validate the Helm chart offline (installs the pinned helm and Kubernetes OpenAPI spec first).
helm-check:
    bash scripts/k8stools.sh && go test ./deploy/helm/...

# Run the whole platform in one process on embedded backends (the dev stack).
run *ARGS:
    go build -tags ferretdb_no_postgresql -o bin/devstack ./services/devstack
    bin/devstack {{ARGS}}

# Run the platform in containers on real Kafka, MongoDB, Redis and MinIO (needs a Docker engine; see README "Docker").
up *ARGS:
    docker compose -f docker/compose.yaml up --build {{ARGS}}

# Everything CI runs.
ci: lint vulncheck check-generated test

# Run the benchmarks (full: about 15 minutes on 2 cores); results in bench-results.json, see BENCHMARKS.md.
bench *ARGS:
    go run ./cmd/bench {{ARGS}}
