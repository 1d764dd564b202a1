package server

import (
	"fmt"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

// transfersOf returns "type asset amount ref" of each transfer path
// lists.
func (ts *testServer) transfersOf(path, token string) []string {
	ts.t.Helper()
	var out []string
	for _, x := range ts.must(200, "GET", path, token, "")["transfers"].([]any) {
		m := x.(map[string]any)
		out = append(out, fmt.Sprintf("%v %v %v %v", m["type"], m["asset"], m["amount"], m["ref"]))
	}
	return out
}

// Deposits and withdrawals are listed to their account (and the admin),
// a resent or refused one not; pages follow ids; the newest are kept, as
// many as the fills, in memory and in the store; they survive a restart.
func TestTransfers(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, HistoryFills: 3}
	ts := start(t, dir, opts)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	aid, alice := ts.signup("alice")
	bid, bob := ts.signup("bob")
	dep := func(want int, acct uint64, asset, amount, ref string) {
		ts.must(want, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":%q}`, acct, asset, amount, ref))
	}
	dep(201, aid, "USDT", "100", "d-1")
	dep(200, aid, "USDT", "100", "d-1") // a resend: no second deposit
	dep(201, aid, "BTC", "1.5", "d-2")
	ts.must(201, "POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"30","ref":"w-1"}`)
	ts.must(400, "POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"1000","ref":"w-2"}`) // refused
	dep(201, bid, "USDT", "5", "d-3")
	want := []string{"deposit USDT 100 d-1", "deposit BTC 1.5 d-2", "withdrawal USDT 30 w-1"}
	if got := ts.transfersOf("/v1/transfers", alice); !slices.Equal(got, want) {
		t.Fatalf("alice's transfers %q, want %q", got, want)
	}
	if got := ts.transfersOf(fmt.Sprintf("/v1/admin/accounts/%d/transfers", aid), adminTok); !slices.Equal(got, want) {
		t.Fatalf("the admin sees alice's transfers as %q", got)
	}
	if got := ts.transfersOf("/v1/transfers?asset=USDT", alice); !slices.Equal(got, []string{want[0], want[2]}) {
		t.Fatalf("alice's USDT transfers %q", got)
	}
	if got := ts.transfersOf("/v1/transfers", bob); !slices.Equal(got, []string{"deposit USDT 5 d-3"}) {
		t.Fatalf("bob's transfers %q", got)
	}
	first := ts.must(200, "GET", "/v1/transfers?limit=2", alice, "")["transfers"].([]any)
	last := first[1].(map[string]any)["id"].(float64)
	if got := ts.transfersOf(fmt.Sprintf("/v1/transfers?after=%.0f", last), alice); len(first) != 2 || !slices.Equal(got, want[2:]) {
		t.Fatalf("pages %v then %q", first, got)
	}
	ts.must(400, "GET", "/v1/transfers?limit=0", alice, "")
	ts.must(404, "GET", "/v1/transfers?asset=NOPE", alice, "")
	ts.must(401, "GET", "/v1/transfers", "", "")
	ts.must(403, "GET", fmt.Sprintf("/v1/admin/accounts/%d/transfers", aid), alice, "")
	ts.must(404, "GET", "/v1/admin/accounts/99/transfers", adminTok, "")

	// A fourth: the oldest leaves (HistoryFills 3), from the store too.
	dep(201, aid, "USDT", "7", "d-4")
	want = append(want[1:], "deposit USDT 7 d-4")
	if got := ts.transfersOf("/v1/transfers", alice); !slices.Equal(got, want) {
		t.Fatalf("after a fourth: %q, want %q", got, want)
	}
	ts.stop()
	ts = start(t, dir, opts)
	if got := ts.transfersOf("/v1/transfers", alice); !slices.Equal(got, want) {
		t.Fatalf("after a restart: %q, want %q", got, want)
	}
	if n := storedKeys(t, ts.s.store, prefixTransfer); n != 4 {
		t.Fatalf("%d transfers stored, want 4 (alice's 3, bob's 1)", n)
	}
}

// A transfer acknowledged by a server killed before it saved its history
// is replayed from the log.
func TestTransfersCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	aid, alice := ts.signup("alice")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"d-1"}`, aid))
	ts.must(201, "POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"1","ref":"w-1"}`)
	killChild(t, cmd, ts)
	ts = start(t, dir, nil)
	want := []string{"deposit USDT 100 d-1", "withdrawal USDT 1 w-1"}
	if got := ts.transfersOf("/v1/transfers", alice); !slices.Equal(got, want) {
		t.Fatalf("after a kill: %q, want %q", got, want)
	}
}

// FuzzDecodeTransferRec feeds arbitrary bytes to the decoder of a stored
// transfer: it must not panic, and what it accepts must encode to bytes
// that decode to the same transfer.
func FuzzDecodeTransferRec(f *testing.F) {
	ref, _ := engine.MakeRef("d-1")
	f.Add(appendTransferRec(nil, &transferRec{Seq: 7, Account: 3, Asset: 1, Amount: 100, Time: 5, Ref: ref}))
	f.Add(appendTransferRec(nil, &transferRec{Seq: 7, Account: 3, Asset: 2, Amount: -1, Time: -5}))
	f.Add([]byte{transferVersion, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := decodeTransferRec(3, 7, b)
		if err != nil {
			return
		}
		if x.Amount == 0 || x.Asset == 0 {
			t.Fatalf("accepted %+v", x)
		}
		if y, err := decodeTransferRec(3, 7, appendTransferRec(nil, &x)); err != nil || y != x {
			t.Fatalf("%+v re-decoded as %+v, %v", x, y, err)
		}
	})
}

// After a start with AcceptLogLoss, the engine gives again the sequence
// numbers of the commands the log lost, which the transfer history still
// holds: a transfer acknowledged then is listed (and saved), and the lost
// ones at or after it leave, instead of it being taken for a repeat.
func TestTransfersAfterLogLoss(t *testing.T) {
	save, load := historyStore(t)
	transfer := func(m *readModel, seq uint64, amount int64) {
		cmd := engine.Command{Seq: seq, Time: int64(seq), Kind: engine.CmdDeposit, Account: 1, Asset: 1, Amount: amount}
		m.noteTransfer(&cmd)
		m.apply(&engine.Result{Seq: seq, Kind: engine.CmdDeposit})
	}
	amounts := func(m *readModel) []int64 {
		var out []int64
		for _, x := range m.transfers(nil, 1, 0, 0, 100) {
			out = append(out, x.Amount)
		}
		return out
	}
	m := load()
	transfer(m, 10, 1)
	transfer(m, 12, 2) // then lost by the log, which ends at 10
	save(m)
	m = load()
	transfer(m, 11, 3) // the engine's next command after 10
	if got, want := amounts(m), []int64{1, 3}; !slices.Equal(got, want) {
		t.Fatalf("transfers %v, want %v", got, want)
	}
	transfer(m, 12, 4) // the same number again, as held and stored
	save(m)
	if got, want := amounts(load()), []int64{1, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("transfers read back %v, want %v", got, want)
	}
}

// historyStore opens a metadata store for the test and returns a save of
// a read model's changes into it and a load of a read model from it
// (keeping 10 fills, and as many transfers and copy events).
func historyStore(t *testing.T) (save func(*readModel), load func() *readModel) {
	st, err := openStore(t.TempDir(), &zerolog.Logger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	save = func(m *readModel) {
		c, seq := m.takeChanges()
		if err := st.writeChanges(c, seq, false); err != nil {
			t.Fatal(err)
		}
	}
	load = func() *readModel {
		m := newReadModel()
		m.keepFills = 10
		if _, err := m.loadHistory(st); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return save, load
}
