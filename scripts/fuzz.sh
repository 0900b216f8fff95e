#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module (each `func FuzzX(f *testing.F)`
# in a _test.go file) for a bounded time, on top of its checked-in corpus
# (testdata/fuzz/FuzzX/), which `go test` already replays as ordinary tests.
# A crash writes the failing input to testdata/fuzz/FuzzX/ and fails the run;
# commit that file with the fix so it stays a regression test.
#   FUZZTIME   time per target (default 10s)
# Minimizing a newly interesting input is capped at 200 runs: by default the
# fuzzer may spend up to a minute on it, silently, out of the time budget.
#   FUZZ_ONLY  run only targets whose name matches this regular expression
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=auto # the toolchain go.mod pins (see scripts/test.sh)
fuzztime=${FUZZTIME:-10s}
only=${FUZZ_ONLY:-.}
status=0
# "<package dir> <target>" for every fuzz target outside node_modules and generated code.
targets=$(git ls-files -co --exclude-standard '*_test.go' | grep -v -e node_modules -e '^gen/' |
  xargs grep -H -o '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' |
  sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
while read -r dir target; do
  [[ $target =~ $only ]] || continue
  echo "== fuzz $target in ./$dir for $fuzztime"
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 200x "./$dir"; then
    echo "fuzz: $target in ./$dir failed" >&2
    status=1
  fi
done <<<"$targets"
exit $status
