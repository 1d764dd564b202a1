#!/usr/bin/env bash
# alternate.sh compares two builds of istbench (or any command that
# prints a last line of key=value pairs) on a machine whose speed drifts:
# it runs them in turn, N times each, and prints each pair, the means,
# their ratio and how many pairs the first won.
#
#   go build -o /tmp/new ./cmd/istbench
#   git worktree add --detach /tmp/oldwt REV && (cd /tmp/oldwt && go build -o /tmp/old ./cmd/istbench) && git worktree remove /tmp/oldwt
#   scripts/alternate.sh 8 /tmp/new /tmp/old engine --rounds 1 --open-n 1
#   KEY=ratio scripts/alternate.sh 3 /tmp/new /tmp/old durable
#
# KEY is the key compared (default cmds_per_sec). ENV_A and ENV_B, if
# set, are environment assignments for each build's runs (e.g.
# ENV_A="GOGC=400"), so one binary can be compared with itself.
set -euo pipefail

if [ $# -lt 3 ]; then
	echo "usage: [KEY=k] [ENV_A=..] [ENV_B=..] $0 N BIN_A BIN_B ARGS..." >&2
	exit 2
fi
n=$1 a=$2 b=$3
shift 3
key=${KEY:-cmds_per_sec}

value() { # value ENV BIN ARGS...: the key's value in the run's last line
	local envs=$1 bin=$2
	shift 2
	# shellcheck disable=SC2086 # ENV_A/ENV_B are lists of assignments
	env $envs "$bin" "$@" 2>&1 | tail -1 | tr ' ' '\n' | sed -n "s/^$key=//p"
}

for _ in $(seq "$n"); do
	echo "$(value "${ENV_A:-}" "$a" "$@") $(value "${ENV_B:-}" "$b" "$@")"
done | awk -v key="$key" '
	$1 == "" || $2 == "" { print "alternate.sh: no " key "= in a last line" > "/dev/stderr"; exit 1 }
	{ print; sa += $1; sb += $2; if ($1 > $2) w++ }
	END { if (NR) printf "%s: mean A %.6g, mean B %.6g, ratio %.3f, A won %d of %d\n", key, sa/NR, sb/NR, sa/sb, w, NR }'
