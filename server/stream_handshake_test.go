package server

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// A WebSocket upgrade the library refuses (no Sec-WebSocket-Key, an
// unsupported version) is answered as every error is: the JSON error
// body, 400 invalid_argument, and the request's X-Request-Id, not a
// text/plain "Bad Request" without them.
func TestStreamBadHandshake(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	for _, c := range []struct {
		what    string
		headers map[string]string
	}{
		{"no key", map[string]string{"Sec-WebSocket-Version": "13"}},
		{"version 8", map[string]string{"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}},
	} {
		r, err := http.NewRequest("GET", ts.base+"/v1/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("X-Request-Id", "hs-1")
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		resp, err := ts.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Error struct{ Code, Message string }
		}
		err = json.Unmarshal(raw, &out)
		if resp.StatusCode != 400 || err != nil || out.Error.Code != "invalid_argument" || out.Error.Message == "" ||
			resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Request-Id") != "hs-1" {
			t.Errorf("%s: %d %q %q (X-Request-Id %q), want 400, a JSON invalid_argument error and the request id",
				c.what, resp.StatusCode, resp.Header.Get("Content-Type"), raw, resp.Header.Get("X-Request-Id"))
		}
	}
}
