// Package pebbledb opens ist's Pebble databases (the command log of
// package wal and istd's metadata store) so that damage to Pebble's own
// write-ahead log stops start-up instead of reading as its end.
//
// Usage:
//
//	db, err := pebbledb.Open(dir, &pebble.Options{}, func(key []byte) (string, bool) {
//		seq, ok := keySeq(key) // name the keys an operator knows
//		return fmt.Sprintf("command %d", seq), ok
//	})
//	// err: "Pebble's log file DIR/000006.log is damaged at offset 26471,
//	// after command 368 (what follows cannot be read): pebble: ..."
package pebbledb

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/vfs"
	pwal "github.com/cockroachdb/pebble/v2/wal"
)

// Open opens (or creates) the Pebble database in dir with opts, in
// Pebble's newest format unless opts names one. From FormatWALSyncChunks
// on, each chunk of Pebble's log records how far the file had been
// synced, so Pebble tells damage to what was synced (Open fails) from a
// write a crash cut short before its sync (dropped: never acknowledged).
// Under older formats both read as the end of the log: damage in the
// newest log file silently lost every synced write after it. A database
// an earlier release created is upgraded when opened. One limit remains,
// Pebble's: it confirms damage by reading on to the next 32-KiB block of
// the log file, so damage in the file's last block still reads as the
// end of the log.
//
// Pebble writes the first log file of a database it creates in its
// oldest format, so Open closes a database it created and opens it
// again before returning it.
//
// When Pebble refuses the database as corrupt, the error also says where
// its log is damaged and what the last key read intact before it was,
// as describe names it (describe may be nil: the intact records are
// counted instead).
func Open(dir string, opts *pebble.Options, describe func(key []byte) (string, bool)) (*pebble.DB, error) {
	if opts.FormatMajorVersion == pebble.FormatDefault {
		opts.FormatMajorVersion = pebble.FormatNewest
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	names, err := fs.List(dir)
	fresh := err != nil || !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "MANIFEST-") })
	db, err := pebble.Open(dir, opts)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			if where := logDamage(fs, dir, describe); where != "" {
				err = fmt.Errorf("%s: %w", where, err)
			}
		}
		return nil, err
	}
	if !fresh {
		return db, nil
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return pebble.Open(dir, opts)
}

// logDamage says where Pebble's write-ahead log in dir is damaged: the
// log file, the offset, and the last key set intact before it, read with
// Pebble's own readers. "" if it finds no damage.
func logDamage(fs vfs.FS, dir string, describe func(key []byte) (string, bool)) string {
	logs, err := pwal.Scan(pwal.Dir{FS: fs, Dirname: dir})
	if err != nil {
		return ""
	}
	last, records := "", 0
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
					records++
					if describe != nil {
						last = lastKnownKey(data, describe, last)
					}
					continue
				}
			}
			r.Close()
			after := fmt.Sprintf("after %d intact records", records)
			if last != "" {
				after = "after " + last
			}
			return fmt.Sprintf("Pebble's log file %s is damaged at offset %d, %s (what follows cannot be read)",
				off.PhysicalFile, off.Physical, after)
		}
		r.Close()
	}
	return ""
}

// lastKnownKey returns what describe calls the last key that a Pebble
// batch's representation sets and describe knows, or last if none.
func lastKnownKey(repr []byte, describe func(key []byte) (string, bool), last string) string {
	r := batchrepr.Read(repr)
	for {
		kind, key, _, ok, err := r.Next()
		if !ok || err != nil {
			return last
		}
		if kind == pebble.InternalKeyKindSet {
			if name, ok := describe(key); ok {
				last = name
			}
		}
	}
}
