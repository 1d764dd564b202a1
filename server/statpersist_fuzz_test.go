package server

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// FuzzDecodeLeaderStats feeds arbitrary bytes to the decoder of the
// leader statistics as one value ("stats/leaders" in the metadata store,
// as releases before the records saved them; Open reads it once): it
// must not panic, and statistics it accepts must
// serve every read (the leaderboard in each sort and window, each
// leader's row, each relation's NAV and close) and take further results
// without a panic, and encode to bytes that decode to the same state.
// The seeds are the statistics of copyFeed, encoded.
func FuzzDecodeLeaderStats(f *testing.F) {
	feed := copyFeed(&testing.T{})
	data, _, err := feed.ls.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	v1 := append([]byte{1}, data[1:]...)
	f.Add(v1)
	empty, _, _ := newLeaderStats().encode()
	f.Add(empty)
	f.Add([]byte{statsVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		ls := newLeaderStats()
		if ls.decode(data) != nil {
			return
		}
		again, _, err := ls.encode()
		if err != nil {
			t.Fatalf("accepted statistics do not encode: %v", err)
		}
		ls2 := newLeaderStats()
		if err := ls2.decode(again); err != nil {
			t.Fatalf("re-encoded statistics refused: %v", err)
		}
		if !sameStats(t, &ls.st, &ls2.st) {
			t.Fatalf("statistics re-decode differently:\n%+v\n%+v", ls.st, ls2.st)
		}
		exerciseStats(t, ls)
	})
}

// exerciseStats reads every board, leader row and relation of ls, then
// applies results after those it holds: a trade in market 1, a deposit,
// a sweep of every series a day later. Statistics a load or decode
// accepted must take all of it without a panic.
func exerciseStats(t *testing.T, ls *leaderStats) {
	for _, sortKey := range []string{"roi", "pnl", "followers", "aum"} {
		for _, w := range []statWindow{window7d, window30d, windowAll} {
			ls.board(sortKey, w, 0)
		}
	}
	for id := range ls.st.Leaders {
		ls.row(id, windowAll)
	}
	for id := range ls.st.Relations {
		ls.closed(id)
		ls.relationNAV(id)
	}
	g := &statFeed{t: t, ls: ls, seq: ls.st.Seq, now: ls.st.Now}
	g.deposit(1, usdt, 10)
	g.trade(1, book.Buy, 10, 1, 0)
	g.advance(time.Duration(day))
	g.do(engine.Command{Kind: engine.CmdDeposit, Account: 4, Asset: usdt, Amount: 1}, 0)
}

// sameStats reports whether a and b hold the same statistics: what they
// persist, not the bookkeeping of what changed since a save (series.same,
// statAccount.changed), which encoding them updates.
func sameStats(t *testing.T, a, b *statsState) bool {
	t.Helper()
	dec := func(st *statsState) statsState {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(st); err != nil {
			t.Fatal(err)
		}
		var out statsState
		if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return reflect.DeepEqual(dec(a), dec(b))
}
