package server

import (
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
)

// GET /metrics has a limit of its own per client address
// (Options.MetricsRate, MetricsBurst), whatever token the request
// carries: each answer renders every metric, and without it one client
// could keep a core busy. /healthz is never limited.
func TestMetricsRateLimit(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MetricsRate: 0.01, MetricsBurst: 2})
	get := func(path, token string) (int, string, string) {
		t.Helper()
		r, _ := http.NewRequest("GET", ts.base+path, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
	}
	for i := range 2 {
		if st, body, _ := get("/metrics", ""); st != 200 || !strings.Contains(body, "go_goroutines") {
			t.Fatalf("scrape %d: %d %.100s", i, st, body)
		}
	}
	for _, tok := range []string{"", adminTok} {
		st, body, retry := get("/metrics", tok)
		if st != 429 || !strings.Contains(body, `"rate_limited"`) || !strings.Contains(body, "/metrics: at most 0.01 a second") || retry != "1" {
			t.Fatalf("third scrape (token %q): %d %s, Retry-After %q", tok, st, body, retry)
		}
	}
	for range 5 {
		if st, _, _ := get("/healthz", ""); st != 200 {
			t.Fatalf("/healthz: %d", st)
		}
	}
	// Not a finite rate: refused.
	for _, r := range []float64{math.NaN(), math.Inf(1)} {
		s, err := Open(&Options{DataDir: t.TempDir(), MetricsRate: r})
		if err == nil {
			s.Close()
			t.Fatalf("Open(MetricsRate %v) succeeded", r)
		}
		if !strings.Contains(err.Error(), "MetricsRate") {
			t.Fatalf("Open(MetricsRate %v): %v", r, err)
		}
	}
}
