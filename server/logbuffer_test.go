package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// syncBuffer is a bytes.Buffer safe for the flusher and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int // writes
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogBufferConcurrent: lines written from many goroutines through a
// small buffer all arrive, whole, once each, each goroutine's in its own
// order, in far fewer writes than lines.
func TestLogBufferConcurrent(t *testing.T) {
	var out syncBuffer
	b := NewLogBuffer(&out, 4096, time.Millisecond)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				line := fmt.Sprintf(`{"level":"info","w":%d,"i":%d,"pad":"%s"}`+"\n", w, i, strings.Repeat("x", i%97))
				if n, err := b.Write([]byte(line)); n != len(line) || err != nil {
					t.Errorf("Write = %d, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var w, i int
		var pad string
		if _, err := fmt.Sscanf(l, `{"level":"info","w":%d,"i":%d,"pad":%q}`, &w, &i, &pad); err != nil || w < 0 || w >= writers {
			t.Fatalf("garbled line %q: %v", l, err)
		}
		if i != next[w] || pad != strings.Repeat("x", i%97) {
			t.Fatalf("writer %d: line %d (pad %d) where %d was due", w, i, len(pad), next[w])
		}
		next[w]++
	}
	if out.n > writers*lines/10 {
		t.Errorf("%d writes for %d lines: not batched", out.n, writers*lines)
	}
}

// TestLogBufferUrgent: a line above info level is written before Write
// returns; an info line waits for the flush.
func TestLogBufferUrgent(t *testing.T) {
	var out syncBuffer
	b := NewLogBuffer(&out, 1<<20, 0) // no periodic flush
	info := `{"level":"info","message":"request"}` + "\n"
	warn := `{"level":"warn","message":"disk slow"}` + "\n"
	_, _ = b.Write([]byte(info))
	if out.String() != "" {
		t.Fatalf("info line written at once: %q", out.String())
	}
	_, _ = b.Write([]byte(warn))
	if out.String() != info+warn {
		t.Fatalf("after a warning: %q, want both lines in order", out.String())
	}
	_, _ = b.Write([]byte(info))
	if err := b.Close(); err != nil || out.String() != info+warn+info {
		t.Fatalf("after Close: %q, %v", out.String(), err)
	}
}

// TestLogBufferInterval: an info line reaches the writer within about an
// interval, without Close.
func TestLogBufferInterval(t *testing.T) {
	var out syncBuffer
	b := NewLogBuffer(&out, 1<<20, 5*time.Millisecond)
	defer b.Close()
	_, _ = b.Write([]byte(`{"level":"info"}` + "\n"))
	for deadline := time.Now().Add(5 * time.Second); out.String() == ""; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not flushed by the interval")
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestLogBufferError(t *testing.T) {
	b := NewLogBuffer(failWriter{}, 4096, 0)
	if _, err := b.Write([]byte(`{"level":"error"}` + "\n")); err == nil {
		t.Fatal("urgent write: no error")
	}
	_, _ = b.Write([]byte(`{"level":"info"}` + "\n"))
	if err := b.Close(); err == nil {
		t.Fatal("Close: no error")
	}
}

// BenchmarkRequestLog logs istd's request line to a file, one write per
// line as before and through a LogBuffer, from parallel goroutines.
func BenchmarkRequestLog(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%v", buffered), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var w = MaskSecrets(f)
			var lb *LogBuffer
			if buffered {
				lb = NewLogBuffer(f, 64<<10, 100*time.Millisecond)
				w = MaskSecrets(lb)
			}
			log := zerolog.New(w).With().Timestamp().Logger()
			b.RunParallel(func(pb *testing.PB) {
				for i := uint64(0); pb.Next(); i++ {
					log.Info().Uint64("req", i).Bytes("method", []byte("POST")).Str("route", "/v1/orders").
						Int("status", 201).Dur("latency", 1234*time.Microsecond).Msg("request")
				}
			})
			if lb != nil {
				if err := lb.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
