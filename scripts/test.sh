#!/usr/bin/env bash
# test.sh runs the project's tests: every Go package, with the race detector.
# It needs no running service: the tests start the embedded Kafka, MongoDB and
# S3 stand-ins themselves and use the Redis at REDIS_URL (default 127.0.0.1:6379)
# or an embedded one.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 20m ./...
