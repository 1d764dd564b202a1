package server

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Handler returns the server's HTTP handler (for tests and embedding; Serve
// uses it). Once Shutdown has drained the requests in flight, it answers
// every request 503 unavailable.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// requestIDHeader carries a request's id: the client's, when it sends a
// usable one, else one istd makes; the answer always has it, and so does
// the request's log line.
const requestIDHeader = "X-Request-Id"

// handle routes a request, then records its metrics and log line. Tokens
// are never logged.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	var buf [32]byte
	rid := s.requestID(ctx, buf[:0])
	ctx.Response.Header.SetBytesV(requestIDHeader, rid)
	route := "panic"
	defer s.done(ctx, rid, &route, start)
	if s.drained.Load() {
		route = "closed"
		writeError(ctx, errUnavailable)
		return
	}
	route = s.route(ctx)
}

// done ends a request (deferred by handle): it answers 500 for a handler
// that panicked, logging the panic and its stack instead of letting it end
// the process, and records the request's metrics and log line. An answer
// of 500 or more is logged at error level with its message.
func (s *Server) done(ctx *fasthttp.RequestCtx, rid []byte, route *string, start time.Time) {
	if p := recover(); p != nil {
		s.log.Error().Bytes("req", rid).Str("route", *route).Str("panic", fmt.Sprint(p)).
			Bytes("stack", debug.Stack()).Msg("handler panicked")
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesV(requestIDHeader, rid)
		writeError(ctx, errInternal)
	}
	d := time.Since(start)
	code := ctx.Response.StatusCode()
	s.met.request(*route, code, d)
	ev := s.log.Info()
	if code >= 500 {
		ev = s.log.Error().Bytes("answer", ctx.Response.Body())
	}
	ev.Bytes("req", rid).Bytes("method", ctx.Method()).Str("route", *route).
		Int("status", code).Dur("latency", d).Msg("request")
}

// requestID appends to dst and returns the id of the request: the
// client's X-Request-Id if it is 1 to 64 letters, digits and "._:-",
// else this process's boot id and the request's number.
func (s *Server) requestID(ctx *fasthttp.RequestCtx, dst []byte) []byte {
	if id := ctx.Request.Header.Peek(requestIDHeader); validRequestID(id) {
		return id // valid while the request is served
	}
	dst = append(dst, s.bootID[:]...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, s.requests.Add(1), 16)
}

// validRequestID reports whether a client's request id may be echoed and
// logged as it is.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
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
	fr := fixedRoutes[p]
	if fr != nil {
		p = fr.path
	}
	m := method(ctx.Method())
	if len(ctx.Request.Body()) > s.opts.MaxBodySize && p != "/v1/orders/batch" {
		writeError(ctx, errTooLarge)
		return "too_large"
	}
	if s.rateLimited(ctx, p) {
		return "rate_limited"
	}
	if fr != nil {
		if h := fr.handler(m); h != nil {
			h(s, ctx)
		} else {
			methodNotAllowed(ctx, fr.allow)
		}
		return p
	}
	// Inline rather than with segment (a call): the path of cancel and amend.
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
			methodNotAllowed(ctx, "GET, PATCH, DELETE")
		}
		return r
	}
	if rest, ok := segment(p, "/v1/tokens/", ""); ok {
		const r = "/v1/tokens/{id}"
		id, err := parseID(rest)
		if err != nil {
			writeError(ctx, err)
			return r
		}
		if m != "DELETE" {
			methodNotAllowed(ctx, "DELETE")
			return r
		}
		s.revoke(ctx, id)
		return r
	}
	if rest, ok := strings.CutPrefix(p, "/v1/admin/accounts/"); ok {
		return s.routeAdminAccount(ctx, m, rest)
	}
	for _, mr := range marketRoutes {
		if sym, ok := segment(p, "/v1/markets/", mr.suffix); ok {
			return s.only(ctx, m, "GET", mr.route, func(ctx *fasthttp.RequestCtx) { mr.h(s, ctx, sym) })
		}
	}
	if sym, ok := segment(p, "/v1/admin/markets/", ""); ok {
		const r = "/v1/admin/markets/{symbol}"
		return s.only(ctx, m, "PATCH", r, func(ctx *fasthttp.RequestCtx) { s.setMarketFees(ctx, sym) })
	}
	for _, op := range []string{"/halt", "/resume"} {
		if sym, ok := segment(p, "/v1/admin/markets/", op); ok {
			r := "/v1/admin/markets/{symbol}" + op
			return s.only(ctx, m, "POST", r, func(ctx *fasthttp.RequestCtx) { s.haltMarket(ctx, sym, op == "/halt") })
		}
	}
	if sym, ok := segment(p, "/v1/admin/markets/", "/price-band"); ok {
		const r = "/v1/admin/markets/{symbol}/price-band"
		return s.only(ctx, m, "POST", r, func(ctx *fasthttp.RequestCtx) { s.setPriceBand(ctx, sym) })
	}
	if sym, ok := segment(p, "/v1/admin/markets/", "/max-open-orders"); ok {
		const r = "/v1/admin/markets/{symbol}/max-open-orders"
		return s.only(ctx, m, "POST", r, func(ctx *fasthttp.RequestCtx) { s.setMaxOpenOrders(ctx, sym) })
	}
	if r, ok := s.routeSocial(ctx, m, p); ok { // social.go
		return r
	}
	writeError(ctx, fmt.Errorf("%w: no route %s %s", errNotFound, m, p))
	return "unknown"
}

// routeAdminAccount routes /v1/admin/accounts/ and rest:
// {id}/tokens (GET, POST), {id}/tokens/{token_id} (DELETE),
// {id}/transfers (GET), {id}/social/events (GET) and {id}/freeze and
// {id}/unfreeze (POST).
func (s *Server) routeAdminAccount(ctx *fasthttp.RequestCtx, m, rest string) string {
	const (
		list       = "/v1/admin/accounts/{id}/tokens"
		one        = "/v1/admin/accounts/{id}/tokens/{token_id}"
		transfers  = "/v1/admin/accounts/{id}/transfers"
		copyEvents = "/v1/admin/accounts/{id}/social/events"
	)
	acct, tail, _ := strings.Cut(rest, "/")
	if tail == "freeze" || tail == "unfreeze" {
		r := "/v1/admin/accounts/{id}/" + tail
		return s.only(ctx, m, "POST", r, func(ctx *fasthttp.RequestCtx) {
			id, err := parseID(acct)
			if err != nil {
				writeError(ctx, err)
				return
			}
			s.freezeAccount(ctx, id, tail == "freeze")
		})
	}
	for _, r := range [...]struct {
		tail, route string
		h           func(*Server, *fasthttp.RequestCtx, uint64)
	}{{"transfers", transfers, (*Server).adminTransfers}, {"social/events", copyEvents, (*Server).adminCopyEvents}} {
		if tail != r.tail {
			continue
		}
		return s.only(ctx, m, "GET", r.route, func(ctx *fasthttp.RequestCtx) {
			id, err := parseID(acct)
			if err != nil {
				writeError(ctx, err)
				return
			}
			r.h(s, ctx, id)
		})
	}
	route := ""
	switch tid, ok := strings.CutPrefix(tail, "tokens/"); {
	case tail == "tokens":
		route = list
	case ok && tid != "" && !strings.Contains(tid, "/"):
		route = one
	default:
		writeError(ctx, fmt.Errorf("%w: no route %s /v1/admin/accounts/%s", errNotFound, m, rest))
		return "unknown"
	}
	id, err := parseID(acct)
	if err != nil {
		writeError(ctx, err)
		return route
	}
	if route == list {
		if m != "GET" && m != "POST" {
			methodNotAllowed(ctx, "GET, POST")
			return route
		}
		s.adminTokens(ctx, m, id)
		return route
	}
	tid, err := parseID(strings.TrimPrefix(tail, "tokens/"))
	if err != nil {
		writeError(ctx, err)
		return route
	}
	return s.only(ctx, m, "DELETE", route, func(ctx *fasthttp.RequestCtx) { s.adminRevoke(ctx, id, tid) })
}

// fixedRoute is a path without parameters and its handler of each method;
// a method without one is answered 405.
type fixedRoute struct {
	path                          string // a constant: the route label
	get, post, put, patch, delete func(*Server, *fasthttp.RequestCtx)
	allow                         string // the methods with a handler, for 405's Allow
}

// handler returns the handler of method m, nil if there is none.
func (r *fixedRoute) handler(m string) func(*Server, *fasthttp.RequestCtx) {
	switch m {
	case "GET":
		return r.get
	case "POST":
		return r.post
	case "PUT":
		return r.put
	case "PATCH":
		return r.patch
	case "DELETE":
		return r.delete
	}
	return nil
}

// fixedRoutes maps each path without parameters to its route.
var fixedRoutes = func() map[string]*fixedRoute {
	m := map[string]*fixedRoute{}
	for _, r := range []fixedRoute{
		{path: "/healthz", get: (*Server).healthz},
		{path: "/readyz", get: (*Server).readyz},
		{path: "/metrics", get: func(s *Server, ctx *fasthttp.RequestCtx) { s.metricsH(ctx) }},
		{path: "/v1/openapi.json", get: func(_ *Server, ctx *fasthttp.RequestCtx) { serveOpenAPI(ctx) }},
		{path: "/v1/accounts", post: (*Server).signup},
		{path: "/v1/account", get: (*Server).getAccount},
		{path: "/v1/tokens", post: (*Server).newToken, get: (*Server).listTokens},
		{path: "/v1/withdrawals", post: (*Server).withdraw},
		{path: "/v1/admin/markets", post: (*Server).createMarket},
		{path: "/v1/admin/deposits", post: (*Server).deposit},
		{path: "/v1/admin/accounts", get: (*Server).listAccounts, post: (*Server).adminCreateAccount},
		{path: "/v1/admin/fees", get: (*Server).feeAccount},
		{path: "/v1/admin/fees/withdrawals", get: (*Server).feeWithdrawals, post: (*Server).withdrawFees},
		{path: "/v1/admin/backup", post: (*Server).backup},
		{path: "/v1/orders", post: (*Server).placeOrder, get: (*Server).listOrders, delete: (*Server).cancelAll},
		{path: "/v1/orders/batch", post: (*Server).placeBatch},
		{path: "/v1/orders/cancel-all-after", post: (*Server).cancelAllAfter, get: (*Server).getCancelAllAfter},
		{path: "/v1/fills", get: (*Server).listFills},
		{path: "/v1/transfers", get: (*Server).listTransfers},
		{path: "/v1/markets", get: (*Server).listMarkets},
		{path: "/v1/stream", get: (*Server).stream},
		// social.go
		{path: "/v1/social/leader", put: (*Server).putLeader},
		{path: "/v1/social/leaders", get: (*Server).listLeaders},
		{path: "/v1/social/followers", get: (*Server).listFollowers},
		{path: "/v1/social/events", get: (*Server).listCopyEvents},
		{path: "/v1/admin/settle", post: (*Server).adminSettle},
		{path: "/v1/social/follows", post: (*Server).follow, get: (*Server).listFollows},
	} {
		var allow []string
		for _, h := range []struct {
			m string
			h func(*Server, *fasthttp.RequestCtx)
		}{{"GET", r.get}, {"POST", r.post}, {"PUT", r.put}, {"PATCH", r.patch}, {"DELETE", r.delete}} {
			if h.h != nil {
				allow = append(allow, h.m)
			}
		}
		r.allow = strings.Join(allow, ", ")
		m[r.path] = &r
	}
	return m
}()

// marketRoutes are the GET routes of one market, /v1/markets/{symbol}
// and a suffix.
var marketRoutes = [...]struct {
	suffix, route string
	h             func(s *Server, ctx *fasthttp.RequestCtx, sym string)
}{
	{"/book", "/v1/markets/{symbol}/book", (*Server).getBook},
	{"/trades", "/v1/markets/{symbol}/trades", (*Server).getTrades},
	{"/candles", "/v1/markets/{symbol}/candles", (*Server).getCandles},
	{"/ticker", "/v1/markets/{symbol}/ticker", (*Server).getTicker},
	{"", "/v1/markets/{symbol}", (*Server).getMarket},
}

// segment returns the part of p between prefix and suffix if it is one
// path segment: not empty, without a '/'.
func segment(p, prefix, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return "", false
	}
	seg, ok := strings.CutSuffix(rest, suffix)
	return seg, ok && seg != "" && !strings.Contains(seg, "/")
}

// only runs h if the method is want, else answers 405.
func (s *Server) only(ctx *fasthttp.RequestCtx, method, want, route string, h fasthttp.RequestHandler) string {
	if method != want {
		methodNotAllowed(ctx, want)
		return route
	}
	h(ctx)
	return route
}

// methodNotAllowed answers 405 method_not_allowed with the Allow header
// (RFC 9110 15.5.6): allow lists the methods the path takes ("GET, POST").
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set("Allow", allow)
	writeJSON(ctx, fasthttp.StatusMethodNotAllowed,
		[]byte(`{"error":{"code":"method_not_allowed","message":"method not allowed on this path"}}`))
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

// maxListLimit is the most items a list answers (limit=).
const maxListLimit = 1000

// queryLimit reads limit= of a list (default 100, 1 to 1000).
func queryLimit(ctx *fasthttp.RequestCtx) (int, error) {
	l, err := queryUint(ctx, "limit", 100)
	if err == nil && (l < 1 || l > maxListLimit) {
		err = fmt.Errorf("%w: limit must be 1 to %d", errInvalid, maxListLimit)
	}
	return int(l), err
}

// queryAfter reads after= of a list paged by id (default 0).
func queryAfter(ctx *fasthttp.RequestCtx) (uint64, error) {
	after, err := queryUint(ctx, "after", 0)
	if err != nil {
		err = fmt.Errorf("%w: after must be an id: a non-negative integer of at most 16 digits (ids are below 2^53)", errInvalid)
	}
	return after, err
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
