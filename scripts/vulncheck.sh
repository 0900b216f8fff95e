#!/usr/bin/env bash
# vulncheck.sh runs govulncheck on the service module OFFLINE, against a Go
# vulnerability database built here from pinned data, and fails (exit 3) when
# the code calls a vulnerable function (of a dependency or of the standard
# library of the toolchain pinned by go.mod).
#
# Pins (see tools/go.mod and tools/vulndb/go.mod):
#   - govulncheck: golang.org/x/vuln, a tool of tools/go.mod;
#   - the database: the OSV files under data/osv of the module golang.org/x/vulndb
#     at the version required by tools/vulndb/go.mod, turned into the layout that
#     `govulncheck -db file://DIR` reads (DIR/index/{db,modules,vulns}.json and
#     DIR/ID/<id>.json) by that module's own `indexdb` command.
# To take newer vulnerability data: (cd tools/vulndb && go get golang.org/x/vulndb@<pseudo-version>).
#
# Needs `bash scripts/tools.sh` first (it installs govulncheck and indexdb into .bin/).
# The database is built once per vulndb version into .bin/vulndb/<version>/ (about 10 s).
# Extra arguments go to govulncheck (default: ./...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The standard library checked is that of the go command: use the pinned toolchain.
export GOTOOLCHAIN=auto

for tool in govulncheck indexdb; do
  [ -x ".bin/$tool" ] || { echo "vulncheck: .bin/$tool is missing: run 'bash scripts/tools.sh'" >&2; exit 1; }
done

# The data comes from the module cache, filled through the module proxy like any module.
read -r version data < <(cd tools/vulndb && go mod download -json golang.org/x/vulndb |
  sed -n 's/^[[:space:]]*"\(Version\|Dir\)": "\(.*\)",\{0,1\}$/\2/p' | paste -sd' ')
[ -n "${version:-}" ] && [ -d "$data/data/osv" ] || { echo "vulncheck: cannot find the golang.org/x/vulndb data" >&2; exit 1; }

db=".bin/vulndb/$version"
if [ ! -f "$db/index/db.json" ]; then
  rm -rf "$db" "$db.tmp"
  mkdir -p "$(dirname "$db")"
  .bin/indexdb -vulns "$data/data/osv" -out "$db.tmp"
  # indexdb leaves the database's "modified" time at zero when it reads plain
  # files; record the data's commit time (from the pseudo-version) instead.
  stamp=$(echo "$version" | sed -n 's/^v0\.0\.0-\([0-9]\{4\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)-.*/\1-\2-\3T\4:\5:\6Z/p')
  if [ -n "$stamp" ]; then
    printf '{"modified":"%s"}' "$stamp" > "$db.tmp/index/db.json"
    gzip -cn "$db.tmp/index/db.json" > "$db.tmp/index/db.json.gz"
  fi
  mv "$db.tmp" "$db"
fi

# Go version, scanner version, database and its date.
.bin/govulncheck -db "file://$root/$db" -version
echo "DB data: golang.org/x/vulndb@$version"
if [ $# -eq 0 ]; then set -- ./...; fi
exec .bin/govulncheck -db "file://$root/$db" "$@"
