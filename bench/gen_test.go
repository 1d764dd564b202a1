package bench

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
)

func TestGenerateDeterministic(t *testing.T) {
	a := GenerateBook(7, 1000, 20_000)
	b := GenerateBook(7, 1000, 20_000)
	if !lobEqual(a, b) {
		t.Fatal("same seed, different streams")
	}
	c := GenerateBook(8, 1000, 20_000)
	if lobEqual(a, c) {
		t.Fatal("different seeds, same stream")
	}
	if len(a.Seed) != 1000 || len(a.Replay) != 20_000 {
		t.Fatalf("sizes %d %d", len(a.Seed), len(a.Replay))
	}
}

func TestGenerateMix(t *testing.T) {
	f := GenerateBook(3, 10_000, 200_000)
	var n [4]int
	ids := map[uint64]bool{}
	for _, op := range f.Seed {
		if op.Kind != OpLimit || op.Price <= 0 || op.Qty <= 0 {
			t.Fatalf("bad seed op %+v", op)
		}
		ids[op.ID] = true
	}
	for _, op := range f.Replay {
		n[op.Kind]++
		if op.Kind != OpCancel {
			if ids[op.ID] {
				t.Fatalf("id %d reused", op.ID)
			}
			ids[op.ID] = true
		}
	}
	pct := func(k OpKind) int { return n[k] * 100 / len(f.Replay) }
	if p := pct(OpLimit); p < 56 || p > 65 {
		t.Errorf("limit %d%%", p)
	}
	if p := pct(OpCancel); p < 25 || p > 33 {
		t.Errorf("cancel %d%%", p)
	}
	if p := pct(OpMarket); p < 8 || p > 12 {
		t.Errorf("market %d%%", p)
	}
	e := f.End
	if e["trades"] == 0 || e["resting_orders"] == 0 || e["best_bid"] >= e["best_ask"] {
		t.Errorf("implausible end state %v", e)
	}
	// The stream replays on the reference with valid cancels and the same
	// end state (apply panics on an invalid cancel).
	r := newRefBook()
	for i := range f.Seed {
		r.apply(&f.Seed[i])
	}
	for i := range f.Replay {
		r.apply(&f.Replay[i])
	}
	if got := r.end(); !maps.Equal(got, e) {
		t.Errorf("replay end %v, generated %v", got, e)
	}
}

func TestRefBook(t *testing.T) {
	f, err := ParseLOB(bytes.NewReader([]byte(`#seed
L 1 S 101 5
L 2 S 101 3
L 3 S 103 4
L 4 B 99 2
L 5 B 98 7
#replay
L 6 B 101 6
C 3
L 7 S 97 4
M 8 B 100
L 9 S 120 1
L 10 B 90 1
C 9
L 11 S 120 2
L 12 S 110 3
#end traded_qty=12 trades=5 resting_orders=4
#end bid_levels=2 bid_qty=6 best_bid=98
#end ask_levels=2 ask_qty=5 best_ask=110
`)))
	if err != nil {
		t.Fatal(err)
	}
	// 6 takes 5 from 1 and 1 from 2 (2 trades, 6); 7 takes 2 from 4 and 2
	// from 5 (2 trades, 4); 8 takes 2 from 2 (1 trade, 2); total 12 in 5.
	r := newRefBook()
	for i := range f.Seed {
		r.apply(&f.Seed[i])
	}
	for i := range f.Replay {
		r.apply(&f.Replay[i])
	}
	if msgs := f.End.Compare(r.end()); msgs != nil {
		t.Errorf("reference end state: %q (got %v)", msgs, r.end())
	}
}

// lobgenDir returns the canonical generator's directory, or "" if this
// checkout has none (lobgen lives outside the module, next to it).
func lobgenDir() string {
	d, err := filepath.Abs(filepath.Join("..", "..", "shared", "tools", "lobgen"))
	if err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(d, "main.go")); err != nil {
		return ""
	}
	return d
}

// TestRefBookAgainstLobgen checks the generator's reference matcher
// against lobgen's end state, when lobgen is available.
func TestRefBookAgainstLobgen(t *testing.T) {
	dir := lobgenDir()
	if dir == "" {
		t.Skip("../shared/tools/lobgen not found")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out := filepath.Join(t.TempDir(), "ops.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", ".", "-o", out, "-n", "100000")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lobgen: %v\n%s", err, msg)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := ParseLOB(fh)
	if err != nil {
		t.Fatal(err)
	}
	r := newRefBook()
	for i := range f.Seed {
		r.apply(&f.Seed[i])
	}
	for i := range f.Replay {
		r.apply(&f.Replay[i])
	}
	if msgs := f.End.Compare(r.end()); msgs != nil {
		t.Errorf("reference vs lobgen: %q", msgs)
	}
}

// TestGenerateOnBook replays a generated stream on the real book and
// checks the end state the generator's reference computed.
func TestGenerateOnBook(t *testing.T) {
	f := GenerateBook(11, 5_000, 100_000)
	b, err := book.New(book.Rules{}, &book.Options{Capacity: f.MaxLive()})
	if err != nil {
		t.Fatal(err)
	}
	var c Counter
	var evs []book.Event
	for _, ops := range [][]Op{f.Seed, f.Replay} {
		for i := range ops {
			evs, err = Apply(b, evs[:0], &ops[i])
			if err != nil {
				t.Fatalf("op %+v: %v", ops[i], err)
			}
			c.Add(evs)
		}
	}
	if c.Rejects != 0 {
		t.Errorf("%d rejections", c.Rejects)
	}
	if msgs := f.End.Compare(Measure(b, &c)); msgs != nil {
		t.Errorf("book vs generator reference: %q", msgs)
	}
	if err := b.Check(); err != nil {
		t.Error(err)
	}
}
