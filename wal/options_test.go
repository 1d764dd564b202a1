package wal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/rs/zerolog"
)

// Open refuses a memtable size Pebble cannot use with an error, never a
// panic, and accepts the documented range's ends.
func TestOpenRefusesBadMemTableSize(t *testing.T) {
	for _, size := range []uint64{1, 1 << 10, MinMemTableSize - 1, MaxMemTableSize + 1, 4 << 30, 1 << 62} {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("MemTableSize %d: panic %v", size, v)
				}
			}()
			l, err := Open(t.TempDir(), &Options{Logger: &quiet, MemTableSize: size})
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("MemTableSize %d: %v, want ErrInvalidOptions", size, err)
			}
			if l != nil {
				l.Close()
			}
		}()
	}
	l, err := Open(t.TempDir(), &Options{Logger: &quiet, MemTableSize: MinMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	c := assetCmds("BTC")[0]
	c.Seq = 1
	if err := l.Append(&c); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// The default logger writes warnings only: opening, recovering, writing
// and closing a healthy log prints nothing. A logger passed at info level
// still receives where Pebble's replay of its log stopped.
func TestDefaultLoggerQuiet(t *testing.T) {
	dir := t.TempDir()
	use := func(opts *Options) {
		t.Helper()
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		state, _, err := l.Recover()
		if err != nil {
			t.Fatal(err)
		}
		c := assetCmds("A" + string(rune('A'+state.Seq())))[0]
		c.Seq = state.Seq() + 1
		if err := l.Append(&c); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	func() {
		defer func() { os.Stderr = stderr }()
		use(nil)
		use(nil)
	}()
	w.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 0 {
		t.Errorf("the default logger wrote:\n%s", out)
	}

	var buf bytes.Buffer
	info := zerolog.New(&buf).Level(zerolog.InfoLevel)
	use(&Options{Logger: &info})
	if !bytes.Contains(buf.Bytes(), []byte("stopped reading at offset")) || bytes.Contains(buf.Bytes(), []byte(`"debug"`)) {
		t.Errorf("an info-level logger got:\n%s", buf.Bytes())
	}
}
