#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, each for a
# budget of executions (not of time). A target that finds a failing input
# saves it under its package's testdata/fuzz/<target>/, where the plain
# test suite (scripts/test.sh) replays it from then on.
#
#   bash scripts/fuzz.sh                 # every target, 200000 executions
#   FUZZ_EXECS=2000000 bash scripts/fuzz.sh ./server   # longer, one package
#
# The budget is a count because a duration (-fuzztime 30s) makes Go 1.26's
# fuzzing coordinator report "context deadline exceeded" now and then when
# the time runs out, with no failing input (go.dev/issue/75804). Minimizing
# a new interesting input has a budget of executions too (FUZZ_MINIMIZE,
# default 5000): the default, 60 s each, stalled targets on a loaded machine.
set -euo pipefail
cd "$(dirname "$0")/.."

execs=${FUZZ_EXECS:-200000}
parallel=${FUZZ_PARALLEL:-1}
minimize=${FUZZ_MINIMIZE:-5000}
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=(./...)
fi

failed=()
for pkg in $(go list "${pkgs[@]}"); do
	targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in $targets; do
		echo "== $pkg $t ($execs executions)"
		if ! go test "$pkg" -run '^$' -fuzz "^$t\$" -fuzztime "${execs}x" -fuzzminimizetime "${minimize}x" -parallel "$parallel"; then
			failed+=("$pkg $t")
		fi
	done
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failing targets (inputs saved under testdata/fuzz/):"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: all targets passed"
