//go:build !unix

package main

import "time"

// cpuTime is not measured here: the loops report 0 cores.
func cpuTime() time.Duration { return 0 }
