package server

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestCrashChild is the server process of TestCrash: it serves the data
// directory of $IST_CRASH_DIR on $IST_CRASH_ADDR until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("IST_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop, HistoryInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", os.Getenv("IST_CRASH_ADDR"))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(ln) // until SIGKILL
}

// TestCrash kills a server process with SIGKILL after acknowledged writes
// and checks that a new server on the same directory has every one of
// them, and that the order history, never saved by the killed process, is
// rebuilt from the log at start-up.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "IST_CRASH_DIR="+dir, "IST_CRASH_ADDR="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ts := &testServer{t: t, dir: dir, base: "http://" + addr, c: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	for i := 0; ; i++ {
		resp, err := ts.c.Get(ts.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 500 {
			t.Fatal("child never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	alice, bob := ts.setup()
	var ids []string
	for i := range 20 {
		out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.01"}`, 65000+i))
		ids = append(ids, id(out))
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	want := ts.balances(alice)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ts.c.CloseIdleConnections()

	ts2 := start(t, dir, nil)
	if got := ts2.balances(alice); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after crash %v, want %v", got, want)
	}
	// The history was rebuilt from the log: the first order shows as
	// filled, the others rest and can be cancelled.
	if o := ts2.must(200, "GET", "/v1/orders/"+ids[0], alice, ""); o["status"] != "filled" {
		t.Fatalf("order %s after the crash: %v", ids[0], o)
	}
	// So were the public trades and candles.
	if tr := ts2.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"].([]any); len(tr) != 1 ||
		tr[0].(map[string]any)["price"] != "65000" || tr[0].(map[string]any)["side"] != "buy" {
		t.Fatalf("trades after the crash: %v", tr)
	}
	if cs := ts2.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1h", "", "")["candles"].([]any); len(cs) != 1 ||
		cs[0].(map[string]any)["volume"] != "0.01" {
		t.Fatalf("candles after the crash: %v", cs)
	}
	for _, oid := range ids[1:] {
		if c := ts2.must(200, "DELETE", "/v1/orders/"+oid, alice, ""); c["status"] != "cancelled" {
			t.Fatalf("cancel %s: %v", oid, c)
		}
	}
	if got := ts2.balances(alice); got["BTC"] != "1.99/0" {
		t.Fatalf("after cancels %v", got)
	}
}
