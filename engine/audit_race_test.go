//go:build race

package engine_test

// auditCheckEvery is how often the audit streams with good-till-date
// orders and causes call Check: under the race detector, which makes
// Check some ten times slower, every few commands.
const auditCheckEvery = 10

// auditRace is whether the race detector is on: the audit streams, run
// on one goroutine, are then of their short length (auditLen).
const auditRace = true
