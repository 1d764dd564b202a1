package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// The OpenAPI document matches what is served: every operation it lists
// is routed (not "unknown", not 405), and every route of API.md is in it.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	defer ts.stop()
	resp, err := ts.c.Get(ts.base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v, version %q", err, doc.OpenAPI)
	}
	ops := 0
	for path, methods := range doc.Paths {
		for method := range methods {
			method = strings.ToUpper(method)
			if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, method) {
				continue // e.g. "parameters"
			}
			ops++
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(method)
			concrete := strings.NewReplacer("{symbol}", "BTC-USDT", "{id}", "1").Replace(path)
			ctx.Request.SetRequestURI(concrete)
			if path == "/v1/stream" {
				continue // an upgrade, tested in stream_test.go
			}
			route := ts.s.route(&ctx)
			// The label outlives the request: it must not view its buffer.
			if p := ctx.Path(); len(route) > 0 && len(p) > 0 &&
				uintptr(unsafe.Pointer(unsafe.StringData(route))) >= uintptr(unsafe.Pointer(&p[0])) &&
				uintptr(unsafe.Pointer(unsafe.StringData(route))) < uintptr(unsafe.Pointer(&p[0]))+uintptr(len(p)) {
				t.Errorf("%s %s: route label %q points into the request buffer (add it to fixedRoutes)", method, path, route)
			}
			if route == "unknown" || ctx.Response.StatusCode() == http.StatusMethodNotAllowed {
				t.Errorf("OpenAPI lists %s %s, the server answers %d (route %q)", method, path, ctx.Response.StatusCode(), route)
			}
		}
	}
	for _, want := range []string{"/v1/accounts", "/v1/account", "/v1/withdrawals", "/v1/tokens", "/v1/tokens/{id}",
		"/v1/admin/markets", "/v1/admin/deposits", "/v1/admin/markets/{symbol}/halt", "/v1/admin/markets/{symbol}/resume",
		"/v1/admin/markets/{symbol}/price-band",
		"/v1/admin/accounts", "/v1/admin/fees", "/v1/orders", "/v1/orders/batch", "/v1/orders/{id}", "/v1/fills", "/v1/markets",
		"/v1/markets/{symbol}/book", "/v1/markets/{symbol}/trades", "/v1/markets/{symbol}/candles",
		"/v1/markets/{symbol}/ticker", "/v1/stream", "/healthz", "/readyz", "/metrics",
		"/v1/social/leader", "/v1/social/leaders", "/v1/social/leaders/{account_id}", "/v1/social/follows",
		"/v1/social/follows/{id}", "/v1/social/follows/{id}/pause", "/v1/social/follows/{id}/resume",
		"/v1/social/followers", "/v1/admin/settle"} {
		if _, ok := doc.Paths[want]; !ok {
			t.Errorf("OpenAPI lacks %s", want)
		}
	}
	if ops < 25 {
		t.Fatalf("only %d operations in the document", ops)
	}
}
