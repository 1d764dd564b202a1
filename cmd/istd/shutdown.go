package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/server"
	"github.com/instant-social-trading/ist/wal"
	"github.com/rs/zerolog"
)

// shutdownTimeout bounds server.Server.Shutdown: the drain of the
// requests in flight and the final snapshot share it (one context).
// A variable for tests.
var shutdownTimeout = 30 * time.Second

// finalSnapshotPrefix begins the part of server.Server.Shutdown's error
// that reports its final snapshot failed.
const finalSnapshotPrefix = "server: final snapshot:"

// shutdown stops s (serving dataDir) within shutdownTimeout, logs how it
// went and returns the error istd exits with.
//
// Shutdown gives one context to the drain and to the final snapshot: a
// drain that takes the whole time leaves the snapshot an expired context,
// and Shutdown reports it failed even when the engine, closing, wrote it.
// So a reported failure of the final snapshot is checked against the
// data directory once it is released (logBounds): if a snapshot
// covers the whole log, it is no error (the state is saved; a start
// replays nothing); if not, the error stays, and the log says what the
// next start replays. Either way no command is lost: the log holds them.
func shutdown(s *server.Server, dataDir string, log *zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.Shutdown(ctx)
	if err != nil {
		err = dropSavedSnapshot(err, dataDir, log)
	}
	if err != nil {
		log.Error().Err(err).Msg("stopped, with errors")
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

// dropSavedSnapshot returns err, Shutdown's error, without the part that
// reports the final snapshot failed if a snapshot covers the whole log
// of dataDir after all.
func dropSavedSnapshot(err error, dataDir string, log *zerolog.Logger) error {
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	keep := parts[:0:0]
	for _, p := range parts {
		if !strings.HasPrefix(p.Error(), finalSnapshotPrefix) {
			keep = append(keep, p)
			continue
		}
		st, serr := logBounds(dataDir)
		switch {
		case serr != nil:
			log.Warn().Err(serr).Msg("could not read the log to check the final snapshot")
			keep = append(keep, p)
		case len(st.Snapshots) > 0 && st.Snapshots[0] >= st.LastSeq:
			log.Info().Uint64("snapshot_seq", st.Snapshots[0]).AnErr("reported", p).
				Msg("final snapshot saved after all: it covers the whole log (the shutdown's deadline only cut the wait for it short)")
		default:
			var snap uint64
			if len(st.Snapshots) > 0 {
				snap = st.Snapshots[0]
			}
			log.Warn().Uint64("snapshot_seq", snap).Uint64("last_seq", st.LastSeq).
				Msg("no snapshot covers the whole log: the next start replays the commands after snapshot_seq (none is lost)")
			keep = append(keep, p)
		}
	}
	return errors.Join(keep...)
}

// logBounds reads the bounds of the log of dataDir and its snapshots
// (wal.Log.Stats), holding the data directory's lock (that of
// DATA/server, which istd takes first) meanwhile. It fails if another
// istd holds it already.
func logBounds(dataDir string) (wal.Stats, error) {
	lock, err := pebble.LockDirectory(filepath.Join(dataDir, "server"), vfs.Default)
	if err != nil {
		return wal.Stats{}, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	defer lock.Close()
	nop := zerolog.Nop()
	l, err := wal.Open(dataDir, &wal.Options{Logger: &nop})
	if err != nil {
		return wal.Stats{}, err
	}
	st, err := l.Stats()
	return st, errors.Join(err, l.Close())
}
