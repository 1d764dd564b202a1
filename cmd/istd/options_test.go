package main

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/server"
)

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key to dir and returns their paths and the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "istd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// startRun runs istd with args until the test ends (SIGTERM) and waits
// until GET url/healthz answers 200 with client c.
func startRun(t *testing.T, args []string, c *http.Client, url string) *syncBuf {
	t.Helper()
	done := make(chan error, 1)
	out := &syncBuf{}
	go func() { done <- run(args, out) }()
	for i := 0; ; i++ {
		resp, err := c.Get(url + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("istd stopped: %v", err)
		default:
		}
		if i > 400 {
			t.Fatalf("istd never became healthy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		c.CloseIdleConnections()
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(20 * time.Second):
			t.Error("istd did not stop on SIGTERM")
		}
	})
	return out
}

// call sends a request and returns the status and body.
func call(t *testing.T, c *http.Client, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTLS serves HTTPS with a self-signed certificate given by the
// environment and calls /healthz and the authenticated API over it with a
// client that trusts only that certificate.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, dir)
	addr := freeAddr(t)
	t.Setenv("IST_TLS_CERT", certFile)
	t.Setenv("IST_TLS_KEY", keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + addr
	out := startRun(t, []string{"--data-dir", filepath.Join(dir, "data"), "--listen", addr, "--admin-token", "secret",
		"--log-level", "error", "--demo"}, c, base)

	code, body := call(t, c, "POST", base+"/v1/accounts", "", `{"name":"alice"}`)
	if code != 201 {
		t.Fatalf("sign-up over TLS: %d %s", code, body)
	}
	var acct struct{ Token string }
	if err := json.Unmarshal([]byte(body), &acct); err != nil || acct.Token == "" {
		t.Fatalf("sign-up answer %s: %v", body, err)
	}
	if code, body := call(t, c, "GET", base+"/v1/account", acct.Token, ""); code != 200 || !strings.Contains(body, `"name":"alice"`) {
		t.Fatalf("GET /v1/account over TLS: %d %s", code, body)
	}
	// Plain HTTP is not served, nor TLS below 1.2.
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("plain HTTP answered on the TLS port")
	}
	old := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(base + "/healthz"); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	// --demo works with TLS too.
	for i := 0; !strings.Contains(out.String(), "demo account demo-bob"); i++ {
		if i > 400 {
			t.Fatalf("demo output %q", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	// The demo's orders may still be on their way to the book view.
	for i := 0; ; i++ {
		code, body := call(t, c, "GET", base+"/v1/markets/BTC-USDT/book", "", "")
		if code == 200 && strings.Contains(body, `"64990"`) {
			break
		}
		if i > 200 {
			t.Fatalf("demo book over TLS: %d %s", code, body)
		}
		time.Sleep(25 * time.Millisecond)
	}
	// istd backup of the HTTPS istd: without its certificate the command
	// says to give it (it said only "did not answer: ... EOF"); with it,
	// the backup is written.
	data := filepath.Join(dir, "data")
	t.Setenv("IST_TLS_CERT", "")
	err := run([]string{"backup", "--to", filepath.Join(dir, "b1"), "--data-dir", data, "--listen", addr, "--admin-token", "secret"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "if it serves HTTPS, give its certificate (--tls-cert, IST_TLS_CERT)") {
		t.Fatalf("backup of an HTTPS istd without --tls-cert: %v", err)
	}
	if err := run([]string{"backup", "--to", filepath.Join(dir, "b2"), "--data-dir", data, "--listen", addr,
		"--admin-token", "secret", "--tls-cert", certFile}, io.Discard); err != nil {
		t.Fatalf("backup of an HTTPS istd with --tls-cert: %v", err)
	}
}

// TestTLSPair checks that a certificate without a key (or the reverse)
// is an error, and that unreadable files are too.
// Over TLS, a connection past --max-conns-per-ip is closed without an
// answer (one would wait for the client's handshake), and the slot of a
// connection closed is taken again.
func TestTLSConnCap(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, dir)
	addr := freeAddr(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	c := client()
	base := "https://" + addr
	startRun(t, []string{"--data-dir", filepath.Join(dir, "data"), "--listen", addr, "--admin-token", "secret",
		"--log-level", "error", "--tls-cert", certFile, "--tls-key", keyFile, "--max-conns-per-ip", "1"}, c, base)
	if code, body := call(t, c, "GET", base+"/v1/markets", "", ""); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	other := client()
	if resp, err := other.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a second connection over a cap of 1 was served: %d", resp.StatusCode)
	}
	c.CloseIdleConnections()
	for i := 0; ; i++ {
		resp, err := other.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 200 {
			t.Fatalf("the slot of the closed connection was not given back: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	other.CloseIdleConnections()
}

func TestTLSPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	data := filepath.Join(dir, "data")
	for _, args := range [][]string{{"--tls-cert", certFile}, {"--tls-key", keyFile}} {
		err := run(append([]string{"--data-dir", data, "--listen", "127.0.0.1:0"}, args...), io.Discard)
		if !errors.Is(err, errTLSPair) {
			t.Fatalf("%v: %v, want %v", args, err, errTLSPair)
		}
	}
	t.Setenv("IST_TLS_CERT", certFile)
	if err := run([]string{"--data-dir", data, "--listen", "127.0.0.1:0"}, io.Discard); !errors.Is(err, errTLSPair) {
		t.Fatalf("IST_TLS_CERT alone: %v", err)
	}
	err := run([]string{"--data-dir", data, "--listen", "127.0.0.1:0", "--tls-key", certFile}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--tls-cert/--tls-key") {
		t.Fatalf("a certificate as the key: %v", err)
	}
}

// TestRateLimitFlags checks that a low --rate-limit answers 429
// rate_limited, that 0 disables the limit, and the mapping of the flags
// and environment to server.Options.
func TestRateLimitFlags(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr
	// Anonymous: 1 per second with a burst of 3 (healthz is never limited).
	t.Setenv("IST_ANON_RATE_LIMIT", "1")
	startRun(t, []string{"--data-dir", filepath.Join(dir, "a"), "--listen", addr, "--admin-token", "secret",
		"--log-level", "error", "--anon-rate-burst", "3", "--rate-limit", "0"}, c, base)
	limited := 0
	for range 6 {
		code, body := call(t, c, "GET", base+"/v1/markets", "", "")
		if code == 429 {
			if !strings.Contains(body, `"rate_limited"`) {
				t.Fatalf("429 body %s", body)
			}
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 6 anonymous requests limited, want at least 2", limited)
	}
	// Tokens: unlimited (--rate-limit 0).
	for i := range 50 {
		if code, body := call(t, c, "GET", base+"/v1/markets", "secret", ""); code != 200 {
			t.Fatalf("request %d with a token: %d %s", i, code, body)
		}
	}

	// The defaults of the snapshot, body-limit and timeout flags.
	def := func(o server.Options) server.Options {
		o.SnapshotInterval = cmp.Or(o.SnapshotInterval, time.Minute)
		o.MaxBodySize = cmp.Or(o.MaxBodySize, 64<<10)
		o.MaxBatchBodySize = cmp.Or(o.MaxBatchBodySize, 1<<20)
		o.RequestTimeout = cmp.Or(o.RequestTimeout, 10*time.Second)
		o.RingSize = cmp.Or(o.RingSize, server.DefaultRingSize)
		o.MaxTokens = cmp.Or(o.MaxTokens, server.DefaultMaxTokens)
		o.BookDepth = cmp.Or(o.BookDepth, server.DefaultBookDepth)
		o.MaxStreams = cmp.Or(o.MaxStreams, server.DefaultMaxStreams)
		o.MaxStreamsPerIP = cmp.Or(o.MaxStreamsPerIP, server.DefaultMaxStreamsPerIP)
		o.StreamQueueBytes = cmp.Or(o.StreamQueueBytes, server.DefaultStreamQueueBytes)
		o.MaxConnsPerIP = cmp.Or(o.MaxConnsPerIP, server.DefaultMaxConnsPerIP)
		o.SignupRate = cmp.Or(o.SignupRate, server.DefaultSignupRate)
		o.LeaderboardTTL = cmp.Or(o.LeaderboardTTL, time.Second)
		o.SignupBurst = cmp.Or(o.SignupBurst, server.DefaultSignupBurst)
		o.MetricsRate = cmp.Or(o.MetricsRate, server.DefaultMetricsRate)
		o.MetricsBurst = cmp.Or(o.MetricsBurst, server.DefaultMetricsBurst)
		return o
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want server.Options
	}{
		{nil, nil, def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000})},
		{nil, []string{"--rate-limit", "5", "--rate-burst", "7", "--history-orders", "0", "--history-interval", "0"},
			def(server.Options{RateLimit: 5, RateBurst: 7, AnonRateLimit: 5, AnonRateBurst: 7, HistoryInterval: -1, HistoryOrders: -1, HistoryFills: 1000})},
		{map[string]string{"IST_RATE_LIMIT": "0", "IST_ANON_RATE_LIMIT": "2", "IST_HISTORY_FILLS": "10"}, []string{"--anon-rate-burst", "4"},
			def(server.Options{RateLimit: -1, AnonRateLimit: 2, AnonRateBurst: 4, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 10})},
		{map[string]string{"IST_SNAPSHOT_INTERVAL": "30s", "IST_MAX_BODY": "1000"}, []string{"--max-batch-body", "5000", "--request-timeout", "2s"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				SnapshotInterval: 30 * time.Second, MaxBodySize: 1000, MaxBatchBodySize: 5000, RequestTimeout: 2 * time.Second})},
		{map[string]string{"IST_SNAPSHOT_EVERY": "1000000"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				SnapshotEvery: 1_000_000})},
		{map[string]string{"IST_RESERVE_ORDERS": "100000"}, []string{"--reserve-book-orders", "5000"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				Capacity: engine.Capacity{Orders: 100_000, BookOrders: 5000}})},
		{map[string]string{"IST_RING_SIZE": "1024"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				RingSize: 1024})},
		{map[string]string{"IST_RING_SIZE": "1024"}, []string{"--ring-size", "65536"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				RingSize: 65536})},
		{map[string]string{"IST_MAX_TOKENS": "5"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MaxTokens: 5})},
		{map[string]string{"IST_MAX_TOKENS": "5"}, []string{"--max-tokens", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MaxTokens: -1})},
		{map[string]string{"IST_BOOK_DEPTH": "200"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				BookDepth: 200})},
		{map[string]string{"IST_BOOK_DEPTH": "200"}, []string{"--book-depth", "500"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				BookDepth: 500})},
		{map[string]string{"IST_MAX_STREAMS": "50", "IST_MAX_STREAMS_PER_IP": "5"}, []string{"--max-streams-per-ip", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MaxStreams: 50, MaxStreamsPerIP: -1})},
		{map[string]string{"IST_SIGNUP_RATE": "0.5"}, []string{"--signup-burst", "3"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				SignupRate: 0.5, SignupBurst: 3})},
		{map[string]string{"IST_SIGNUP_RATE": "0.5"}, []string{"--signup-rate", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				SignupRate: -1})},
		{map[string]string{"IST_METRICS_RATE": "2"}, []string{"--metrics-burst", "4"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MetricsRate: 2, MetricsBurst: 4})},
		{map[string]string{"IST_METRICS_RATE": "2"}, []string{"--metrics-rate", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MetricsRate: -1})},
		{map[string]string{"IST_MAX_CONNS": "5000"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MaxConns: 5000})},
		{map[string]string{"IST_MAX_CONNS_PER_IP": "50"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MaxConnsPerIP: 50})},
		{map[string]string{"IST_MAX_CONNS_PER_IP": "50"}, []string{"--max-conns-per-ip", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				MaxConnsPerIP: -1})},
		{map[string]string{"IST_STREAM_QUEUE_BYTES": "1048576"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				StreamQueueBytes: 1 << 20})},
		{map[string]string{"IST_LEADERBOARD_TTL": "5s"}, nil,
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				LeaderboardTTL: 5 * time.Second})},
		{map[string]string{"IST_LEADERBOARD_TTL": "5s"}, []string{"--leaderboard-ttl", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				LeaderboardTTL: -1})},
		{map[string]string{"IST_STREAM_QUEUE_BYTES": "1048576"}, []string{"--stream-queue-bytes", "0"},
			def(server.Options{RateLimit: 1000, AnonRateLimit: 1000, HistoryInterval: 5 * time.Second, HistoryOrders: 1000, HistoryFills: 1000,
				StreamQueueBytes: -1})},
	} {
		for _, k := range []string{"IST_RATE_LIMIT", "IST_RATE_BURST", "IST_ANON_RATE_LIMIT", "IST_ANON_RATE_BURST", "IST_HISTORY_FILLS",
			"IST_SNAPSHOT_INTERVAL", "IST_SNAPSHOT_EVERY", "IST_MAX_BODY", "IST_RESERVE_ORDERS", "IST_RING_SIZE", "IST_MAX_TOKENS", "IST_BOOK_DEPTH",
			"IST_MAX_STREAMS", "IST_MAX_STREAMS_PER_IP", "IST_STREAM_QUEUE_BYTES", "IST_MAX_CONNS_PER_IP", "IST_MAX_CONNS",
			"IST_SIGNUP_RATE", "IST_SIGNUP_BURST", "IST_METRICS_RATE", "IST_METRICS_BURST", "IST_LEADERBOARD_TTL"} {
			t.Setenv(k, tc.env[k])
			if _, ok := tc.env[k]; !ok {
				os.Unsetenv(k)
			}
		}
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		tun := addTuning(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var o server.Options
		if err := tun.apply(fs, &o); err != nil {
			t.Fatal(err)
		}
		if o != tc.want {
			t.Fatalf("env %v args %v: %+v, want %+v", tc.env, tc.args, o, tc.want)
		}
	}
	for _, args := range [][]string{{"--snapshot-interval", "0s"}, {"--snapshot-every", "-1"}, {"--max-body", "-1"}, {"--request-timeout", "0s"},
		{"--reserve-orders", "-1"}, {"--reserve-book-orders", "-5"}, {"--max-tokens", "-1"}, {"--ring-size", "1000"}, {"--ring-size", "0"}, {"--ring-size", "-4"},
		{"--book-depth", "0"}, {"--book-depth", "-1"}, {"--stream-queue-bytes", "-1"}, {"--stream-queue-bytes", "65535"}} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		tun := addTuning(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := tun.apply(fs, &server.Options{}); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Fatalf("%v: %v", args, err)
		}
	}
	t.Setenv("IST_RATE_LIMIT", "fast")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	tun := addTuning(fs)
	if err := tun.apply(fs, &server.Options{}); err == nil || !strings.Contains(err.Error(), "IST_RATE_LIMIT") {
		t.Fatalf("bad IST_RATE_LIMIT: %v", err)
	}
}

// runRefused runs istd with args, expecting it to refuse to start: if it
// serves instead, it is stopped (SIGTERM) after a few seconds, and the
// error says it started.
func runRefused(t *testing.T, args []string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run(args, io.Discard) }()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-done
		return errors.New("istd started")
	}
}

// TestBoolEnv reads the boolean variables IST_DISABLE_SIGNUP and IST_DEMO
// as strconv.ParseBool does (only "1" was true: IST_DISABLE_SIGNUP=true
// left sign-up open), and stops istd at start on any other value, naming
// the variable, before it creates anything.
func TestBoolEnv(t *testing.T) {
	keys := []string{"IST_DISABLE_SIGNUP", "IST_DEMO"}
	unset := func() {
		for _, k := range keys {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	for _, key := range keys {
		for _, v := range []string{"yes", "on", "2", "", "tRuE"} {
			unset()
			t.Setenv(key, v)
			data := filepath.Join(dir, "bad")
			err := runRefused(t, []string{"--data-dir", data, "--listen", "127.0.0.1:0", "--log-level", "error"})
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s=%q: %v, want an error naming %s", key, v, err, key)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("%s=%q: istd created %s (%v)", key, v, data, err)
			}
		}
	}
	// The spellings, through the flag registration main uses.
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"1", true}, {"t", true}, {"T", true}, {"TRUE", true}, {"true", true}, {"True", true},
		{"0", false}, {"f", false}, {"F", false}, {"FALSE", false}, {"false", false}, {"False", false},
	} {
		unset()
		t.Setenv("IST_DEMO", c.v)
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		tun := addTuning(fs)
		var got bool
		tun.bool(fs, &got, "demo", "IST_DEMO", "")
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if err := tun.apply(fs, &server.Options{}); err != nil || got != c.want {
			t.Errorf("IST_DEMO=%q: %v, %v, want %v", c.v, got, err, c.want)
		}
	}

	// istd itself: sign-up closed by IST_DISABLE_SIGNUP=true, demo data
	// made by IST_DEMO=True.
	c := &http.Client{Timeout: 10 * time.Second}
	t.Run("IST_DISABLE_SIGNUP", func(t *testing.T) {
		unset()
		t.Setenv("IST_DISABLE_SIGNUP", "true")
		addr := freeAddr(t)
		startRun(t, []string{"--data-dir", filepath.Join(dir, "signup"), "--listen", addr, "--admin-token", "secret",
			"--log-level", "error", "--settle-interval", "0"}, c, "http://"+addr)
		if code, body := call(t, c, "POST", "http://"+addr+"/v1/accounts", "", `{"name":"alice"}`); code != 403 {
			t.Fatalf("sign-up with IST_DISABLE_SIGNUP=true: %d %s, want 403", code, body)
		}
	})
	t.Run("IST_DEMO", func(t *testing.T) {
		unset()
		t.Setenv("IST_DEMO", "True")
		addr := freeAddr(t)
		out := startRun(t, []string{"--data-dir", filepath.Join(dir, "demo"), "--listen", addr, "--admin-token", "secret",
			"--log-level", "error", "--settle-interval", "0"}, c, "http://"+addr)
		for i := 0; !strings.Contains(out.String(), "demo: markets"); i++ {
			if i == 400 {
				t.Fatalf("IST_DEMO=True: no demo data (%q)", out.String())
			}
			time.Sleep(25 * time.Millisecond)
		}
	})
}

// --demo works with --disable-signup: it opens its accounts with the admin
// token (POST /v1/admin/accounts), while open sign-up stays closed.
func TestDemoWithoutSignup(t *testing.T) {
	addr := freeAddr(t)
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr
	out := startRun(t, []string{"--data-dir", filepath.Join(t.TempDir(), "d"), "--listen", addr, "--admin-token", "secret",
		"--log-level", "error", "--demo", "--disable-signup"}, c, base)
	for i := 0; !strings.Contains(out.String(), "demo account demo-bob"); i++ {
		if i == 400 {
			t.Fatalf("no demo accounts (%q)", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if code, body := call(t, c, "POST", base+"/v1/accounts", "", `{"name":"eve"}`); code != 403 {
		t.Fatalf("open sign-up with --disable-signup: %d %s", code, body)
	}
}

// Over TLS too, a client sending a body over the limit reads its 413
// rather than a reset (server.lingerClose: TLS's close_notify, then the
// connection's sending side, then what the client still sends is read
// and dropped).
func TestTLSBodyLimitAnswer(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, dir)
	addr := freeAddr(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + addr
	startRun(t, []string{"--data-dir", filepath.Join(dir, "data"), "--listen", addr, "--admin-token", "secret",
		"--log-level", "error", "--tls-cert", certFile, "--tls-key", keyFile}, c, base)
	body := strings.Repeat(" ", 900_000)
	for i := range 30 {
		resp, err := c.Post(base+"/v1/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("try %d: %d", i, resp.StatusCode)
		}
	}
	c.CloseIdleConnections()
}
