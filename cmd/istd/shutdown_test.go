package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/wal"
	"github.com/rs/zerolog"
)

// TestShutdownSnapshotAfterDrain stops istd while a request is still
// arriving (its body cut short), so that the drain takes the whole
// shutdown timeout: istd still stops without an error, and its final
// snapshot covers the whole log. (Before, the drain's expired context
// ended the wait for the snapshot, and istd exited reporting it failed.)
func TestShutdownSnapshotAfterDrain(t *testing.T) {
	old := shutdownTimeout
	shutdownTimeout = 300 * time.Millisecond
	t.Cleanup(func() { shutdownTimeout = old })
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"--data-dir", dir, "--listen", addr, "--admin-token", "secret",
			"--log-level", "error", "--settle-interval", "0"}, io.Discard)
	}()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 500 {
			t.Fatal("istd never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustCall(t, addr, 201, "POST", "/v1/admin/markets", "secret",
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	mustCall(t, addr, 201, "POST", "/v1/accounts", "", `{"name":"alice"}`)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/accounts HTTP/1.1\r\nHost: istd\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
	time.Sleep(100 * time.Millisecond) // the server is reading the body
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("istd did not stop on SIGTERM")
	}
	if err != nil {
		t.Fatalf("istd exited with %q", err)
	}
	st, serr := logBounds(dir)
	if serr != nil {
		t.Fatal(serr)
	}
	if len(st.Snapshots) == 0 || st.Snapshots[0] < max(st.LastSeq, 3) {
		t.Fatalf("log up to %d, snapshots %v: the final snapshot does not cover it", st.LastSeq, st.Snapshots)
	}
}

// logBounds reads the bounds of the log of dataDir and its snapshots
// (wal.Log.Stats), holding the data directory's lock (that of
// DATA/server, which istd takes first) meanwhile.
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
