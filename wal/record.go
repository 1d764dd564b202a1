package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Log records. Each sequenced command is one Pebble key/value pair:
//
//	key:   'c' | seq (u64, big-endian, so keys sort by sequence)
//
//	value: +---------+------+--------------------------------------+--------+
//	       | version | kind | command fields (little-endian)       | crc32c |
//	       | u8 = 1  | u8   | time, account, market, asset, amount,| u32    |
//	       |         |      | order id, ref[36], name[24], tag,    |        |
//	       |         |      | order (side type tif stp post_only   |        |
//	       |         |      | price stop qty budget display),      |        |
//	       |         |      | market spec (create_market only),    |        |
//	       |         |      | copy spec (copy-trading kinds only:  |        |
//	       |         |      | leader relation value max_quote mode |        |
//	       |         |      | close slippage stop_loss share)      |        |
//	       +---------+------+--------------------------------------+--------+
//
// The CRC-32C (Castagnoli) covers the key's sequence number and every value
// byte before it, so a record that is damaged, cut short or stored under
// the wrong key fails its check. The version byte lets later releases add
// fields; a reader refuses versions it does not know.

const recordVersion = 1

const keyPrefix = 'c'

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt reports a log record that fails its checksum or cannot be
// decoded.
var ErrCorrupt = errors.New("wal: corrupt record")

// commandKey returns the Pebble key of sequence number seq.
func commandKey(dst []byte, seq uint64) []byte {
	dst = append(dst, keyPrefix)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// keySeq parses a command key.
func keySeq(key []byte) (uint64, bool) {
	if len(key) != 9 || key[0] != keyPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}

// AppendRecord appends the encoded value of cmd (whose Seq must be set)
// to dst.
func AppendRecord(dst []byte, cmd *engine.Command) []byte {
	start := len(dst)
	b := append(dst, recordVersion, uint8(cmd.Kind))
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(cmd.Time))
	b = le.AppendUint64(b, cmd.Account)
	b = le.AppendUint32(b, cmd.Market)
	b = le.AppendUint32(b, cmd.Asset)
	b = le.AppendUint64(b, uint64(cmd.Amount))
	b = le.AppendUint64(b, cmd.OrderID)
	b = append(b, cmd.Ref[:]...)
	b = append(b, cmd.Name[:]...)
	b = le.AppendUint64(b, cmd.Tag)
	o := &cmd.Order
	b = append(b, uint8(o.Side), uint8(o.Type), uint8(o.TIF), uint8(o.STP), b2u(o.PostOnly))
	for _, v := range [...]int64{o.Price, o.StopPrice, o.Qty, o.QuoteBudget, o.DisplayQty} {
		b = le.AppendUint64(b, uint64(v))
	}
	if cmd.Kind == engine.CmdCreateMarket {
		sp := &cmd.Spec
		b = le.AppendUint32(b, sp.Base)
		b = le.AppendUint32(b, sp.Quote)
		r := &sp.Rules
		for _, v := range [...]int64{sp.BaseScale, sp.QuoteScale, r.TickSize, r.LotSize, r.MinQty, r.MaxQty, r.MinNotional, r.MaxPrice} {
			b = le.AppendUint64(b, uint64(v))
		}
		b = le.AppendUint32(b, uint32(sp.MakerFeeBps))
		b = le.AppendUint32(b, uint32(sp.TakerFeeBps))
	}
	if hasCopySpec(cmd.Kind) {
		c := &cmd.Copy
		b = le.AppendUint64(b, c.Leader)
		b = le.AppendUint64(b, c.Relation)
		b = le.AppendUint64(b, uint64(c.Value))
		b = le.AppendUint64(b, uint64(c.MaxOrderQuote))
		b = append(b, uint8(c.Mode), uint8(c.Close))
		b = le.AppendUint32(b, uint32(c.SlippageBps))
		b = le.AppendUint32(b, uint32(c.StopLossBps))
		b = le.AppendUint32(b, uint32(c.ProfitShareBps))
	}
	return le.AppendUint32(b, recordCRC(cmd.Seq, b[start:]))
}

func b2u(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// recordCRC is the CRC-32C of seq (8 bytes, big-endian) followed by body.
// The 8 key bytes go through the table by hand: a slice of a local array
// handed to package crc32 escapes, and this runs for every record.
func recordCRC(seq uint64, body []byte) uint32 {
	crc := ^uint32(0)
	for shift := 56; shift >= 0; shift -= 8 {
		crc = crcTable[byte(crc)^byte(seq>>shift)] ^ crc>>8
	}
	return crc32.Update(^crc, crcTable, body)
}

const (
	fixedSize = 2 + 8*2 + 4*2 + 8*2 + 36 + 24 + 8 + 5 + 8*5
	specSize  = 4*2 + 8*8 + 4*2
	copySize  = 8*4 + 2 + 4*3
)

// hasCopySpec reports whether records of kind k carry a copy spec.
func hasCopySpec(k engine.CommandKind) bool {
	return k >= engine.CmdSetLeaderProfile && k <= engine.CmdSettle
}

// RecordSize returns the encoded size of a record of kind k.
func RecordSize(k engine.CommandKind) int {
	n := fixedSize + 4
	if k == engine.CmdCreateMarket {
		n += specSize
	}
	if hasCopySpec(k) {
		n += copySize
	}
	return n
}

// DecodeRecord decodes the value stored under sequence number seq. It
// returns an error wrapping ErrCorrupt for any damage; it never panics.
func DecodeRecord(seq uint64, v []byte) (engine.Command, error) {
	var cmd engine.Command
	if len(v) < fixedSize+4 {
		return cmd, fmt.Errorf("%w: seq %d: %d bytes", ErrCorrupt, seq, len(v))
	}
	body := v[:len(v)-4]
	if recordCRC(seq, body) != binary.LittleEndian.Uint32(v[len(v)-4:]) {
		return cmd, fmt.Errorf("%w: seq %d: checksum mismatch", ErrCorrupt, seq)
	}
	if body[0] != recordVersion {
		return cmd, fmt.Errorf("%w: seq %d: unknown version %d", ErrCorrupt, seq, body[0])
	}
	cmd.Seq = seq
	cmd.Kind = engine.CommandKind(body[1])
	want := RecordSize(cmd.Kind) - 4
	if len(body) != want {
		return cmd, fmt.Errorf("%w: seq %d: %s record of %d bytes, want %d", ErrCorrupt, seq, cmd.Kind, len(body), want)
	}
	le := binary.LittleEndian
	p := body[2:]
	u64 := func() uint64 { v := le.Uint64(p); p = p[8:]; return v }
	u32 := func() uint32 { v := le.Uint32(p); p = p[4:]; return v }
	cmd.Time = int64(u64())
	cmd.Account = u64()
	cmd.Market = u32()
	cmd.Asset = u32()
	cmd.Amount = int64(u64())
	cmd.OrderID = u64()
	p = p[copy(cmd.Ref[:], p):]
	p = p[copy(cmd.Name[:], p):]
	cmd.Tag = u64()
	o := &cmd.Order
	if p[4] > 1 {
		return cmd, fmt.Errorf("%w: seq %d: post-only flag %d", ErrCorrupt, seq, p[4])
	}
	o.Side, o.Type, o.TIF, o.STP, o.PostOnly = book.Side(p[0]), book.OrderType(p[1]), book.TimeInForce(p[2]), book.STPMode(p[3]), p[4] == 1
	p = p[5:]
	o.Price, o.StopPrice, o.Qty, o.QuoteBudget, o.DisplayQty = int64(u64()), int64(u64()), int64(u64()), int64(u64()), int64(u64())
	if cmd.Kind == engine.CmdCreateMarket {
		sp := &cmd.Spec
		sp.Base, sp.Quote = u32(), u32()
		sp.BaseScale, sp.QuoteScale = int64(u64()), int64(u64())
		r := &sp.Rules
		r.TickSize, r.LotSize, r.MinQty, r.MaxQty, r.MinNotional, r.MaxPrice = int64(u64()), int64(u64()), int64(u64()), int64(u64()), int64(u64()), int64(u64())
		sp.MakerFeeBps, sp.TakerFeeBps = int32(u32()), int32(u32())
	}
	if hasCopySpec(cmd.Kind) {
		c := &cmd.Copy
		c.Leader, c.Relation, c.Value, c.MaxOrderQuote = u64(), u64(), int64(u64()), int64(u64())
		c.Mode, c.Close = engine.CopyMode(p[0]), engine.ClosePolicy(p[1])
		p = p[2:]
		c.SlippageBps, c.StopLossBps, c.ProfitShareBps = int32(u32()), int32(u32()), int32(u32())
	}
	return cmd, nil
}
