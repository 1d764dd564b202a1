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
//	if err != nil { ... }            // damage before the tail: an error naming the command
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
// a durable engine on two cores spends a fifth less CPU), each command a
// record with its own checksum:
//
//	+---------+-----------+-------+------------+
//	| version | first seq | count | header crc |
//	| u8 = 4  | u64       | u32   | u32        |
//	+---------+-----------+-------+------------+-----------+----------+
//	| length  | compact body (first seq)       | crc32c    |          |
//	| length  | compact body (first seq+1)     | crc32c    |  count   |
//	| ...     |                                |           |  records |
//	+---------+--------------------------------+-----------+----------+
//	header crc = CRC-32C over the key's seq and the header before it
//	length     = the body's size, uvarint
//	crc32c     = CRC-32C over the command's seq, its length and its body
//
// A compact body is the command's kind, a mask of its non-zero fields
// and those fields, most as varints (an order takes 15–25 bytes; the
// diagram and the table of fields are in record.go and compact.go). A
// damaged record is reported with its command's sequence number. Logs of
// earlier releases (blocks of fixed-layout bodies, version 3; blocks with
// one CRC, version 2; before them a record per key, version 1, see
// record.go) are read as they are, and new blocks follow them.
// Truncation deletes whole blocks, so the log may start a little before
// the oldest snapshot; recovery skips what the snapshot covers.
//
// # Truncation and read models
//
// Each snapshot truncates the log up to the oldest of the newest
// Options.KeepSnapshots (2) snapshots. A program that keeps read models
// beside the log, built from the engine's results and saved now and then
// (istd's order history and leader statistics), says how far they are
// durably saved (Options.Retain): the log then also keeps the newest
// snapshot at or before that save and every command after it, and is not
// truncated at all while no snapshot is that old. At start-up,
// Options.ReplayAfter (the save's sequence number) makes Recover start
// from that snapshot, or from sequence 1 when every snapshot is newer and
// the log was never truncated, and Options.OnReplay hands the read models
// every command after their save: a crash costs them nothing the log
// acknowledged.
//
// # Durability
//
// Commit and CommitAsync use synced writes; the engine acknowledges a
// command only after its batch's sync has returned (Pebble makes a batch
// visible before the sync completes: visible is not durable). A failed
// write or sync makes every later commit fail (ErrFailed): the engine stops
// acknowledging, and reopening recovers everything acknowledged.
// Snapshots are written only once the command they stop at is durable,
// through a temporary file, fsync, rename and directory fsync; Open
// deletes the temporary file of a snapshot that a crash cut short.
//
// The log never writes over a command: Append takes only the command
// after the log's last one (LastSeq), so an engine opened on a log
// without the state that Recover returned (it would number its commands
// from 1 again) is refused with ErrOutOfSequence before anything is
// acknowledged. After Close every method returns ErrClosed.
//
// Pebble's own write-ahead log holds what has not been flushed to its
// tables yet. The log uses Pebble's newest format, whose log chunks
// record how far the file had been synced: at start-up Pebble drops a
// write that a crash cut short (never synced, so never acknowledged;
// where each file's replay stopped is logged at info level), and damage
// to what was synced makes Open fail with an error that names the file,
// the offset and the last command read intact before it (but for damage
// in the file's last 32 KiB: Pebble confirms damage by reading on to the
// next block, so there it still reads as the end). A snapshot that
// Recover finds unreadable is renamed snap-<seq>.ist.corrupt, so that
// pruning never keeps it in place of a readable one.
//
// Verify, called instead of Recover on a Log just opened, checks the log
// against its snapshots without changing either: it replays the log (from
// its first command if it still holds it) and checks that the state at
// each later snapshot's sequence number is the one the snapshot holds
// (istd verify runs it on a backup).
package wal
