package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunSignalBackup starts istd from its environment, checks that the
// admin token is printed once, stops it with SIGTERM, takes an offline
// backup and starts again from the backup.
func TestRunSignalBackup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	t.Setenv("IST_DATA_DIR", dir)
	t.Setenv("IST_LISTEN", addr)
	runOnce := func(wantToken bool) {
		var out syncBuf
		done := make(chan error, 1)
		go func() { done <- run(nil, &out) }()
		ready := false
		for i := 0; i < 200 && !ready; i++ {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ready = resp.StatusCode == 200
			}
			if !ready {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if !ready {
			t.Fatal("istd never became ready")
		}
		if got := strings.Contains(out.String(), "admin token"); got != wantToken {
			t.Fatalf("admin token printed: %v, want %v (%q)", got, wantToken, out.String())
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("istd did not stop on SIGTERM")
		}
	}
	runOnce(true)
	runOnce(false) // the hashed token is reused

	bdir := filepath.Join(t.TempDir(), "backup")
	var out bytes.Buffer
	if err := run([]string{"backup", "--to", bdir}, &out); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"log", "snapshots", "server"} {
		if _, err := os.Stat(filepath.Join(bdir, sub)); err != nil {
			t.Fatalf("backup lacks %s: %v", sub, err)
		}
	}
	if err := run([]string{"backup"}, &out); err == nil {
		t.Fatal("backup without --to succeeded")
	}
	t.Setenv("IST_DATA_DIR", bdir)
	runOnce(false)
}

// TestDemo starts istd with --demo on a fresh directory: two markets with
// resting orders and two funded accounts appear; a second start adds
// nothing.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	start := func() (*syncBuf, chan error) {
		var out syncBuf
		done := make(chan error, 1)
		go func() {
			done <- run([]string{"--demo", "--data-dir", dir, "--listen", addr, "--admin-token", "secret", "--log-level", "error"}, &out)
		}()
		for i := 0; i < 400; i++ {
			if strings.Contains(out.String(), "demo:") {
				return &out, done
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("no demo output: %q", out.String())
		return nil, nil
	}
	out, done := start()
	if !strings.Contains(out.String(), "demo account demo-bob") {
		t.Fatalf("output %q", out.String())
	}
	// The book view follows the demo's orders within a view interval.
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v1/markets/BTC-USDT/book")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"64990"`) && strings.Contains(string(b), `"65010"`) {
			break
		}
		if i > 200 {
			t.Fatalf("demo book %s", b)
		}
		time.Sleep(25 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out, done = start()
	if !strings.Contains(out.String(), "nothing added") {
		t.Fatalf("second start: %q", out.String())
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
