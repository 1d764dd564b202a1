#!/usr/bin/env bash
# The project's test command: formatting, vet (also for arm64 and 386),
# staticcheck, the race-enabled test suite, the determinism tests built
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

# The state machine must give the same results on 32-bit platforms: the
# audit streams' outcomes, events and state hash against their golden
# digest, and their replays, built for 386 (which an amd64 Linux runs).
if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ]; then
	echo "== go test (386): determinism across platforms"
	GOARCH=386 go test -count=1 -run 'TestAudit' ./engine ./wal
fi

# deploy/k8scheck is a nested module (so the main go.mod stays free of the
# k8s.io dependencies): ./... above skips it, so vet and test it here. It
# decodes deploy/k8s/*.yaml strictly into the Kubernetes API types.
echo "== deploy/k8scheck (Kubernetes manifests)"
(cd deploy/k8scheck && go vet ./... && go test -count=1 ./...)
