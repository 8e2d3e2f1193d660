#!/usr/bin/env bash
# hubline's whole test suite: the command README.md documents and .ci/run calls.
# Static checks, the softphone build check, every Go test (unit, fuzz seeds,
# integration with sipp and the real gateway binary) under -race, and the
# benchmarks once each so they never rot (no timing is asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Tests that need SIPp, Kamailio or Chromium fail instead of skipping when
# one is missing.
export HUBLINE_REQUIRE_SIPP=1 HUBLINE_REQUIRE_BROWSER=1

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== softphone build is reproducible and committed"
npm --prefix web run --silent check

echo "== gateway builds with CGO_ENABLED=0"
CGO_ENABLED=0 go build -o /dev/null ./cmd/gateway

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

echo "== the relay allocates nothing per packet (asserted without -race, whose sync.Pool drops items)"
go test -count=1 -run 'Alloc|DoesNotAllocate|TestSessionEndToEnd' ./media

echo "== benchmarks (-benchtime=1x, not timed)"
go test -run '^$' -bench . -benchtime=1x -benchmem ./... >/dev/null
echo "benchmarks ran"
