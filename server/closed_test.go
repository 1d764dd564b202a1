package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// After Close, an embedded Server refuses the calls that would use what
// it closed: Backup, Settle and Serve return ErrClosed (Serve at once,
// closing its listener). (Before, Backup could reach the closed metadata
// store and panic, Serve served requests on the closed engine, and Settle
// returned the engine's error.) Its handler answers 503.
func TestClosedServer(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	if err := ts.s.Close(); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(t.TempDir(), "b")
	if err := ts.s.Backup(bdir); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(bdir); !os.IsNotExist(err) {
		t.Fatalf("Backup after Close wrote %s: %v", bdir, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ts.s.Serve(ln) }()
	select {
	case err := <-served:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		ln.Close()
		t.Fatal("Serve after Close is serving")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener given to Serve after Close still accepts connections")
	}
	if err := ts.s.Settle(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Settle after Close: %v, want ErrClosed", err)
	}
	// The handler, as an embedding program holds it: 503 unavailable for
	// every route, never the closed engine or store (the store's reads
	// panicked: a 500 and an error log line per request).
	h := ts.s.Handler()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/markets", ""},
		{"GET", "/v1/account", ""},
		{"GET", "/v1/orders", ""},
		{"POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","type":"limit","price":"100","quantity":"1"}`},
		{"GET", "/readyz", ""},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(r.method)
		ctx.Request.SetRequestURI(r.path)
		ctx.Request.Header.Set("Authorization", "Bearer "+adminTok)
		ctx.Request.SetBodyString(r.body)
		h(&ctx)
		if code := ctx.Response.StatusCode(); code != 503 || !bytes.Contains(ctx.Response.Body(), []byte("unavailable")) {
			t.Fatalf("%s %s after Close: %d %s", r.method, r.path, code, ctx.Response.Body())
		}
	}
	if err := ts.s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// A Serve that starts while Shutdown runs returns: Shutdown closes its
// listener even if the HTTP server had not taken it yet.
func TestServeRacingShutdown(t *testing.T) {
	for i := range 10 {
		nop := zerolog.Nop()
		s, err := Open(&Options{DataDir: t.TempDir(), AdminToken: adminTok, Logger: &nop})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		if i%2 == 0 {
			time.Sleep(time.Duration(i) * time.Millisecond)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			ln.Close()
			t.Fatalf("round %d: Serve still serving after Close", i)
		}
	}
}
