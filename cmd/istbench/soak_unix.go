//go:build unix

package main

import (
	"os"
	"syscall"
)

// allocated returns the bytes of disk fi takes (as du counts them: Pebble
// preallocates its log files, so they take more than their size).
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
