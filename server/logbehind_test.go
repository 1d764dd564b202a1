package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A log that ends before the order history saved from it has lost
// acknowledged commands: Open refuses to start with ErrLogBehind, unless
// AcceptLogLoss. (Before, it started with a warning: the engine resumed
// from the log's end and gave new orders the ids of lost ones that the
// history still showed.)
func TestOpenRefusesLogBehindHistory(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1})
	alice, bob := ts.setup()
	var last map[string]any
	for range 50 {
		last = ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	}
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	crashStop(ts) // no final snapshot: the commands are in Pebble's log file

	// Only the metadata store, as a backup cut short before its log.
	storeOnly := filepath.Join(t.TempDir(), "d")
	copyTree(t, filepath.Join(dir, "server"), filepath.Join(storeOnly, "server"))
	// The log file cut in half, where Pebble reads it as its end.
	cut := filepath.Join(t.TempDir(), "d")
	copyTree(t, dir, cut)
	logs, _ := filepath.Glob(filepath.Join(cut, "log", "*.log"))
	var cutOne bool
	for _, f := range logs {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 4096 {
			if err := os.Truncate(f, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			cutOne = true
		}
	}
	if !cutOne {
		t.Fatalf("no log file of the commands in %v", logs)
	}

	for name, d := range map[string]string{"store only": storeOnly, "log cut short": cut} {
		nop := zerolog.Nop()
		s, err := Open(&Options{DataDir: d, AdminToken: adminTok, Logger: &nop})
		if err == nil {
			s.Close()
			t.Fatalf("%s: Open started", name)
		}
		if !errors.Is(err, ErrLogBehind) || !strings.Contains(err.Error(), "the log ends at") {
			t.Fatalf("%s: %v, want ErrLogBehind", name, err)
		}
		var logs syncBuffer
		lg := zerolog.New(&logs)
		ts2 := start(t, d, &Options{AdminToken: adminTok, AcceptLogLoss: true, Logger: &lg})
		if !strings.Contains(logs.String(), "order history is ahead of the engine") {
			t.Fatalf("%s: started with AcceptLogLoss without the warning:\n%s", name, logs.String())
		}
		// New orders take ids of lost ones: each account lists its own
		// orders only, ascending, once each.
		if name == "log cut short" {
			for range 5 {
				ts2.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1000","quantity":"0.01"}`)
			}
			for _, who := range []string{alice, bob} {
				me := ts2.must(200, "GET", "/v1/account", who, "")["id"]
				var prev float64
				for _, o := range ts2.must(200, "GET", "/v1/orders?limit=1000", who, "")["orders"].([]any) {
					o := o.(map[string]any)
					if o["account_id"] != me || o["id"].(float64) <= prev {
						t.Fatalf("%s: account %v lists %v after id %v", name, me, o, prev)
					}
					prev = o["id"].(float64)
				}
			}
		}
		ts2.stop()
	}
	// The whole directory starts as it is, the last order there.
	ts3 := start(t, dir, &Options{AdminToken: adminTok})
	if o := ts3.must(200, "GET", "/v1/orders/"+id(last), alice, ""); o["status"] != "filled" {
		t.Fatalf("the last sell after the restart: %v", o)
	}
}

// copyTree copies the directory src to dst (which must not exist).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
