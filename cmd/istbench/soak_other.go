//go:build !unix

package main

import "os"

// allocated returns fi's size (the disk it takes is not known here).
func allocated(fi os.FileInfo) int64 { return fi.Size() }
