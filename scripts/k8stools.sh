#!/usr/bin/env bash
# k8stools.sh installs what the Helm chart's offline checks (deploy/helm,
# `just helm-check`) need, at the versions pinned in deploy/helm/versions.env,
# from the Go module proxy only:
#   - helm, built with `go install` into .tools/bin (skipped when that
#     version is already there);
#   - the Kubernetes OpenAPI v2 spec, api/openapi-spec/swagger.json of the
#     k8s.io/kubernetes module, downloaded into the module cache (a no-op
#     when it is already there).
# It prints what it did and, last, the two paths as HELM=... and
# K8S_OPENAPI_SPEC=... lines.
set -euo pipefail
cd "$(dirname "$0")/.."
# auto: the go command fetches the Go a module asks for (go.mod's go and
# toolchain lines) when the machine's own is older.
export GOTOOLCHAIN=auto
# From the module proxy only: no fallback to fetching from version control.
GOPROXY=$(go env GOPROXY | sed 's/[,|]direct$//')
export GOPROXY

versions=deploy/helm/versions.env
pin() {
  local v
  v=$(sed -n "s/^$1=\\([^[:space:]#]*\\).*/\\1/p" "$versions")
  [ -n "$v" ] || { echo "k8stools.sh: $1 is not set in $versions" >&2; exit 2; }
  printf '%s' "$v"
}
helm_version=$(pin HELM_VERSION)
k8s_version=$(pin K8S_VERSION)

bin="$PWD/.tools/bin"
helm="$bin/helm"
# The version the installed helm reports (set at link time, below).
installed_helm_version() {
  [ -x "$helm" ] || return 0
  "$helm" version --template '{{.Version}}' 2>/dev/null || true
}
# The link flags of helm's own release build (its Makefile): without them
# helm reports version "v3.22" and assumes Kubernetes 1.20 in lint and
# template; here it assumes the Kubernetes of the pinned OpenAPI spec. They
# are kept next to the binary, which is rebuilt when they change.
k8s_major=$(printf '%s' "$k8s_version" | sed 's/^v\([0-9]*\)\..*/\1/')
k8s_minor=$(printf '%s' "$k8s_version" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')
v=helm.sh/helm/v3/internal/version
ldflags="-s -w -X $v.version=$helm_version -X $v.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $p.k8sVersionMajor=$k8s_major -X $p.k8sVersionMinor=$k8s_minor"
done
stamp="$bin/.helm-ldflags"
# The go commands run outside the repository's module: go.mod and go.sum
# stay as they are, and helm is built with the Go its own go.mod asks for.
# Downloads are checked against the checksum database as for any module.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
have=$(installed_helm_version)
if [ "$have" = "$helm_version" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ldflags" ]; then
  echo "k8stools.sh: helm $helm_version already in .tools/bin"
else
  echo "k8stools.sh: building helm $helm_version into .tools/bin (go install from the module proxy; a few minutes)${have:+, replacing $have}"
  mkdir -p "$bin"
  start=$SECONDS
  (cd "$tmp" && GOBIN="$bin" go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$helm_version")
  have=$(installed_helm_version)
  if [ "$have" != "$helm_version" ]; then
    echo "k8stools.sh: built helm reports version '$have', want $helm_version" >&2
    exit 1
  fi
  printf '%s\n' "$ldflags" >"$stamp"
  echo "k8stools.sh: helm $helm_version built in $((SECONDS - start))s"
fi

echo "k8stools.sh: k8s.io/kubernetes@$k8s_version (its OpenAPI spec) into the module cache"
json=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@$k8s_version")
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
spec="$dir/api/openapi-spec/swagger.json"
if [ -z "$dir" ] || [ ! -f "$spec" ]; then
  echo "k8stools.sh: go mod download gave no api/openapi-spec/swagger.json:" >&2
  printf '%s\n' "$json" >&2
  exit 1
fi
echo "HELM=$helm"
echo "K8S_OPENAPI_SPEC=$spec"
