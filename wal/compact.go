package wal

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// The compact command body of version 4 blocks: the kind, a mask of the
// fields that are not zero, and those fields only, most as varints. A
// typical order is 15–25 bytes instead of the fixed layout's 155.
//
//	kind (u8) | mask (uvarint) | the fields whose bit is set, in bit order | spec | copy
//
//	bit  field                   encoding
//	 0   time                    zigzag varint of time − the block's previous
//	                             command's time (0 before the first); a clear
//	                             bit means the same time
//	 1   account                 uvarint
//	 2   market                  uvarint (≤ 2^32−1)
//	 3   asset                   uvarint (≤ 2^32−1)
//	 4   amount                  zigzag varint
//	 5   order id                uvarint
//	 6   ref                     length (u8, 1–36), then the bytes up to the
//	                             last non-zero one (the rest are zeros)
//	 7   name                    length (u8, 1–24), then the bytes likewise
//	 8   tag                     uvarint
//	 9   order flags             side type tif stp post_only (5 bytes)
//	10   price                   zigzag varint
//	11   stop price              zigzag varint
//	12   quantity                zigzag varint
//	13   quote budget            zigzag varint
//	14   display quantity        zigzag varint
//	15   max profit share        zigzag varint of Copy.MaxProfitShareBps,
//	                             plus 1; set exactly when
//	                             Copy.HasMaxProfitShare (a follow's "terms
//	                             accepted"; records from before the field
//	                             have the bit clear and decode unchanged)
//	16   maker fee               zigzag varint of Spec.MakerFeeBps, plus 1
//	17   taker fee               zigzag varint of Spec.TakerFeeBps, plus 1;
//	                             bits 16 and 17 are set exactly on a
//	                             set_market_fees record (whatever the fees,
//	                             0 included), never on another
//	18   frozen                  uvarint: 2 freezes, 1 lifts a freeze; set
//	                             exactly on a set_account_frozen record,
//	                             never on another
//	19   expire at               zigzag varint of Command.ExpireAt (a
//	                             good-till-date order's expiry time,
//	                             absolute); on place records only, set
//	                             exactly when ExpireAt is not 0
//	20   cause                   uvarint of Command.Cause (the reason a
//	                             cancel-all's cancels report); on
//	                             cancel_all records only, set exactly when
//	                             Cause is not 0
//	21   price band              zigzag varint of Spec.PriceBandBps, plus 1;
//	                             set on every set_price_band record
//	                             (whatever the band, 0 included) and on a
//	                             create_market record exactly when its
//	                             band is not 0, never on another
//	22   max open orders         zigzag varint of Spec.MaxOpenOrders, plus
//	                             1; set on every set_max_open_orders
//	                             record (whatever the limit, 0 included)
//	                             and on a create_market record exactly
//	                             when its limit is not 0, never on another
//
// The market spec (create_market only) and the copy spec (copy-trading
// kinds only) follow in the fixed layout of the older versions, which has
// no room for the fields of bits 15 to 22 (so they are mask bits: old
// records decode as they did, and an older reader refuses a record with
// one as an unknown field bit rather than misread it). That is also how a
// release that adds a command kind keeps earlier releases from replaying
// it: they decode any kind byte and apply an unknown kind as a failed
// command, which changes nothing, so a set_market_fees record read as
// such would be a fee change silently skipped; with bits 16 and 17, which
// every such record has, they refuse it as corrupt instead. A
// set_account_frozen record likewise always has bit 18, which releases
// before it refuse. A good-till-date place has bit 19, so that releases
// before it refuse the record instead of placing the order as GTC,
// never to expire, and a cancel-all with a cause bit 20, which releases
// before it refuse rather than report its cancels as on request. A
// set_price_band record always has bit 21, and a create_market record
// with a band too, so that releases before it refuse them rather than
// skip a band change or open the market without its band; bit 22 does
// the same for limits on open orders. Every
// encoding is canonical: a set bit never carries a zero, varints are
// minimal, so that a decoded body re-encodes to the same bytes, and a
// decoder refuses anything else.
const (
	cTime = 1 << iota
	cAccount
	cMarket
	cAsset
	cAmount
	cOrderID
	cRef
	cName
	cTag
	cFlags
	cPrice
	cStop
	cQty
	cBudget
	cDisplay
	cMaxShare
	cMakerFee
	cTakerFee
	cFrozen
	cExpireAt
	cCause
	cBand
	cOpenLimit
	cAll = 1<<iota - 1
)

// cFees are the bits of a set_market_fees record's fees.
const cFees = cMakerFee | cTakerFee

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// trimZeros returns b up to its last non-zero byte.
func trimZeros(b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return b[:n]
}

// appendCompact appends the compact body of cmd; prevTime is the time of
// the block's previous command (0 for its first).
func appendCompact(b []byte, cmd *engine.Command, prevTime int64) []byte {
	o := &cmd.Order
	ref, name := trimZeros(cmd.Ref[:]), trimZeros(cmd.Name[:])
	// The varint fields by bit (0 where a bit is not a varint); the mask
	// has the bits of those that are not zero, and of the others if set.
	// Set one by one and read by index: a composite literal, or a range
	// over the array's value, copies it with loads wider than the stores
	// that built it, and such a load waits for every earlier store.
	var v [23]uint64
	v[0], v[1], v[2], v[3] = zigzag(cmd.Time-prevTime), cmd.Account, uint64(cmd.Market), uint64(cmd.Asset)
	v[4], v[5], v[8] = zigzag(cmd.Amount), cmd.OrderID, cmd.Tag
	v[10], v[11], v[12], v[13], v[14] = zigzag(o.Price), zigzag(o.StopPrice), zigzag(o.Qty), zigzag(o.QuoteBudget), zigzag(o.DisplayQty)
	if cmd.Copy.HasMaxProfitShare {
		v[15] = zigzag(int64(cmd.Copy.MaxProfitShareBps)) + 1
	}
	if cmd.Kind == engine.CmdSetMarketFees {
		v[16], v[17] = zigzag(int64(cmd.Spec.MakerFeeBps))+1, zigzag(int64(cmd.Spec.TakerFeeBps))+1
	}
	if cmd.Kind == engine.CmdSetAccountFrozen {
		v[18] = 1 + uint64(b2u(cmd.Frozen))
	}
	if cmd.Kind == engine.CmdPlace {
		v[19] = zigzag(cmd.ExpireAt)
	}
	if cmd.Kind == engine.CmdCancelAll {
		v[20] = uint64(cmd.Cause)
	}
	if cmd.Kind == engine.CmdSetPriceBand || (cmd.Kind == engine.CmdCreateMarket && cmd.Spec.PriceBandBps != 0) {
		v[21] = zigzag(int64(cmd.Spec.PriceBandBps)) + 1
	}
	if cmd.Kind == engine.CmdSetMaxOpenOrders || (cmd.Kind == engine.CmdCreateMarket && cmd.Spec.MaxOpenOrders != 0) {
		v[22] = zigzag(int64(cmd.Spec.MaxOpenOrders)) + 1
	}
	var mask uint64
	for i := range v {
		if v[i] != 0 {
			mask |= 1 << i
		}
	}
	if len(ref) > 0 {
		mask |= cRef
	}
	if len(name) > 0 {
		mask |= cName
	}
	if o.Side != 0 || o.Type != 0 || o.TIF != 0 || o.STP != 0 || o.PostOnly {
		mask |= cFlags
	}
	b = append(b, uint8(cmd.Kind))
	b = binary.AppendUvarint(b, mask)
	for m := mask; m != 0; m &= m - 1 {
		switch i := bits.TrailingZeros64(m); i {
		case 6:
			b = append(append(b, uint8(len(ref))), ref...)
		case 7:
			b = append(append(b, uint8(len(name))), name...)
		case 9:
			b = append(b, uint8(o.Side), uint8(o.Type), uint8(o.TIF), uint8(o.STP), b2u(o.PostOnly))
		default:
			b = binary.AppendUvarint(b, v[i])
		}
	}
	if cmd.Kind == engine.CmdCreateMarket {
		b = appendSpec(b, &cmd.Spec)
	}
	if hasCopySpec(cmd.Kind) {
		b = appendCopy(b, &cmd.Copy)
	}
	return b
}

// compactReader reads a compact body, remembering the first damage.
type compactReader struct {
	p   []byte
	err string
}

func (r *compactReader) fail(what string) {
	if r.err == "" {
		r.err = what
	}
	r.p = nil
}

// uvarint reads a minimal uvarint. One byte, the common case, is read
// inline; the rest in uvarintSlow.
func (r *compactReader) uvarint(what string) uint64 {
	if len(r.p) > 0 && r.p[0] < 0x80 {
		v := uint64(r.p[0])
		r.p = r.p[1:]
		return v
	}
	return r.uvarintSlow(what)
}

func (r *compactReader) uvarintSlow(what string) uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 || (n > 1 && r.p[n-1] == 0) {
		r.fail(what + ": bad varint")
		return 0
	}
	r.p = r.p[n:]
	return v
}

// marketRule decodes a market rule of the mask (bits 21 and 22, the
// price band and the limit on open orders): its field v (zigzag, plus 1)
// if has, which every record of its own kind set must have, a
// create_market only when the rule is not 0, and no other record.
func (r *compactReader) marketRule(cmd *engine.Command, set engine.CommandKind, has bool, v uint64, name string) int32 {
	switch {
	case cmd.Kind == set && !has:
		r.fail(name + " missing")
	case has && cmd.Kind != set && cmd.Kind != engine.CmdCreateMarket:
		r.fail(name + " on another kind of record")
	case has:
		n := unzigzag(v - 1)
		if n < math.MinInt32 || n > math.MaxInt32 {
			r.fail(name + " out of range")
		}
		if n == 0 && cmd.Kind == engine.CmdCreateMarket {
			r.fail(name + " 0 under a set bit")
		}
		return int32(n)
	}
	return 0
}

// nonZeroSlow reads a uvarint that a set mask bit says is not zero.
func (r *compactReader) nonZeroSlow(what string) uint64 {
	v := r.uvarint(what)
	if v == 0 && r.err == "" {
		r.fail(what + ": zero under a set bit")
	}
	return v
}

// bytes reads a length-prefixed byte string of 1 to max bytes whose last
// byte is not zero, into dst.
func (r *compactReader) bytes(what string, dst []byte) {
	if len(r.p) == 0 {
		r.fail(what + ": cut short")
		return
	}
	n := int(r.p[0])
	if n == 0 || n > len(dst) || len(r.p) < 1+n || r.p[n] == 0 {
		r.fail(what + ": bad length")
		return
	}
	copy(dst, r.p[1:1+n])
	r.p = r.p[1+n:]
}

func (r *compactReader) take(n int, what string) []byte {
	if len(r.p) < n {
		r.fail(what + ": cut short")
		return nil
	}
	v := r.p[:n]
	r.p = r.p[n:]
	return v
}

// fieldNames names the mask's fields in errors.
var fieldNames = [...]string{"time", "account", "market", "asset", "amount", "order id", "ref", "name",
	"tag", "order flags", "price", "stop price", "quantity", "quote budget", "display quantity", "max profit share",
	"maker fee", "taker fee", "frozen", "expire at", "cause", "price band", "max open orders"}

// decodeCompact decodes the compact body p of command seq into cmd;
// prevTime is the time of the block's previous command (0 for its first).
func decodeCompact(seq uint64, p []byte, cmd *engine.Command, prevTime int64) error {
	*cmd = engine.Command{Seq: seq, Time: prevTime}
	if len(p) == 0 {
		return fmt.Errorf("%w: seq %d: empty record", ErrCorrupt, seq)
	}
	cmd.Kind = engine.CommandKind(p[0])
	r := compactReader{p: p[1:]}
	var mask uint64
	switch q := r.p; {
	case len(q) > 0 && q[0] < 0x80:
		mask, r.p = uint64(q[0]), q[1:]
	case len(q) > 1 && q[0] >= 0x80 && q[1]-1 < 0x7f: // two bytes, minimal
		mask, r.p = uint64(q[0]&0x7f)|uint64(q[1])<<7, q[2:]
	default:
		mask = r.uvarint("field mask")
	}
	if mask&^cAll != 0 {
		r.fail("unknown field bits (a record of a later release?)")
	}
	// The fields in bit order, as encoded; the varints into v (an absent
	// one stays 0, which is also what unzigzag makes of it). Most are one
	// byte, read here inline.
	var v [23]uint64
	o := &cmd.Order
	for m := mask; m != 0 && r.err == ""; m &= m - 1 {
		switch b := bits.TrailingZeros64(m); b {
		case 6:
			r.bytes("ref", cmd.Ref[:])
		case 7:
			r.bytes("name", cmd.Name[:])
		case 9:
			if f := r.take(5, "order flags"); f != nil {
				if f[4] > 1 || (f[0]|f[1]|f[2]|f[3]|f[4]) == 0 {
					r.fail("order flags: not canonical")
				}
				o.Side, o.Type, o.TIF, o.STP, o.PostOnly = book.Side(f[0]), book.OrderType(f[1]), book.TimeInForce(f[2]), book.STPMode(f[3]), f[4] == 1
			}
		default:
			switch q := r.p; {
			case len(q) > 0 && q[0]-1 < 0x7f: // one byte, 1 to 127
				v[b], r.p = uint64(q[0]), q[1:]
			case len(q) > 1 && q[0] >= 0x80 && q[1]-1 < 0x7f: // two bytes, minimal
				v[b], r.p = uint64(q[0]&0x7f)|uint64(q[1])<<7, q[2:]
			default:
				v[b] = r.nonZeroSlow(fieldNames[b])
			}
		}
	}
	if v[2] > math.MaxUint32 || v[3] > math.MaxUint32 {
		r.fail("market or asset out of range")
	}
	cmd.Time += unzigzag(v[0])
	cmd.Account, cmd.Market, cmd.Asset = v[1], uint32(v[2]), uint32(v[3])
	cmd.Amount, cmd.OrderID, cmd.Tag = unzigzag(v[4]), v[5], v[8]
	o.Price, o.StopPrice, o.Qty = unzigzag(v[10]), unzigzag(v[11]), unzigzag(v[12])
	o.QuoteBudget, o.DisplayQty = unzigzag(v[13]), unzigzag(v[14])
	if cmd.Kind == engine.CmdCreateMarket {
		if s := r.take(specSize, "market spec"); s != nil {
			decodeSpec(s, &cmd.Spec)
		}
	}
	if hasCopySpec(cmd.Kind) {
		if s := r.take(copySize, "copy spec"); s != nil {
			decodeCopy(s, &cmd.Copy)
		}
	}
	if mask&cMaxShare != 0 {
		m := unzigzag(v[15] - 1)
		if m < math.MinInt32 || m > math.MaxInt32 {
			r.fail("max profit share out of range")
		}
		cmd.Copy.HasMaxProfitShare, cmd.Copy.MaxProfitShareBps = true, int32(m)
	}
	switch fees := mask & cFees; {
	case cmd.Kind == engine.CmdSetMarketFees && fees != cFees:
		r.fail("fees missing")
	case cmd.Kind != engine.CmdSetMarketFees && fees != 0:
		r.fail("fees on another kind of record")
	case fees != 0:
		maker, taker := unzigzag(v[16]-1), unzigzag(v[17]-1)
		if maker < math.MinInt32 || maker > math.MaxInt32 || taker < math.MinInt32 || taker > math.MaxInt32 {
			r.fail("fee out of range")
		}
		cmd.Spec.MakerFeeBps, cmd.Spec.TakerFeeBps = int32(maker), int32(taker)
	}
	switch frozen := mask&cFrozen != 0; {
	case cmd.Kind == engine.CmdSetAccountFrozen && !frozen:
		r.fail("frozen flag missing")
	case cmd.Kind != engine.CmdSetAccountFrozen && frozen:
		r.fail("frozen flag on another kind of record")
	case frozen && v[18] > 2:
		r.fail("frozen flag not 1 or 2")
	case frozen:
		cmd.Frozen = v[18] == 2
	}
	if mask&cExpireAt != 0 {
		if cmd.Kind != engine.CmdPlace {
			r.fail("expiry on another kind of record")
		}
		cmd.ExpireAt = unzigzag(v[19])
	}
	if mask&cCause != 0 {
		if cmd.Kind != engine.CmdCancelAll {
			r.fail("cause on another kind of record")
		}
		if v[20] > math.MaxUint8 {
			r.fail("cause out of range")
		}
		cmd.Cause = book.Reason(v[20])
	}
	cmd.Spec.PriceBandBps = r.marketRule(cmd, engine.CmdSetPriceBand, mask&cBand != 0, v[21], "price band")
	cmd.Spec.MaxOpenOrders = r.marketRule(cmd, engine.CmdSetMaxOpenOrders, mask&cOpenLimit != 0, v[22], "max open orders")
	if r.err == "" && len(r.p) != 0 {
		r.fail(fmt.Sprintf("%d bytes after the fields", len(r.p)))
	}
	if r.err != "" {
		return fmt.Errorf("%w: seq %d: %s record: %s", ErrCorrupt, seq, cmd.Kind, r.err)
	}
	return nil
}
