#!/usr/bin/env bash
# pgo.sh regenerates default.pgo, the CPU profile that `go build` and
# `go run` use to optimize istd and istbench (profile-guided optimization:
# the compiler inlines and lays out the code that is hot in the profile).
# It profiles the workloads istbench drives (the engine's closed loop, the
# engine with the Pebble log, replay, and istd's single and batch orders
# over HTTP) with a build that uses no profile, merges the profiles, and
# writes the same file to cmd/istd and cmd/istbench (the same content, so
# the build cache compiles the shared packages once for both).
#
#   bash scripts/pgo.sh        # about 3 minutes; then commit the two files
#
# Re-run it after changes that move the hot paths. A program that embeds
# the engine can use the same profile (copy it next to its main package)
# or, better, one taken from its own production load.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -pgo=off -o "$tmp/istbench" ./cmd/istbench
run() { # run NAME ARGS...: one profiled istbench run
	local name=$1
	shift
	echo "profiling $name" >&2
	"$tmp/istbench" "$@" --cpuprofile "$tmp/$name.prof" >"$tmp/$name.out" 2>&1 || {
		cat "$tmp/$name.out" >&2
		exit 1
	}
}
run engine engine --rounds 1 --open-n 1
run durable durable --rounds 1 --open-n 1
run recovery recovery -n 2000000
run single http --profile-phase single
run batch http --profile-phase batch
go tool pprof -proto "$tmp"/*.prof >"$tmp/default.pgo"
cp "$tmp/default.pgo" cmd/istd/default.pgo
cp "$tmp/default.pgo" cmd/istbench/default.pgo
ls -l cmd/istd/default.pgo cmd/istbench/default.pgo
