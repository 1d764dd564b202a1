package wal

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/vfs"
	pwal "github.com/cockroachdb/pebble/v2/wal"
)

// pebbleLogDamage says where Pebble's own write-ahead log in dir is
// damaged, for the error of an Open that Pebble refused with
// ErrCorruption: the log file, the offset, and the last command of this
// log whose block was intact before it. Pebble names only the file, and
// an operator needs to know which acknowledged commands are at stake. It
// reads the log files with Pebble's own readers; "" if it finds no
// damage.
func pebbleLogDamage(fs vfs.FS, dir string) string {
	logs, err := pwal.Scan(pwal.Dir{FS: fs, Dirname: dir})
	if err != nil {
		return ""
	}
	var last uint64 // the highest command key read intact
	for _, ll := range logs {
		r := ll.OpenForRead()
		for {
			rec, off, err := r.NextRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				var data []byte
				if data, err = io.ReadAll(rec); err == nil {
					last = max(last, lastCommandKey(data))
					continue
				}
			}
			r.Close()
			if last == 0 {
				return fmt.Sprintf("Pebble's log file %s is damaged at offset %d, before any command", off.PhysicalFile, off.Physical)
			}
			return fmt.Sprintf("Pebble's log file %s is damaged at offset %d, after command %d (the commands after it cannot be read)",
				off.PhysicalFile, off.Physical, last)
		}
		r.Close()
	}
	return ""
}

// lastCommandKey returns the highest command sequence number that a
// Pebble batch's representation sets: a log entry's key is its last
// command's sequence number. 0 if it sets none.
func lastCommandKey(repr []byte) uint64 {
	var last uint64
	r := batchrepr.Read(repr)
	for {
		kind, key, _, ok, err := r.Next()
		if !ok || err != nil {
			return last
		}
		if kind == pebble.InternalKeyKindSet {
			if seq, ok := keySeq(key); ok {
				last = max(last, seq)
			}
		}
	}
}
