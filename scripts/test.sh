#!/usr/bin/env bash
# The project's test command: formatting, vet (also for arm64 and 386),
# staticcheck, the race-enabled test suite, the long single-goroutine
# tests at full length and the allocation tests (both without the race
# detector), the determinism tests built
# for 386 and the Kubernetes manifest check (deploy/k8scheck). Run from anywhere inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	exit 1
fi

echo "== go vet"
go vet ./...

# The engine's prefetch is assembly on amd64 and arm64 and a no-op
# elsewhere, and a constant that fits 64 bits may overflow a 32-bit int:
# vet (which type-checks the tests too) for the other kinds of platform.
echo "== go vet (arm64, 386)"
GOARCH=arm64 go vet ./...
GOARCH=386 go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

# The long random tests that run on one goroutine (the book's differential
# test, the state machine's audit and invariant streams, the statistics
# store's and the pending table's models) run a part of their length under
# the race detector, which slows them five to ten times and has no race to
# find in them: run them whole without it. (Each says so where it picks
# its length; a new one must be named here if its package is not whole.)
echo "== go test (the long single-goroutine tests, whole, without the race detector)"
go test -count=1 -run 'TestStatsSaveIncremental$|TestPendingTabMatchesMap$' ./server &
server=$!
go test -count=1 ./book ./engine
wait "$server"

# The allocation tests skip under the race detector (it allocates): run
# them once without it, so that a regression fails here.
echo "== go test (allocation counts)"
go test -count=1 -run 'Allocs|TestCheckEscapes' ./...

# The state machine must give the same results on 32-bit platforms: the
# audit streams' outcomes, events and state hash against their golden
# digest, and their replays, built for 386. Most amd64 Linux kernels run
# 386 binaries; where one cannot (a kernel without IA32 emulation, as on
# some CI VMs), the tests run under qemu-user's qemu-i386 if it is there
# (.ci/run installs it), in short mode since emulation is ~20x slower, and
# with asynchronous preemption off: its signals crash Go under qemu-user
# ("bad g in signal handler"). Without either, the step says so and skips.
if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ]; then
	echo "== go test (386): determinism across platforms"
	if bash scripts/run386.sh probe; then
		GOARCH=386 go test -count=1 -run 'TestAudit' ./engine ./wal
	elif command -v qemu-i386 >/dev/null 2>&1; then
		echo "this kernel cannot run 386 binaries: running them under $(qemu-i386 --version | head -1)"
		GODEBUG=asyncpreemptoff=1 GOARCH=386 go test -exec qemu-i386 -short -count=1 -run 'TestAudit' ./engine ./wal
	else
		echo "SKIPPED: this kernel cannot run 386 binaries and qemu-i386 (Debian: qemu-user) is not installed"
	fi
fi

# deploy/k8scheck is a nested module (so the main go.mod stays free of the
# k8s.io dependencies): ./... above skips it, so vet and test it here. It
# decodes deploy/k8s/*.yaml strictly into the Kubernetes API types.
echo "== deploy/k8scheck (Kubernetes manifests)"
(cd deploy/k8scheck && go vet ./... && go test -count=1 ./...)

# bench/tracestat, the execution trace reader, is a module of its own too
# (golang.org/x/exp/trace stays out of the main go.mod).
echo "== bench/tracestat"
(cd bench/tracestat && go vet ./... && go test -count=1 ./...)
