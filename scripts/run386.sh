#!/usr/bin/env bash
# scripts/run386.sh probe: exits 0 if this machine runs a 386 Go binary
# natively (an amd64 Linux kernel with IA32 emulation), 1 if not.
# scripts/test.sh and .ci/run use it to choose how to run the 386 tests.
set -euo pipefail
[ "${1:-}" = probe ] || { echo "usage: $0 probe" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'package main\n\nfunc main() {}\n' >"$dir/main.go"
(cd "$dir" && GOARCH=386 GOFLAGS= go build -o probe main.go) || exit 1
"$dir/probe" 2>/dev/null || exit 1
