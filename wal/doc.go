// Package wal is ist's durable command log: every command the engine
// sequences is written to a Pebble database, one synced batch per pipeline
// batch, before its result is acknowledged. With periodic snapshots of the
// engine state it gives recovery (newest valid snapshot + replay of the log
// after it), truncation, online backups, and crash safety.
//
// # Usage
//
//	l, err := wal.Open("./data", nil)
//	if err != nil { ... }
//	state, stats, err := l.Recover() // snapshot + replay; torn tail dropped
//	if err != nil { ... }            // damage before the tail: an error naming the entry
//	e, err := engine.Open(&engine.Options{Journal: l, State: state, Snapshots: l,
//		SnapshotEvery: 1_000_000})
//	...
//	e.Close() // first the engine,
//	l.Close() // then the log
//
// # On disk
//
//	DIR/log/          Pebble: key 'c' + seq (u64 big-endian) → log entry
//	DIR/snapshots/    snap-<seq>.ist: engine.State.AppendSnapshot (own CRC)
//
// A log entry is a block: the commands of one journal batch, under the
// last one's sequence number (one Pebble key per batch, not per command:
// a durable engine on two cores spends a fifth less CPU):
//
//	+---------+-----------+-------+--------------------------+--------+
//	| version | first seq | count | command bodies, in order | crc32c |
//	| u8 = 2  | u64       | u32   | (kind, fixed fields)     | u32    |
//	+---------+-----------+-------+--------------------------+--------+
//	crc32c (Castagnoli) = CRC over the key's seq and every byte before it
//
// Logs written before blocks hold a record per command (version 1, see
// AppendRecord) under its own sequence number; they are read as they are,
// and blocks follow them. Truncation deletes whole blocks, so the log may
// start a little before the oldest snapshot; recovery skips what the
// snapshot covers.
//
// # Durability
//
// Commit and CommitAsync use synced writes; the engine acknowledges a
// command only after its batch's sync has returned (Pebble makes a batch
// visible before the sync completes: visible is not durable). A failed
// write or sync makes every later commit fail (ErrFailed): the engine stops
// acknowledging, and reopening recovers everything acknowledged.
// Snapshots are written only once the command they stop at is durable,
// through a temporary file, fsync, rename and directory fsync.
package wal
