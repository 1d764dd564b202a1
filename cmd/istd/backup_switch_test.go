package main

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

// An offline backup of a directory holding a dead man's switch whose
// deadline passed while istd was down does not fire it: the backup tool
// cancels nobody's orders in the directory it copies (nor in the copy),
// and the switch stays stored for istd's next start. (It used to open
// the directory with the switches armed, so the passed deadline fired
// from the backup tool, writing cancels into the source directory while
// it was being copied.)
func TestBackupOfflineKeepsSwitches(t *testing.T) {
	const tok = "backup-admin-token"
	dir := filepath.Join(t.TempDir(), "data")
	s, addr := serveKeepAll(t, dir, tok)
	mustCall(t, addr, 201, "POST", "/v1/admin/markets", tok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1"}`)
	a := mustCall(t, addr, 201, "POST", "/v1/accounts", "", `{"name":"maker"}`)
	maker := a["token"].(string)
	mustCall(t, addr, 201, "POST", "/v1/admin/deposits", tok,
		fmt.Sprintf(`{"account_id":%.0f,"asset":"BTC","amount":"1","ref":"btc"}`, a["id"].(float64)))
	mustCall(t, addr, 201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1"}`)
	mustCall(t, addr, 200, "POST", "/v1/orders/cancel-all-after", maker, `{"timeout_ms":1000}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // the deadline passes while istd is down

	bdir := filepath.Join(t.TempDir(), "backup")
	if err := run([]string{"backup", "--to", bdir, "--data-dir", dir}, &nopWriter{}); err != nil {
		t.Fatalf("offline backup: %v", err)
	}
	for _, d := range []string{dir, bdir} {
		nop := zerolog.Nop()
		s, err := server.Open(&server.Options{DataDir: d, AdminToken: tok, Logger: &nop, KeepSwitches: true})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(ln)
		open := len(mustCall(t, ln.Addr().String(), 200, "GET", "/v1/orders?status=open", maker, "")["orders"].([]any))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if open != 1 {
			t.Errorf("%s after the offline backup: %d open orders, want 1", d, open)
		}
	}
	// istd's next start fires it.
	s, addr = serveKeepAll(t, dir, tok)
	defer s.Close()
	for i := 0; ; i++ {
		if len(mustCall(t, addr, 200, "GET", "/v1/orders?status=open", maker, "")["orders"].([]any)) == 0 {
			break
		}
		if i > 500 {
			t.Fatal("istd's start did not fire the passed deadline")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
