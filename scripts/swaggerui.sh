#!/usr/bin/env bash
# swaggerui.sh copies the Swagger UI assets that the dispatcher serves at /docs
# from the npm package swagger-ui-dist, at the version pinned in
# tools/package.json (installed by scripts/tools.sh), into
# openapi/swaggerui/dist/. Only the files the page loads are copied, with the
# licences; dist/ is committed so that the services build without npm.
# The page itself (openapi/swaggerui/index.html, swagger-initializer.js) is
# hand-written and not touched here. Idempotent: a second run changes nothing,
# which is what `just check-generated` relies on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

pkg=tools/node_modules/swagger-ui-dist
want=$(node -p 'require("./tools/package.json").devDependencies["swagger-ui-dist"]')
have=$(node -p 'try { require("./'"$pkg"'/package.json").version } catch { "" }')
if [ "$have" != "$want" ]; then
  echo "swaggerui.sh: swagger-ui-dist $want is pinned but ${have:-nothing} is installed in tools/node_modules: run 'bash scripts/tools.sh'" >&2
  exit 1
fi

out=openapi/swaggerui/dist
rm -rf "$out"
mkdir -p "$out"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
  favicon-32x32.png favicon-16x16.png LICENSE NOTICE; do
  cp "$pkg/$f" "$out/$f"
done
echo "$want" > "$out/VERSION"
echo "swaggerui.sh: swagger-ui-dist $want copied to $out"
