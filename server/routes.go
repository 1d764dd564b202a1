package server

import (
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Handler returns the server's HTTP handler (for tests and embedding; Serve
// uses it).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// handle routes a request, then records its metrics and log line. Tokens
// are never logged.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	route := s.route(ctx)
	d := time.Since(start)
	code := ctx.Response.StatusCode()
	s.met.request(route, code, d)
	s.log.Info().Uint64("req", ctx.ID()).Bytes("method", ctx.Method()).Str("route", route).
		Int("status", code).Dur("latency", d).Msg("request")
}

// route dispatches the request and returns its route pattern, the
// handler label of the metrics.
func (s *Server) route(ctx *fasthttp.RequestCtx) string {
	// p views the request's buffer without a copy: valid while the
	// request is served, never kept. A route label must outlive it (a new
	// label value is kept by the metrics), so a fixed path is swapped for
	// its constant.
	path := ctx.Path()
	p := unsafe.String(unsafe.SliceData(path), len(path))
	if c, ok := fixedRoutes[p]; ok {
		p = c
	}
	m := method(ctx.Method())
	if len(ctx.Request.Body()) > s.opts.MaxBodySize && p != "/v1/orders/batch" {
		writeError(ctx, errTooLarge)
		return "too_large"
	}
	if s.rateLimited(ctx, p) {
		return "rate_limited"
	}
	switch p {
	case "/healthz":
		return s.only(ctx, m, "GET", p, s.healthz)
	case "/readyz":
		return s.only(ctx, m, "GET", p, s.readyz)
	case "/metrics":
		return s.only(ctx, m, "GET", p, s.metricsHandler())
	case "/v1/openapi.json":
		return s.only(ctx, m, "GET", p, serveOpenAPI)
	case "/v1/accounts":
		return s.only(ctx, m, "POST", p, s.signup)
	case "/v1/account":
		return s.only(ctx, m, "GET", p, s.getAccount)
	case "/v1/tokens":
		return s.only(ctx, m, "POST", p, s.newToken)
	case "/v1/withdrawals":
		return s.only(ctx, m, "POST", p, s.withdraw)
	case "/v1/admin/markets":
		return s.only(ctx, m, "POST", p, s.createMarket)
	case "/v1/admin/deposits":
		return s.only(ctx, m, "POST", p, s.deposit)
	case "/v1/admin/accounts":
		return s.only(ctx, m, "GET", p, s.listAccounts)
	case "/v1/admin/backup":
		return s.only(ctx, m, "POST", p, s.backup)
	case "/v1/orders":
		switch m {
		case "POST":
			s.placeOrder(ctx)
		case "GET":
			s.listOrders(ctx)
		case "DELETE":
			s.cancelAll(ctx)
		default:
			methodNotAllowed(ctx)
		}
		return p
	case "/v1/orders/batch":
		return s.only(ctx, m, "POST", p, s.placeBatch)
	case "/v1/fills":
		return s.only(ctx, m, "GET", p, s.listFills)
	case "/v1/markets":
		return s.only(ctx, m, "GET", p, s.listMarkets)
	case "/v1/stream":
		return s.only(ctx, m, "GET", p, s.stream)
	}
	if rest, ok := strings.CutPrefix(p, "/v1/orders/"); ok && rest != "" && !strings.Contains(rest, "/") {
		const r = "/v1/orders/{id}"
		id, err := parseID(rest)
		if err != nil {
			writeError(ctx, err)
			return r
		}
		switch m {
		case "GET":
			s.getOrder(ctx, id)
		case "DELETE":
			s.cancelOrder(ctx, id)
		case "PATCH":
			s.amendOrder(ctx, id)
		default:
			methodNotAllowed(ctx)
		}
		return r
	}
	if rest, ok := strings.CutPrefix(p, "/v1/tokens/"); ok && rest != "" && !strings.Contains(rest, "/") {
		const r = "/v1/tokens/{id}"
		id, err := parseID(rest)
		if err != nil {
			writeError(ctx, err)
			return r
		}
		if m != "DELETE" {
			methodNotAllowed(ctx)
			return r
		}
		s.revoke(ctx, id)
		return r
	}
	if rest, ok := strings.CutPrefix(p, "/v1/markets/"); ok {
		if sym, ok := strings.CutSuffix(rest, "/book"); ok && sym != "" && !strings.Contains(sym, "/") {
			const r = "/v1/markets/{symbol}/book"
			return s.only(ctx, m, "GET", r, func(ctx *fasthttp.RequestCtx) { s.getBook(ctx, sym) })
		}
		if sym, ok := strings.CutSuffix(rest, "/trades"); ok && sym != "" && !strings.Contains(sym, "/") {
			const r = "/v1/markets/{symbol}/trades"
			return s.only(ctx, m, "GET", r, func(ctx *fasthttp.RequestCtx) { s.getTrades(ctx, sym) })
		}
		if sym, ok := strings.CutSuffix(rest, "/candles"); ok && sym != "" && !strings.Contains(sym, "/") {
			const r = "/v1/markets/{symbol}/candles"
			return s.only(ctx, m, "GET", r, func(ctx *fasthttp.RequestCtx) { s.getCandles(ctx, sym) })
		}
		if sym, ok := strings.CutSuffix(rest, "/ticker"); ok && sym != "" && !strings.Contains(sym, "/") {
			const r = "/v1/markets/{symbol}/ticker"
			return s.only(ctx, m, "GET", r, func(ctx *fasthttp.RequestCtx) { s.getTicker(ctx, sym) })
		}
	}
	if rest, ok := strings.CutPrefix(p, "/v1/admin/markets/"); ok {
		for _, op := range []string{"/halt", "/resume"} {
			if sym, ok := strings.CutSuffix(rest, op); ok && sym != "" && !strings.Contains(sym, "/") {
				r := "/v1/admin/markets/{symbol}" + op
				return s.only(ctx, m, "POST", r, func(ctx *fasthttp.RequestCtx) { s.haltMarket(ctx, sym, op == "/halt") })
			}
		}
	}
	if r, ok := s.routeSocial(ctx, m, p); ok { // social.go
		return r
	}
	writeError(ctx, fmt.Errorf("%w: no route %s %s", errNotFound, m, p))
	return "unknown"
}

// fixedRoutes maps each fixed path to itself, as a constant.
var fixedRoutes = func() map[string]string {
	m := map[string]string{}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/v1/accounts",
		"/v1/account", "/v1/tokens", "/v1/withdrawals", "/v1/admin/markets", "/v1/admin/deposits",
		"/v1/admin/accounts", "/v1/admin/backup", "/v1/orders", "/v1/orders/batch", "/v1/fills",
		"/v1/markets", "/v1/stream", "/v1/social/leader", "/v1/social/leaders", "/v1/social/followers",
		"/v1/admin/settle", "/v1/social/follows"} {
		m[p] = p
	}
	return m
}()

// only runs h if the method is want, else answers 405.
func (s *Server) only(ctx *fasthttp.RequestCtx, method, want, route string, h fasthttp.RequestHandler) string {
	if method != want {
		methodNotAllowed(ctx)
		return route
	}
	h(ctx)
	return route
}

func methodNotAllowed(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusMethodNotAllowed,
		[]byte(`{"error":{"code":"method_not_allowed","message":"method not allowed on this path"}}`))
}

func (s *Server) metricsHandler() fasthttp.RequestHandler {
	return s.metricsH
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, 200, []byte(`{"status":"ok"}`))
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	if !s.ready.Load() || s.eng.Err() != nil {
		writeError(ctx, errUnavailable)
		return
	}
	writeJSON(ctx, 200, []byte(`{"status":"ready"}`))
}

// parseID parses a decimal id of a path or query.
func parseID(s string) (uint64, error) {
	var v uint64
	if s == "" || len(s) > 16 {
		return 0, fmt.Errorf("%w: bad id %q", errInvalid, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: bad id %q", errInvalid, s)
		}
		v = v*10 + uint64(c-'0')
	}
	return v, nil
}

// queryUint reads an optional unsigned query parameter.
func queryUint(ctx *fasthttp.RequestCtx, key string, def uint64) (uint64, error) {
	b := ctx.QueryArgs().Peek(key)
	if len(b) == 0 {
		return def, nil
	}
	v, err := parseID(string(b))
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer", errInvalid, key)
	}
	return v, nil
}

// method returns the request method as a constant string (no allocation
// for the usual ones).
func method(b []byte) string {
	switch string(b) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "PUT":
		return "PUT"
	}
	return string(b)
}
