package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/wal"
	"github.com/rs/zerolog"
)

// CountingJournal wraps a Journal and counts records and commits, to
// learn the batch sizes the engine produced.
type CountingJournal struct {
	engine.Journal
	Records, Commits atomic.Int64
	Bytes            atomic.Int64
}

// Append implements engine.Journal.
func (c *CountingJournal) Append(cmd *engine.Command) error {
	c.Records.Add(1)
	return c.Journal.Append(cmd)
}

// Commit implements engine.Journal.
func (c *CountingJournal) Commit() error {
	c.Commits.Add(1)
	return c.Journal.Commit()
}

// CommitAsync implements engine.PipelinedJournal: the wrapped journal's
// CommitAsync if it has one (the real log does: the engine then overlaps
// each batch's fsync with writing the next), else its Commit.
func (c *CountingJournal) CommitAsync() (wait func() error, err error) {
	c.Commits.Add(1)
	if pj, ok := c.Journal.(engine.PipelinedJournal); ok {
		return pj.CommitAsync()
	}
	return nil, c.Journal.Commit()
}

// OpenLog opens a wal.Log in dir with warnings discarded.
func OpenLog(dir string) (*wal.Log, error) {
	quiet := zerolog.Nop()
	return wal.Open(dir, &wal.Options{Logger: &quiet})
}

// RawAppend measures a bare Pebble append loop in dir: n records of
// recordSize bytes (zeros but the first) under sequential keys, committed
// with Sync every batch records. It returns records per second.
func RawAppend(dir string, n, batch, recordSize int) (float64, error) {
	return RawAppendRecords(dir, n, batch, [][]byte{make([]byte, recordSize)})
}

// RawAppendRecords is RawAppend with the given record values, used in
// turn: the bytes the log would write (see StreamRecords), so that
// compression and table sizes are those of the log too.
func RawAppendRecords(dir string, n, batch int, records [][]byte) (float64, error) {
	return rawAppend(dir, n, batch, records, false)
}

// RawAppendBlocks is RawAppendRecords with each batch's records
// concatenated under one key, the last record's, as the log stores a
// journal batch (one block).
func RawAppendBlocks(dir string, n, batch int, records [][]byte) (float64, error) {
	return rawAppend(dir, n, batch, records, true)
}

func rawAppend(dir string, n, batch int, records [][]byte, blocks bool) (float64, error) {
	db, err := pebble.Open(dir, &pebble.Options{MemTableSize: 64 << 20, Logger: nopLogger{},
		FormatMajorVersion: pebble.FormatNewest}) // as the log (internal/pebbledb)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	key := make([]byte, 9)
	var block []byte
	b := db.NewBatch()
	start := time.Now()
	for i := 1; i <= n; i++ {
		key[0] = 'c'
		for k := 0; k < 8; k++ {
			key[8-k] = byte(uint64(i) >> (8 * k))
		}
		val := records[i%len(records)]
		if len(records) == 1 {
			val[0] = byte(i)
		}
		last := i%batch == 0 || i == n
		switch {
		case !blocks:
			err = b.Set(key, val, nil)
		case last:
			err = b.Set(key, append(block, val...), nil)
			block = block[:0]
		default:
			block = append(block, val...)
		}
		if err != nil {
			return 0, err
		}
		if last {
			if err := b.Commit(pebble.Sync); err != nil {
				return 0, err
			}
			b.Reset()
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

type nopLogger struct{}

func (nopLogger) Infof(string, ...any)         {}
func (nopLogger) Errorf(string, ...any)        {}
func (nopLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// StreamRecords returns the log records of the first n commands of the
// engine benchmarks' order flow, sequenced from 1, as the log's blocks
// hold them (wal.BlockRecords): the time moves on by 50 µs every 256
// commands, as the matcher's batches stamp it, so that most records
// carry no time of their own.
func StreamRecords(n int) [][]byte {
	ops := ProducerStream(1, 0, 1, 100, n)
	cmds := make([]engine.Command, len(ops))
	for i := range ops {
		ops[i].command(&cmds[i], 1)
		cmds[i].Seq, cmds[i].Time = uint64(i+1), 1_700_000_000_000_000_000+int64(i/256)*50_000
	}
	return wal.BlockRecords(cmds)
}

// RecordSize returns the log record size of a typical place command in
// a block, after the block's first command.
func RecordSize() int {
	c := engine.Command{Kind: engine.CmdPlace, Seq: 1, Account: 1, Market: 1,
		Order: book.Order{Side: book.Buy, Price: 100_000, Qty: 5}}
	return len(wal.BlockRecords([]engine.Command{c, c})[1])
}

// WriteLog fills the log in dir with a genesis and n trading commands
// (the order flow of the engine benchmarks), written straight to the log
// in batches of 4096, as the engine would have journaled them.
func WriteLog(dir string, n int, accounts int) (uint64, error) {
	l, err := OpenLog(dir)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	var seq uint64
	add := func(c *engine.Command) error {
		seq++
		c.Seq, c.Time = seq, int64(seq)
		if err := l.Append(c); err != nil {
			return err
		}
		if seq%4096 == 0 {
			return l.Commit()
		}
		return nil
	}
	gen := Genesis(accounts)
	for i := range gen {
		if err := add(&gen[i]); err != nil {
			return 0, err
		}
	}
	// Trading: the commands are also applied to a scratch state, so that
	// cancels name live orders and the book stays at a steady size, as on
	// a real market (the order flow of the engine benchmarks).
	st := engine.NewState()
	var evs []engine.Event
	for i := range gen {
		_, evs = st.Apply(&gen[i], evs[:0])
	}
	f := newOrderFlow(7, 0, 1, accounts)
	fl := flows{f}
	for range n {
		var c engine.Command
		f.next(&c)
		if err := add(&c); err != nil {
			return 0, err
		}
		res := engine.Result{Seq: c.Seq, Kind: c.Kind}
		res.Outcome, evs = st.Apply(&c, evs[:0])
		res.Events = evs
		fl.track(&res)
	}
	return seq, l.Commit()
}

// TempDir makes a scratch directory under the system's temp dir.
func TempDir(prefix string) (string, func(), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// Sub returns dir/name.
func Sub(dir, name string) string { return filepath.Join(dir, name) }
