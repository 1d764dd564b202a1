package main

import (
	"context"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/server"
	"github.com/rs/zerolog"
)

func TestSettleFlag(t *testing.T) {
	parse := func(args ...string) (time.Duration, error) {
		fs := flag.NewFlagSet("istd", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := addSettleFlag(fs)
		if err := fs.Parse(args); err != nil {
			return 0, err
		}
		return f.interval()
	}
	if d, err := parse(); err != nil || d != time.Hour {
		t.Fatalf("default: %v %v", d, err)
	}
	t.Setenv("IST_SETTLE_INTERVAL", "15m")
	if d, err := parse(); err != nil || d != 15*time.Minute {
		t.Fatalf("env: %v %v", d, err)
	}
	if d, err := parse("--settle-interval=0"); err != nil || d != 0 {
		t.Fatalf("flag over env: %v %v", d, err)
	}
	t.Setenv("IST_SETTLE_INTERVAL", "soon")
	if _, err := parse(); err == nil {
		t.Fatal("bad IST_SETTLE_INTERVAL accepted")
	}
	if d, err := parse("--settle-interval=2h"); err != nil || d != 2*time.Hour {
		t.Fatalf("flag over a bad env: %v %v", d, err)
	}
	if _, err := parse("--settle-interval=-1s"); err == nil {
		t.Fatal("negative interval accepted")
	}
}

func TestSettleLoop(t *testing.T) {
	nop := zerolog.Nop()
	s, err := server.Open(&server.Options{DataDir: t.TempDir(), AdminToken: "x", Logger: &nop})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	startSettle(s, 0, &nop)() // disabled: nothing runs
	stop := startSettle(s, 5*time.Millisecond, &nop)
	time.Sleep(30 * time.Millisecond)
	stop()
}
