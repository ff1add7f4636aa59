#!/usr/bin/env bash
# Fetches the world map of the API dashboard: Natural Earth's 1:110m country outlines (public
# domain) as TopoJSON, from the npm package world-atlas (ISC), at exactly the version and
# integrity pinned in package-lock.json. Writes map/countries-110m.json and
# map/world-atlas-LICENSE, which are committed, so building needs no network.
#   bash crates/web/assets/fetch-map.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/package-lock.json"
version="$(node -e 'const l=require(process.argv[1]);console.log(l.packages["node_modules/world-atlas"].version)' "$lock")"
integrity="$(node -e 'const l=require(process.argv[1]);console.log(l.packages["node_modules/world-atlas"].integrity)' "$lock")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# `npm pack` downloads the package's tarball from the configured registry.
(cd "$work" && npm pack --silent "world-atlas@$version" >/dev/null)
tarball="$work/world-atlas-$version.tgz"

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$integrity" ]]; then
  echo "world-atlas@$version: integrity $actual, but package-lock.json pins $integrity" >&2
  exit 1
fi

tar -xzf "$tarball" -C "$work" package/countries-110m.json package/LICENSE
mkdir -p "$here/map"
cp "$work/package/countries-110m.json" "$here/map/countries-110m.json"
cp "$work/package/LICENSE" "$here/map/world-atlas-LICENSE"
echo "map/countries-110m.json from world-atlas@$version ($integrity)"
