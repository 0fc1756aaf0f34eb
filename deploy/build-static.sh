#!/usr/bin/env bash
# Builds keywarden exactly as deploy/Dockerfile does and checks the result is
# a static binary (no dynamic section, no interpreter). Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/keywarden-static}
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/keywarden/keywarden/internal/cli.Version=ci" -o "$out" ./cmd/keywarden
if readelf -d "$out" 2>/dev/null | grep -q 'Dynamic section'; then
  echo "$out is dynamically linked; the distroless/static image needs a static binary" >&2
  exit 1
fi
if readelf -l "$out" | grep -q 'INTERP'; then
  echo "$out requests an ELF interpreter; not static" >&2
  exit 1
fi
"$out" version | grep -q 'keywarden ci'
echo "static binary OK: $out ($(du -h "$out" | cut -f1))"
