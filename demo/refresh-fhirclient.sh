#!/usr/bin/env bash
# Refreshes the vendored SMART JavaScript client (npm package fhirclient) in assets/vendor from
# `npm install`. Run it with `go generate ./demo` after changing FHIRCLIENT_VERSION, then
# check the demo with the browser tests (e2e/browser_test.go) and commit the files it wrote.
set -euo pipefail
FHIRCLIENT_VERSION=${FHIRCLIENT_VERSION:-2.6.3}
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --ignore-scripts "fhirclient@$FHIRCLIENT_VERSION" >/dev/null)
pkg="$work/node_modules/fhirclient"
version=$(node -p "require('$pkg/package.json').version")
out=assets/vendor
cp "$pkg/build/fhir-client.min.js" "$out/fhir-client.min.js"
cp "$pkg/build/fhir-client.min.js.LICENSE.txt" "$out/fhir-client.min.js.LICENSE.txt"
cp "$pkg/LICENSE" "$out/fhirclient.LICENSE"
sha=$(sha256sum "$out/fhir-client.min.js" | cut -d' ' -f1)
cat > "$out/README.md" <<NOTE
# Vendored: the SMART JavaScript client

\`fhir-client.min.js\` is the prebuilt browser bundle \`build/fhir-client.min.js\` of the npm
package \`fhirclient\` version $version (SMART Health IT, Apache-2.0: \`fhirclient.LICENSE\`;
the licenses of the code bundled into it: \`fhir-client.min.js.LICENSE.txt\`), copied unchanged.
It is the full bundle, with its Web Crypto shim, so PKCE also works on a plain-http origin that
is not localhost.

sha256 of fhir-client.min.js: $sha

Refresh it with \`go generate ./demo\` (demo/refresh-fhirclient.sh, which runs \`npm install
fhirclient@VERSION\` in a temporary directory and copies these files); set FHIRCLIENT_VERSION to
change the version.
NOTE
echo "fhirclient $version vendored in demo/$out"
