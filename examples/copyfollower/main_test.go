package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

// The example runs against an in-process istd: the followers' mirrored
// fills and the leaderboard are printed.
func TestRun(t *testing.T) {
	nop := zerolog.Nop()
	s, err := server.Open(&server.Options{DataDir: t.TempDir(), AdminToken: "example-admin", Logger: &nop})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 2 { // a second run reuses the market
		var out bytes.Buffer
		if err := run(ctx, "http://"+ln.Addr().String(), "example-admin", &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
		got := out.String()
		t.Log(got)
		wants := []string{"mirrored fill: buy", "mirrored fill: sell 2.5 CPY-USDT @ 19.5", "mirrored fill: sell 12.5 CPY-USDT @ 19.5",
			"wallet CPY 2.5", "wallet CPY 12.5", "leaderboard", "#1 Example leader", "#2 Example leader"}
		if i == 0 { // one leader fill: one mirror each (the second run's leader takes two price levels' orders)
			wants = append(wants[:0:0], "mirrored fill: buy 5 CPY-USDT @ 20", "mirrored fill: buy 25 CPY-USDT @ 20", "#1 Example leader")
		}
		for _, want := range wants {
			if !strings.Contains(got, want) {
				t.Errorf("run %d: no %q in\n%s", i, want, got)
			}
		}
		if (i == 0) != strings.Contains(got, "created market") {
			t.Errorf("run %d: market creation\n%s", i, got)
		}
	}
}
