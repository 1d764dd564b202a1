package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// The transfer history: every deposit and withdrawal applied to an
// account, newest kept (as many as its fills: Options.HistoryFills), so
// that a user or the operator can reconcile balances with what the API
// shows (balances = deposits − withdrawals + fills, fees included).
//
// The engine's results do not carry their command: the journal shows
// the read model each deposit and withdrawal (noteTransfer, from
// statsTap) before its result is applied, and the log replay gives it
// the command (Server.replayHistory). A resend of a ref (Result.Duplicate)
// or a refused one is no transfer.
//
// Each transfer is its own key in the metadata store, written and
// deleted (once out of the retention) in the batch that saves the order
// history, with "rm/seq", so that the log replays exactly what the store
// misses. The keys are apart from the history's ("rm/"), which releases
// before them never read:
//
//	"xf/" account(8) seq(8)    version(1) | asset u | amount v | time v | ref
//
// amount > 0 is a deposit, < 0 a withdrawal; ref is its bytes (none: no
// ref).

// transferRec is a deposit or a withdrawal applied to an account.
type transferRec struct {
	Seq     uint64 // the command's sequence number: the transfer's id
	Time    int64
	Account uint64
	Asset   uint32
	Amount  int64 // > 0: a deposit; < 0: a withdrawal
	Ref     engine.Ref
	drop    bool // in a change log: the transfer left the history (retention)
}

var prefixTransfer = []byte("xf/")

const transferVersion = 1

func transferKey(account, seq uint64) []byte {
	k := append(bytes.Clone(prefixTransfer), make([]byte, 16)...)
	binary.BigEndian.PutUint64(k[3:], account)
	binary.BigEndian.PutUint64(k[11:], seq)
	return k
}

func appendTransferRec(b []byte, t *transferRec) []byte {
	b = append(b, transferVersion)
	b = binary.AppendUvarint(b, uint64(t.Asset))
	b = binary.AppendVarint(b, t.Amount)
	b = binary.AppendVarint(b, t.Time)
	return append(b, bytes.TrimRight(t.Ref[:], "\x00")...)
}

func decodeTransferRec(account, seq uint64, b []byte) (transferRec, error) {
	d := dec{b: b}
	if d.byte() != transferVersion {
		d.bad = true
	}
	t := transferRec{Seq: seq, Account: account}
	asset := d.uvarint()
	t.Asset = uint32(asset)
	t.Amount = d.varint()
	t.Time = d.varint()
	if d.bad || seq == 0 || asset == 0 || asset > 1<<32-1 || t.Amount == 0 || t.Amount == math.MinInt64 || len(d.b) > len(t.Ref) ||
		bytes.IndexByte(d.b, 0) >= 0 {
		return transferRec{}, fmt.Errorf("%w: transfer %d of account %d", errHistoryRecord, seq, account)
	}
	copy(t.Ref[:], d.b)
	return t, nil
}

// noteTransfer keeps deposit or withdrawal cmd until its result is
// applied (takeTransfer). The journal calls it, before the result is
// delivered.
func (m *readModel) noteTransfer(cmd *engine.Command) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	if m.ptx == nil {
		m.ptx = map[uint64]transferRec{}
	}
	amt := cmd.Amount
	if cmd.Kind == engine.CmdWithdraw {
		amt = -amt
	}
	m.ptx[cmd.Seq] = transferRec{Seq: cmd.Seq, Time: cmd.Time, Account: cmd.Account, Asset: cmd.Asset, Amount: amt, Ref: cmd.Ref}
}

// takeTransfer removes and returns the transfer noted for seq.
func (m *readModel) takeTransfer(seq uint64) (transferRec, bool) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	t, ok := m.ptx[seq]
	delete(m.ptx, seq)
	if len(m.ptx) > 1024 { // results never delivered (journal failure)
		for k := range m.ptx {
			if k < seq {
				delete(m.ptx, k)
			}
		}
	}
	return t, ok
}

// addTransfer appends t to its account's transfers, dropping the oldest
// beyond keepFills, and logs both (the lock held).
//
// Transfers held at or after t's sequence number are of commands the log
// lost: the engine gives their numbers again only once it resumed from a
// log that ends before the history (Options.AcceptLogLoss). They leave,
// as an order whose id is given again is replaced: keeping them and
// refusing t (as a repeat) listed a transfer the engine no longer had and
// left out the one it acknowledged, for as long as the lost ones were
// the account's newest.
func (m *readModel) addTransfer(t transferRec) {
	if t.Amount == 0 {
		return
	}
	a := m.acct(t.Account)
	if i := m.transferIndex(a, t.Seq-1); i < len(a.transfers) {
		for _, x := range a.transfers[i:] {
			m.chg.transfers.add(transferRec{Seq: x.Seq, Account: x.Account, drop: true})
		}
		m.chg.count(len(a.transfers) - i)
		a.transfers = a.transfers[:i]
	}
	a.transfers = append(a.transfers, t)
	m.chg.transfers.add(t)
	m.chg.count(1)
	if m.keepFills > 0 && len(a.transfers) > m.keepFills {
		m.dropTransfers(a, len(a.transfers)-m.keepFills)
	}
}

// dropTransfers drops the n oldest transfers of a and logs their removal.
func (m *readModel) dropTransfers(a *acctHist, n int) {
	for _, t := range a.transfers[:n] {
		m.chg.transfers.add(transferRec{Seq: t.Seq, Account: t.Account, drop: true})
	}
	m.chg.count(n)
	a.transfers = slices.Delete(a.transfers, 0, n)
}

// transfers appends to dst up to limit transfers of account with id
// (Seq) > after, in asset (0: any).
func (m *readModel) transfers(dst []transferRec, account uint64, asset uint32, after uint64, limit int) []transferRec {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := m.accts[account]
	if a == nil {
		return dst
	}
	for _, t := range a.transfers[m.transferIndex(a, after):] {
		if len(dst) >= limit {
			break
		}
		if asset == 0 || t.Asset == asset {
			dst = append(dst, t)
		}
	}
	return dst
}

// transferIndex returns the index of a's first transfer with Seq > after
// (its transfers ascend by Seq).
func (m *readModel) transferIndex(a *acctHist, after uint64) int {
	i, _ := slices.BinarySearchFunc(a.transfers, after, func(t transferRec, s uint64) int {
		if t.Seq <= s {
			return -1
		}
		return 1
	})
	return i
}

// writeTransfers adds c's transfers to batch b (writeChanges).
func writeTransfers(b *pebble.Batch, c *changes) {
	var v []byte
	c.transfers.each(func(t *transferRec) {
		k := transferKey(t.Account, t.Seq)
		if t.drop {
			_ = b.Delete(k, nil)
			return
		}
		v = appendTransferRec(v[:0], t)
		_ = b.Set(k, v, nil)
	})
}

// loadTransfers reads the transfers of the store, dropping those beyond
// the retention (the next save deletes them).
func (m *readModel) loadTransfers(st *store) error {
	err := st.eachAccountRec(prefixTransfer, func(acct, seq uint64, v []byte) error {
		t, err := decodeTransferRec(acct, seq, v)
		if err == nil {
			a := m.acct(acct)
			a.transfers = append(a.transfers, t)
		}
		return err
	})
	if m.keepFills > 0 {
		for _, a := range m.accts {
			if n := len(a.transfers) - m.keepFills; n > 0 {
				m.dropTransfers(a, n)
			}
		}
	}
	return err
}

// eachAccountRec calls f with each record of the store under prefix, an
// account's record numbered n at key prefix account(8) n(8), in key
// order. It reads them all, and returns the first ten errors f (or a
// key of another length) gave, joined.
func (st *store) eachAccountRec(prefix []byte, f func(acct, n uint64, v []byte) error) error {
	upper := bytes.Clone(prefix)
	upper[len(upper)-1]++
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("server: metadata store: %w", err)
	}
	var errs []error
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		err := fmt.Errorf("%w: key %q", errHistoryRecord, k)
		if len(k) == len(prefix)+16 {
			err = f(binary.BigEndian.Uint64(k[len(prefix):]), binary.BigEndian.Uint64(k[len(prefix)+8:]), it.Value())
		}
		if err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, it.Close())...)
}

// listTransfers handles GET /v1/transfers?asset=&limit=&after=: the
// caller's deposits and withdrawals.
func (s *Server) listTransfers(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.writeTransfers(ctx, acct)
}

// adminTransfers handles GET /v1/admin/accounts/{id}/transfers and GET
// /v1/admin/fees/withdrawals (the fee account's, id 0).
func (s *Server) adminTransfers(ctx *fasthttp.RequestCtx, acct uint64) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	if _, ok := s.eng.Account(acct); !ok {
		writeError(ctx, fmt.Errorf("%w: account %d", errNotFound, acct))
		return
	}
	s.writeTransfers(ctx, acct)
}

// feeWithdrawals handles GET /v1/admin/fees/withdrawals.
func (s *Server) feeWithdrawals(ctx *fasthttp.RequestCtx) { s.adminTransfers(ctx, engine.FeeAccount) }

// writeTransfers answers a page of account acct's transfers, as the
// query's asset, limit and after say.
func (s *Server) writeTransfers(ctx *fasthttp.RequestCtx, acct uint64) {
	var asset uint32
	if a := ctx.QueryArgs().Peek("asset"); a != nil {
		name, ok := engine.MakeName(string(a))
		if ok {
			asset, ok = s.markets().dir.Asset(name)
		}
		if !ok {
			writeError(ctx, fmt.Errorf("%w: asset %q", errNotFound, a))
			return
		}
	}
	l, err := queryLimit(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	after, err := queryAfter(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ts := s.rm.transfers(nil, acct, asset, after, l)
	b := append(make([]byte, 0, 64+160*len(ts)), `{"transfers":[`...)
	for i := range ts {
		t := &ts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = strconvUint(append(b, `{"id":`...), t.Seq)
		typ, amt := "deposit", t.Amount
		if amt < 0 {
			typ, amt = "withdrawal", -amt
		}
		b = appendStr(b, "type", typ)
		b = appendStr(b, "asset", s.assetName(t.Asset))
		b = appendAmount(b, "amount", amt)
		if t.Ref.IsZero() {
			b = append(b, `,"ref":null`...)
		} else {
			b = appendStr(b, "ref", t.Ref.String())
		}
		b = appendTime(b, "time", t.Time)
		b = append(b, '}')
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}
