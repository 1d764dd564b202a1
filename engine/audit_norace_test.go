//go:build !race

package engine_test

// auditCheckEvery is how often the audit streams with good-till-date
// orders and causes call Check: after every command (see
// audit_race_test.go for the race detector's).
const auditCheckEvery = 1

// auditRace is whether the race detector is on (see audit_race_test.go).
const auditRace = false
