//go:build !unix

package bench

import "time"

// CPUTime is not measured here: the loops report 0 cores.
func CPUTime() time.Duration { return 0 }
