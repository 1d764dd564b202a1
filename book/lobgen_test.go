package book_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/bench"
	"github.com/instant-social-trading/ist/book"
)

// lobgenOps is the length of the stream TestLobgenReplay generates.
const lobgenOps = 200_000

// TestLobgenReplay replays a stream of the canonical generator
// (../shared/tools/lobgen next to the module root) and checks the book's
// end state against the stream's #end lines exactly. Checkouts without
// lobgen skip it.
func TestLobgenReplay(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "tools", "lobgen"))
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Skipf("lobgen not available (%s): %v", dir, err)
	}
	if testing.Short() {
		t.Skip("short mode: skipping lobgen replay")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found:", err)
	}

	out := filepath.Join(t.TempDir(), "ops.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", ".", "-o", out, "-n", "200000")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running lobgen: %v\n%s", err, msg)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := bench.ParseLOB(fh)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Replay) != lobgenOps || len(f.End) == 0 {
		t.Fatalf("lobgen stream: %d replay ops, %d #end keys", len(f.Replay), len(f.End))
	}

	b, err := book.New(book.Rules{}, &book.Options{Capacity: f.MaxLive()})
	if err != nil {
		t.Fatal(err)
	}
	var c bench.Counter
	evs := make([]book.Event, 0, 256)
	for sec, ops := range [][]bench.Op{f.Seed, f.Replay} {
		for i := range ops {
			evs, err = bench.Apply(b, evs[:0], &ops[i])
			if err != nil {
				t.Fatalf("section %d op %d %+v: %v", sec, i, ops[i], err)
			}
			c.Add(evs)
		}
		if err := b.Check(); err != nil {
			t.Fatalf("after section %d: %v", sec, err)
		}
	}
	got := bench.Measure(b, &c)
	for _, m := range f.End.Compare(got) {
		t.Error(m)
	}
	if t.Failed() {
		t.Logf("want %s", f.End)
		t.Logf("got  %s", got)
	}
}
