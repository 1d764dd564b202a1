package server

import (
	"encoding/binary"
	"fmt"

	"github.com/instant-social-trading/ist/engine"
)

// Trade ids.
//
// The engine counts the trades it executes (engine.State.Trades, part of
// its state and of its snapshots), and every result carries the count
// before its command (engine.Outcome.Trades). The k-th trade event of a
// result (k from 1, over all its events, mirrored copy-trading fills
// included) has the id
//
//	base + res.Trades + k
//
// the same wherever it is shown (the POST answer, fills, public trades,
// streams), the same when the log is replayed after a restart, unique,
// and increasing in sequence order whatever the number of trades in one
// command. base is the data directory's (keyTradeBase): 0 when istd
// created it, so ids count trades from 1; for a data directory written
// by an earlier release, which numbered trades sequence × 65,536 + the
// event's index, (the last sequence number then + 1) × 65,536, above
// every id that release gave, so that `after=` paging carries on across
// the upgrade. Either way ids stay below 2^53 (exact in JSON) for any
// realistic history: from 0, for 2^53 trades (285 years at a million a
// second); after an upgrade, base is below 2^53 if the earlier release
// stopped before sequence 2^37 − 1 (from 2^37 its own ids passed 2^53),
// and leaves room for 2^53 − base trades: 2^53 − 2^46, about 9 × 10^15,
// after a history of a billion (2^30) commands.

// tradeID returns the id of the k-th trade event (k from 1) of res, for
// a data directory with trade id base base.
func tradeID(base uint64, res *engine.Result, k int) uint64 {
	return base + res.Trades + uint64(k)
}

// keyTradeBase holds the data directory's trade id base (u64, big
// endian), written once, by the first start that finds none.
var keyTradeBase = []byte("trade/base")

// upgradeTradeBase is the trade id base for a data directory an earlier
// release wrote up to sequence number last (0: none did): above every id
// that release gave, last × 65,536 + 65,535.
func upgradeTradeBase(last uint64) uint64 {
	if last == 0 {
		return 0
	}
	return (last + 1) << 16
}

// tradeBase returns the data directory's trade id base, the one recorded
// or, with unrecorded true, the one to record (setTradeBase) on the first
// start: 0 for a new data directory, upgradeTradeBase(last)
// for one an earlier release wrote, where last is the highest sequence
// number the directory knows (of the history, the log and its
// snapshots): every command the earlier release answered is at or before
// it. It is called before the log is replayed, which numbers trades.
func (st *store) tradeBase(last uint64) (base uint64, unrecorded bool, err error) {
	v, err := st.get(keyTradeBase)
	if err != nil {
		return 0, false, err
	}
	if v != nil {
		if len(v) != 8 {
			return 0, false, fmt.Errorf("server: metadata store: trade id base of %d bytes", len(v))
		}
		return binary.BigEndian.Uint64(v), false, nil
	}
	return upgradeTradeBase(last), true, nil
}

// setTradeBase records the data directory's trade id base. Open records
// it only once the start cannot be refused any more: an earlier release
// started after a refusal gives ids above a base computed before it.
func (st *store) setTradeBase(base uint64) error {
	return st.set(keyTradeBase, binary.BigEndian.AppendUint64(nil, base))
}
