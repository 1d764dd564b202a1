package server

import (
	"fmt"
	"net"
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
// handler (no network) and the durable log.
func BenchmarkPlaceCancel(b *testing.B) {
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: b.TempDir(), AdminToken: adminTok, Logger: &nop})
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
