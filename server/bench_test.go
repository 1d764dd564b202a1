package server

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// call runs one request through the handler in memory.
func call(s *Server, ctx *fasthttp.RequestCtx, method, path, token, body string) int {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if token != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+token)
	}
	ctx.Request.SetBodyString(body)
	s.handle(ctx)
	return ctx.Response.StatusCode()
}

// BenchmarkPlaceCancel places a resting order and cancels it, through the
// handler (no network) and the durable log: without rate limits, and with
// limits too high to refuse anything (the limiter's token look-up, which
// the handler reuses, and its bucket).
func BenchmarkPlaceCancel(b *testing.B) {
	b.Run("limit=off", func(b *testing.B) { benchPlaceCancel(b, -1) })
	b.Run("limit=on", func(b *testing.B) { benchPlaceCancel(b, 1e12) })
}

func benchPlaceCancel(b *testing.B, rate float64) {
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: b.TempDir(), AdminToken: adminTok, Logger: &nop, RateLimit: rate, RateBurst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	call(s, &ctx, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001"}`)
	call(s, &ctx, "POST", "/v1/accounts", "", `{"name":"alice"}`)
	tok := string(ctx.Response.Body()[len(`{"id":1,"name":"alice","token":"`):][:47])
	call(s, &ctx, "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"1000","ref":"d"}`)
	const body = `{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000.5","quantity":"0.5"}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := call(s, &ctx, "POST", "/v1/orders", tok, body); c != 201 {
			b.Fatalf("place: %d %s", c, ctx.Response.Body())
		}
		if c := call(s, &ctx, "DELETE", fmt.Sprint("/v1/orders/", i+1), tok, ""); c != 200 {
			b.Fatalf("cancel: %d %s", c, ctx.Response.Body())
		}
	}
}

var sink []byte

// handlerAllocs returns the allocations per request made on the request
// goroutine inside Server.handle (not the engine's goroutines, not the
// caller), over n requests made by do, from a heap profile of every
// allocation.
func handlerAllocs(t *testing.T, n int, do func(i int)) float64 {
	t.Helper()
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	// Each P samples its next allocation at a point drawn with the old
	// rate: allocate past it on every P before counting.
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1 << 17 {
				sink = make([]byte, 64)
			}
		}()
	}
	wg.Wait()
	count := func() int64 {
		runtime.GC()
		runtime.GC()
		recs := make([]runtime.MemProfileRecord, 4096)
		k, ok := runtime.MemProfile(recs, true)
		for !ok {
			recs = make([]runtime.MemProfileRecord, k+1024)
			k, ok = runtime.MemProfile(recs, true)
		}
		var total int64
		for _, r := range recs[:k] {
			frames := runtime.CallersFrames(r.Stack())
			for {
				f, more := frames.Next()
				if strings.HasSuffix(f.Function, "server.(*Server).handle") {
					total += r.AllocObjects
					if os.Getenv("IST_ALLOC_DEBUG") != "" {
						fr := runtime.CallersFrames(r.Stack())
						for g, more := fr.Next(); more; g, more = fr.Next() {
							t.Logf("%d %s:%d", r.AllocObjects, g.Function, g.Line)
						}
					}
					break
				}
				if !more {
					break
				}
			}
		}
		return total
	}
	before := count()
	for i := range n {
		do(i)
	}
	after := count()
	t.Logf("allocations inside the handler: %d before, %d after %d requests", before, after, n)
	return float64(after-before) / float64(n)
}

// An order request allocates at most 2 objects inside the handler (the
// issue's target): a place allocates one, the client order id's string
// kept in the history; a cancel none. So with rate limits on: the token
// the limiter looks up is kept on the request without allocating.
// IST_ALLOC_DEBUG=1 logs the stacks.
func TestOrderHandlerAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a full, race-free run")
	}
	t.Run("limit=off", func(t *testing.T) { orderHandlerAllocs(t, -1) })
	t.Run("limit=on", func(t *testing.T) { orderHandlerAllocs(t, 1e12) })
}

func orderHandlerAllocs(t *testing.T, rate float64) {
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: t.TempDir(), AdminToken: adminTok, Logger: &nop, RateLimit: rate, RateBurst: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	call(s, &ctx, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001"}`)
	call(s, &ctx, "POST", "/v1/accounts", "", `{"name":"alice"}`)
	tok := string(ctx.Response.Body()[len(`{"id":1,"name":"alice","token":"`):][:47])
	call(s, &ctx, "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"1000","ref":"d"}`)
	// Each order has its own client order id (one allocation: its string
	// in the history), longer than 16 bytes: the heap profile sees tiny
	// allocations only per 16-byte block.
	const n = 2000
	bodies, paths := make([]string, n+200), make([]string, n+200)
	for i := range bodies {
		bodies[i] = fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000.5","quantity":"0.5","client_order_id":"client-order-%012d"}`, i)
		paths[i] = fmt.Sprint("/v1/orders/", i+1)
	}
	for i := range 200 { // warm up pools and maps
		call(s, &ctx, "POST", "/v1/orders", tok, bodies[i])
		call(s, &ctx, "DELETE", paths[i], tok, "")
	}
	place := handlerAllocs(t, n, func(i int) {
		if c := call(s, &ctx, "POST", "/v1/orders", tok, bodies[200+i]); c != 201 {
			t.Fatalf("place: %d %s", c, ctx.Response.Body())
		}
		if c := call(s, &ctx, "DELETE", paths[200+i], tok, ""); c != 200 {
			t.Fatalf("cancel: %d %s", c, ctx.Response.Body())
		}
	})
	t.Logf("place+cancel: %.2f allocations per pair inside the handler", place)
	if place > 2 {
		t.Fatalf("%.2f allocations per place+cancel pair inside the handler, want ≤ 2", place)
	}
}
