#!/usr/bin/env bash
# The package as a farmer installs it: `npm pack`, then `npm install -g` of
# that tarball into a clean prefix, then the installed `plotferry` must run. Also checks that the
# tarball holds only what runs (no tests, no sources, no bench) and ships the systemd units, the
# Grafana dashboard and the docs the README links to. Needs the npm registry (for the dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm run build --silent
npm pack --silent --pack-destination "$work" >/dev/null
tgz=$(ls "$work"/plotferry-*.tgz)
listing=$(tar -tzf "$tgz")
if grep -E '^package/(dist/test|dist/bench|src|test|bench)/' <<<"$listing"; then
  echo "pack-test: the tarball holds files that do not run (above)" >&2
  exit 1
fi
for f in package/contrib/systemd/plotferry-harvester.service package/contrib/systemd/plotferry-sweep.service \
  package/contrib/systemd/plotferry.env package/contrib/nats/farm-cluster.conf \
  package/contrib/grafana/plotferry-dashboard.json package/contrib/prometheus/plotferry.yml package/dist/src/cli/main.js \
  package/README.md package/CHANGELOG.md package/docs/commands.md package/docs/operations.md; do
  grep -qx "$f" <<<"$listing" || { echo "pack-test: $f is missing from the tarball" >&2; exit 1; }
done
npm install -g --no-audit --no-fund --prefix "$work/prefix" "$tgz" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; exit 1; }
# A farmer's install must not warn about plotferry's own install scripts (the build runs at pack time).
if grep -i 'plotferry.*script\|script.*plotferry' "$work/install.log"; then
  echo "pack-test: installing the tarball warned about an install script (above)" >&2
  exit 1
fi
bin="$work/prefix/bin/plotferry"
version=$("$bin" --version)
[ "$version" = "$(node -p 'require("./package.json").version')" ] || { echo "pack-test: plotferry --version says '$version'" >&2; exit 1; }
"$bin" sweep --help | grep -q -- '--watch' || { echo "pack-test: the installed sweep --help lacks --watch" >&2; exit 1; }
# A usage error still exits 2 from the installed copy.
set +e
"$bin" send --retries abc --to 127.0.0.1:9 --token t x.plot >/dev/null 2>&1
code=$?
set -e
[ "$code" = 2 ] || { echo "pack-test: a bad option exited $code, not 2" >&2; exit 1; }
echo "pack-test: $(wc -l <<<"$listing") files packed; installed plotferry $version runs from a clean prefix"
