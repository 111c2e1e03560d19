#!/usr/bin/env bash
# Renders reports/report.html in headless Chromium (Debian's `chromium` package) and writes a
# full-page PNG, to check by eye that the images load and nothing overflows.
#   scripts/screenshot-report.sh [REPORT_HTML] [OUT_PNG] [WIDTH]
set -euo pipefail
html=$(realpath "${1:-reports/report.html}")
out=${2:-reports-screenshot.png}
width=${3:-1280}
command -v chromium >/dev/null || { echo "needs chromium: apt-get install -y chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# the page is one column: measure its height at this width, then shoot the whole of it
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="${width},12000" \
  --screenshot="$out" "file://$html" 2>/dev/null
echo "wrote $out (${width}px wide)"
