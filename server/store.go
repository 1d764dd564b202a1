package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/internal/pebbledb"
	"github.com/rs/zerolog"
)

// ErrDataDirInUse is the error of Open when another Server holds the data
// directory: an istd process running on it, or a Server of this process
// not yet closed. `istd backup` then asks the running istd for an online
// backup.
var ErrDataDirInUse = errors.New("server: data directory in use")

// store keeps the server's own metadata, which the engine does not: the
// admin token hash, user token hashes and the read model of order history
// and fills. It is a small Pebble database at DATA/server, written with
// Sync so that what a response reports survives a crash.
//
// Keys:
//
//	"admin"              SHA-256 of the admin token
//	"tok/" hash(32)      token id (8, big endian) + account id (8)
//	"tid/" id(8)         hash(32) + account id (8)
//	"seq/token"          last token id issued
//	"rm/…"               read model: orders, fills, public trades and
//	                     candles, as a log of segments (see histseg.go)
//	"rm"                 the read model as one gob value, as older
//	                     versions saved it (read once, then deleted)
//	"xf/" account(8) seq(8)  an account's deposit or withdrawal
//	                     (see transfers.go), saved with the history
//	"ce/" account(8) id(8)   an account's copy-trading event (see
//	                     copyevents.go), saved with the history
//	"stats/…"            leader statistics: a header, a record per
//	                     account, leader and relation, series points
//	                     in chunks (see statpersist.go)
//	"stats/leaders"      the leader statistics as one gob value, as
//	                     older versions saved them (read, then deleted)
//	"dm/" account(8)     the account's cancel-all-after deadline (Unix
//	                     ns, 8) and timeout (ms, 8) (see deadman.go)
//	"trade/base"         trade id base (8, big endian; see tradeid.go)
//	"engine/rules"       rules version (4, big endian) the log's commands
//	                     after a sequence number (8) were applied under
//	                     (see rules.go)
type store struct {
	db   *pebble.DB
	lock *pebble.Lock // of DATA/server, released after db closes
	// The history's base and segments (histseg.go), written by one
	// goroutine at a time (the server serializes saves): the base in
	// force and its bytes, the number of the next segment, the bytes of
	// the segments after the base, the least of those that calls for a
	// new base (and after a failed one, for the next try), and a new base
	// written but not yet in force (0: none).
	base, nextSeg, pendingBase         uint64
	baseBytes, segsBytes, pendingBytes int64
	compactMin, retryBase              int64
	// baseFrom is the first segment written since the pending base began,
	// and sinceBase the bytes of those segments.
	baseFrom  uint64
	sinceBase int64
	// stored is what the base in force and the segments after it hold,
	// in bytes, for /metrics (read by other goroutines).
	storedBase, storedSegs atomic.Int64
	w, bw                  segWriter     // scratch of writeChanges, of writeBase
	batch                  *pebble.Batch // reused by every save
}

// openStore opens (or creates) DATA/server.
func openStore(dataDir string, log *zerolog.Logger) (*store, error) {
	// Fresh (L0) tables are not compressed; compactions compress the
	// older levels.
	opts := &pebble.Options{Logger: pebbleLogger{log}, MemTableSize: 64 << 20}
	opts.Levels[0].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	dir := filepath.Join(dataDir, "server")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("server: open metadata store: %w", err)
	}
	// The lock of DATA/server, taken first, guards the whole data
	// directory: the log (wal.Open) is opened after it.
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		var pe *fs.PathError
		if !errors.As(err, &pe) { // not creating the lock file, but locking it
			return nil, fmt.Errorf("%w: %s is locked (%v)", ErrDataDirInUse, dataDir, err)
		}
		return nil, fmt.Errorf("server: open metadata store: %w", err)
	}
	opts.Lock = lock
	db, err := pebbledb.Open(dir, opts, nil) // damage to its log stops start-up
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("server: open metadata store: %w", err)
	}
	return &store{db: db, lock: lock, compactMin: compactMinBytes}, nil
}

func (s *store) close() error {
	if s.batch != nil {
		s.batch.Close()
	}
	return errors.Join(s.db.Close(), s.lock.Close())
}

// get returns a copy of the value of key, or nil if there is none.
func (s *store) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: metadata store: %w", err)
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

func (s *store) set(key, value []byte) error {
	if err := s.db.Set(key, value, pebble.Sync); err != nil {
		return fmt.Errorf("server: metadata store: %w", err)
	}
	return nil
}

// tokenRec is a user token as stored: only its hash is kept.
type tokenRec struct {
	id      uint64
	account uint64
	hash    [32]byte
}

// addToken stores a new token hash for account and returns its id.
func (s *store) addToken(hash [32]byte, account uint64) (uint64, error) {
	last, err := s.get([]byte("seq/token"))
	if err != nil {
		return 0, err
	}
	id := uint64(1)
	if len(last) == 8 {
		id = binary.BigEndian.Uint64(last) + 1
	}
	b := s.db.NewBatch()
	defer b.Close()
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], id)
	binary.BigEndian.PutUint64(v[8:], account)
	_ = b.Set(append([]byte("tok/"), hash[:]...), v[:], nil)
	var t [40]byte
	copy(t[:32], hash[:])
	binary.BigEndian.PutUint64(t[32:], account)
	_ = b.Set(binary.BigEndian.AppendUint64([]byte("tid/"), id), t[:], nil)
	_ = b.Set([]byte("seq/token"), v[:8], nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("server: metadata store: %w", err)
	}
	return id, nil
}

// deleteToken removes token id.
func (s *store) deleteToken(rec tokenRec) error {
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Delete(append([]byte("tok/"), rec.hash[:]...), nil)
	_ = b.Delete(binary.BigEndian.AppendUint64([]byte("tid/"), rec.id), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("server: metadata store: %w", err)
	}
	return nil
}

// tokens lists every stored token.
func (s *store) tokens() ([]tokenRec, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte("tid/"), UpperBound: []byte("tid0")})
	if err != nil {
		return nil, fmt.Errorf("server: metadata store: %w", err)
	}
	var out []tokenRec
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != 12 || len(v) != 40 {
			it.Close()
			return nil, fmt.Errorf("server: metadata store: bad token record %q", k)
		}
		var r tokenRec
		r.id = binary.BigEndian.Uint64(k[4:])
		copy(r.hash[:], v[:32])
		r.account = binary.BigEndian.Uint64(v[32:])
		out = append(out, r)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("server: metadata store: %w", err)
	}
	return out, nil
}

// checkpoint writes a consistent copy of the store to dir.
func (s *store) checkpoint(dir string) error {
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("server: metadata store checkpoint: %w", err)
	}
	return nil
}

// pebbleLogger sends Pebble's logs to zerolog (informational ones at debug
// level).
type pebbleLogger struct{ l *zerolog.Logger }

// Infof implements pebble.Logger.
func (p pebbleLogger) Infof(format string, args ...any) { p.l.Debug().Msgf(format, args...) }

// Errorf implements pebble.Logger.
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Error().Msgf(format, args...) }

// Fatalf implements pebble.Logger.
func (p pebbleLogger) Fatalf(format string, args ...any) { p.l.Fatal().Msgf(format, args...) }
