package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a server that answers each request with the next step of
// its script: "drop" closes the connection without an answer, "NNN code"
// answers an API error, "NNN" answers {"ok":true}. It records the bodies.
type scripted struct {
	mu     sync.Mutex
	script []string
	bodies []string
}

// sent returns the bodies received so far.
func (s *scripted) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	step := "500 script_over"
	if len(s.script) > 0 {
		step, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if step == "drop" {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	var status int
	var code string
	fmt.Sscanf(step, "%d %s", &status, &code)
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0") // 0: the client's own backoff
	}
	w.WriteHeader(status)
	if code == "" {
		io.WriteString(w, `{"ok":true}`)
		return
	}
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"scripted"}}`, code)
}

func TestClientRetries(t *testing.T) {
	const body = `{"client_order_id":"mm-x-1"}`
	for _, tc := range []struct {
		name     string
		script   []string
		requests int    // the client sends
		code     string // of the error returned; "" for success, "-" for a transport error
	}{
		{"success", []string{"201"}, 1, ""},
		{"a lost answer is resent once, with the same id", []string{"drop", "200"}, 2, ""},
		{"not twice", []string{"drop", "drop", "201"}, 2, "-"},
		{"rate limited, then through", []string{"429 rate_limited", "429 rate_limited", "201"}, 3, ""},
		{"overloaded, then through", []string{"503 overloaded", "201"}, 2, ""},
		{"not ready, then through", []string{"503 unavailable", "201"}, 2, ""},
		{"overloaded until the tries run out", []string{"503 overloaded", "503 overloaded", "503 overloaded", "503 overloaded", "201"}, 4, "overloaded"},
		{"a lost answer and a backoff", []string{"429 rate_limited", "drop", "201"}, 3, ""},
		{"would_cross is not retried", []string{"400 would_cross", "201"}, 1, "would_cross"},
		{"a bug is not retried", []string{"500 internal", "201"}, 1, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{script: tc.script}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := newClient(srv.URL, "tok")
			c.backoffBase, c.backoffMax, c.tries = time.Millisecond, 5*time.Millisecond, 4
			var res struct{ OK bool }
			err := c.call(context.Background(), "POST", "/v1/orders", body, &res)
			switch got := errCode(err); {
			case tc.code == "" && (err != nil || !res.OK):
				t.Errorf("err %v, answer %+v; want success", err, res)
			case tc.code == "-" && (err == nil || got != ""):
				t.Errorf("err %v; want a transport error", err)
			case tc.code != "" && tc.code != "-" && got != tc.code:
				t.Errorf("err %v; want code %s", err, tc.code)
			}
			sent := s.sent()
			if len(sent) != tc.requests {
				t.Errorf("%d requests; want %d", len(sent), tc.requests)
			}
			for i, b := range sent {
				if b != body {
					t.Errorf("request %d sent %q; want %q", i, b, body)
				}
			}
		})
	}
}

// A context that ends interrupts a backoff, not a request.
func TestClientBackoffCancelled(t *testing.T) {
	s := &scripted{script: []string{"429 rate_limited", "201"}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(srv.URL, "")
	c.backoffBase, c.backoffMax = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	err := c.call(ctx, "GET", "/", "", nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Minute {
		t.Fatalf("err %v after %v; want context.Canceled at once", err, time.Since(start))
	}

	// A cancelled context still lets a request through.
	s.mu.Lock()
	s.script = []string{"200"}
	s.mu.Unlock()
	if err := c.call(ctx, "GET", "/", "", nil); err != nil {
		t.Fatalf("with a cancelled context: %v", err)
	}
}

func TestClientErrorAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"unauthenticated","message":"missing or invalid token"}}`)
			return
		}
		w.WriteHeader(502)
		io.WriteString(w, "bad gateway\n")
	}))
	defer srv.Close()
	err := newClient(srv.URL, "nope").call(context.Background(), "GET", "/v1/account", "", nil)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthenticated" || !strings.Contains(err.Error(), "missing or invalid token") {
		t.Errorf("err %v", err)
	}
	if !errors.Is(classify(err), errFatal) {
		t.Errorf("classify(%v) is not fatal", err)
	}
	err = newClient(srv.URL, "tok").call(context.Background(), "GET", "/v1/account", "", nil)
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "" || ae.Message != "bad gateway" {
		t.Errorf("a non-API error answer: %v", err)
	}
}

func TestClientPause(t *testing.T) {
	c := &client{backoffBase: 100 * time.Millisecond, backoffMax: time.Second}
	for _, tc := range []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 0, 500 * time.Millisecond, time.Second}, // capped
		{60, 0, 500 * time.Millisecond, time.Second},
		{1, 3 * time.Second, 3 * time.Second, 3 * time.Second}, // Retry-After wins
	} {
		for range 100 {
			if d := c.pause(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
				t.Fatalf("pause(%d, %v) = %v; want %v to %v", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
			}
		}
	}
}
