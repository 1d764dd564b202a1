package server

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

func TestMaskSecrets(t *testing.T) {
	tok := newToken()
	var out bytes.Buffer
	log := zerolog.New(MaskSecrets(&out))
	log.Info().Str("token", "plain-secret-value").Str("route", "/v1/orders").Msg("request with " + tok)
	log.Error().Err(errors.New("bad header: Bearer "+tok)).Str("authorization", `a "quoted\" value`).Msg("x")
	log.Info().Str("admin_token", tok).Str("password", "hunter2").Str("secret", "s").Msg("admin")
	got := out.String()
	for _, leak := range []string{tok, tok[4:], "plain-secret-value", "quoted", "hunter2"} {
		if strings.Contains(got, leak) {
			t.Fatalf("log leaks %q:\n%s", leak, got)
		}
	}
	for _, want := range []string{`"route":"/v1/orders"`, "request with ist_***", `"token":"***"`, "Bearer ist_***",
		`"authorization":"***"`, `"admin_token":"***"`, `"password":"***"`, `"secret":"***"`} {
		if !strings.Contains(got, want) {
			t.Fatalf("log lacks %q:\n%s", want, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Fatalf("masked line is not a JSON object: %s", line)
		}
	}
	// A line without secrets passes unchanged and without allocating.
	out.Reset()
	w := MaskSecrets(&out)
	line := []byte(`{"level":"info","req":7,"route":"/v1/orders","status":201,"latency":0.1,"message":"request"}` + "\n")
	if n := testing.AllocsPerRun(100, func() { out.Reset(); _, _ = w.Write(line) }); n != 0 {
		t.Fatalf("clean line: %v allocations", n)
	}
	if out.String() != string(line) {
		t.Fatalf("clean line changed: %s", out.String())
	}
	// "ist_" inside a word, or without a body, is not a token.
	out.Reset()
	_, _ = w.Write([]byte(`{"message":"assist_x ist_"}`))
	if out.String() != `{"message":"assist_x ist_"}` {
		t.Fatalf("false positive: %s", out.String())
	}
}

// Concurrent loggers share one masking writer (run with -race).
func TestMaskSecretsConcurrent(t *testing.T) {
	var mu sync.Mutex
	var lines int
	w := MaskSecrets(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if bytes.Contains(p, []byte("SECRET")) {
			t.Errorf("leak: %s", p)
		}
		lines++
		return len(p), nil
	}))
	log := zerolog.New(w)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				log.Info().Str("token", "SECRET").Int("g", g).Msg("ist_SECRET" + strconv.Itoa(i))
			}
		}()
	}
	wg.Wait()
	if lines != 2000 {
		t.Fatalf("%d lines", lines)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func FuzzMaskSecrets(f *testing.F) {
	f.Add([]byte(`{"token":"abc","message":"ist_AAAA"}`))
	f.Add([]byte(`{"authorization":"x\"y","secret":"`))
	f.Fuzz(func(t *testing.T, p []byte) {
		var out bytes.Buffer
		n, err := MaskSecrets(&out).Write(p)
		if err != nil || n != len(p) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	})
}
