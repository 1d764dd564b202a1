package wal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// randomCommand returns a command whose fields are zero, small, large or
// extreme at random, for round trips of every field's encoding.
func randomCommand(r *rand.Rand, seq uint64) engine.Command {
	i64 := func() int64 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return int64(r.IntN(200)) - 100
		case 2:
			return r.Int64()
		case 3:
			return -r.Int64()
		case 4:
			return math.MinInt64
		default:
			return math.MaxInt64
		}
	}
	u64 := func() uint64 { return uint64(i64()) }
	u32 := func() uint32 { return uint32(u64()) }
	u8 := func() uint8 { return uint8(r.IntN(4)) }
	c := engine.Command{Kind: engine.CommandKind(r.IntN(40)), Seq: seq, Time: i64(), Account: u64(), Market: u32(),
		Asset: u32(), Amount: i64(), OrderID: u64(), Tag: u64(),
		Order: book.Order{Side: book.Side(u8()), Type: book.OrderType(u8()), TIF: book.TimeInForce(u8()),
			STP: book.STPMode(u8()), PostOnly: r.IntN(2) == 0, Price: i64(), StopPrice: i64(), Qty: i64(),
			QuoteBudget: i64(), DisplayQty: i64()}}
	for i := range r.IntN(len(c.Ref) + 1) {
		c.Ref[i] = byte(r.IntN(3)) // zeros inside and at the end too
	}
	for i := range r.IntN(len(c.Name) + 1) {
		c.Name[i] = byte(r.IntN(256))
	}
	if c.Kind == engine.CmdCreateMarket {
		c.Spec = engine.MarketSpec{Base: u32(), Quote: u32(), BaseScale: i64(), QuoteScale: i64(),
			MakerFeeBps: int32(u32()), TakerFeeBps: int32(u32()), PriceBandBps: int32(u32()), MaxOpenOrders: int32(u32()),
			Rules: book.Rules{TickSize: i64(), LotSize: i64(), MinQty: i64(), MaxQty: i64(), MinNotional: i64(), MaxPrice: i64()}}
	}
	if c.Kind == engine.CmdSetPriceBand {
		c.Spec.PriceBandBps = int32(u32())
	}
	if c.Kind == engine.CmdSetMaxOpenOrders {
		c.Spec.MaxOpenOrders = int32(u32())
	}
	if hasCopySpec(c.Kind) {
		c.Copy = engine.CopySpec{Leader: u64(), Relation: u64(), Value: i64(), MaxOrderQuote: i64(),
			Mode: engine.CopyMode(u8()), Close: engine.ClosePolicy(u8()), SlippageBps: int32(u32()),
			StopLossBps: int32(u32()), ProfitShareBps: int32(u32())}
		if r.IntN(2) == 0 {
			c.Copy.HasMaxProfitShare, c.Copy.MaxProfitShareBps = true, int32(u32())
		}
	}
	return c
}

// A follow's maximum profit share rate (mask bit 15) round-trips, "at
// most 0%" included; records written before the field (golden, from the
// code of commit 65aabdd) decode as they did and re-encode to the same
// bytes, with no maximum.
func TestCompactMaxProfitShare(t *testing.T) {
	follow := engine.Command{Kind: engine.CmdFollow, Seq: 42, Time: 1_700_000_000_000_000_007, Account: 6, Asset: 2,
		Amount: 1 << 40, Tag: 77, Copy: engine.CopySpec{Leader: 5, Value: engine.ValueOne, MaxOrderQuote: 1 << 33,
			Mode: engine.CopyProportional, SlippageBps: 100, StopLossBps: 2000}}
	golden := []string{
		"3a0e038080d0e2c6bfce972f05000000000000000000000000000000000000000000000000000000000000000000000000000000000000e8030000596e8354",
		"3b0f9b020e06028080808080404d0500000000000000000000000000000000e1f505000000000000000002000000010064000000d007000000000000acc006cd",
	}
	old := []engine.Command{{Kind: engine.CmdSetLeaderProfile, Seq: 41, Time: 1_700_000_000_000_000_000, Account: 5,
		Copy: engine.CopySpec{ProfitShareBps: 1000}}, follow}
	recs := make([][]byte, len(golden))
	for i, h := range golden {
		recs[i], _ = hex.DecodeString(h)
	}
	got, err := DecodeBlockRecords(41, recs)
	if err != nil || len(got) != 2 || got[0] != old[0] || got[1] != old[1] {
		t.Fatalf("golden records: %v\n got %+v\nwant %+v", err, got, old)
	}
	for i, rec := range BlockRecords(old) {
		if h := hex.EncodeToString(rec); h != golden[i] {
			t.Fatalf("record %d encodes as %s, want the golden %s", i, h, golden[i])
		}
	}
	for _, max := range []int32{0, 1, 1000, engine.MaxProfitShareBps, -1, math.MinInt32, math.MaxInt32} {
		with := follow
		with.Copy.HasMaxProfitShare, with.Copy.MaxProfitShareBps = true, max
		recs := BlockRecords([]engine.Command{with})
		got, err := DecodeBlockRecords(with.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != with {
			t.Fatalf("max %d: %v\n got %+v\nwant %+v", max, err, got, with)
		}
	}
}

// Blocks of random commands round-trip exactly, with times that stay,
// rise, fall and wrap between commands.
func TestCompactRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for round := range 300 {
		cmds := make([]engine.Command, 1+r.IntN(20))
		for i := range cmds {
			cmds[i] = randomCommand(r, 1000+uint64(i))
			if i > 0 && r.IntN(2) == 0 {
				cmds[i].Time = cmds[i-1].Time
			}
		}
		key, v := encodeBlock(cmds)
		got, err := decodeEntry(key, v, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i := range cmds {
			if got[i] != cmds[i] {
				t.Fatalf("round %d, command %d:\n got %+v\nwant %+v", round, i, got[i], cmds[i])
			}
		}
		recs := BlockRecords(cmds)
		if !bytes.Equal(bytes.Join(recs, nil), v[blockHeaderCRC:]) {
			t.Fatalf("round %d: BlockRecords differ from the block's records", round)
		}
		if again, err := DecodeBlockRecords(cmds[0].Seq, recs); err != nil || len(again) != len(cmds) || again[len(cmds)-1] != cmds[len(cmds)-1] {
			t.Fatalf("round %d: DecodeBlockRecords: %v", round, err)
		}
	}
}

// A typical order is a small fraction of the fixed layout.
func TestCompactSize(t *testing.T) {
	ref, _ := engine.MakeRef("1234567")
	cmds := []engine.Command{
		{Kind: engine.CmdPlace, Seq: 1, Time: 1_700_000_000_000_000_000, Account: 42, Market: 1, Ref: ref,
			Order: book.Order{Side: book.Sell, Price: 1010, Qty: 37}},
		{Kind: engine.CmdPlace, Seq: 2, Time: 1_700_000_000_000_000_000, Account: 42, Market: 1, Ref: ref,
			Order: book.Order{Side: book.Sell, Price: 1010, Qty: 37}},
		{Kind: engine.CmdCancel, Seq: 3, Time: 1_700_000_000_000_000_000, Account: 42, Market: 1, Ref: ref},
	}
	recs := BlockRecords(cmds)
	if n := len(recs[1]); n > 26 {
		t.Errorf("a limit order with a client order id takes %d bytes", n)
	}
	if n := len(recs[2]); n > 18 {
		t.Errorf("a cancel by client order id takes %d bytes", n)
	}
	if n := len(recs[0]); n != len(recs[1])+9 {
		t.Errorf("the block's first command takes %d bytes, %d more than the next: want its time's 9", n, n-len(recs[1]))
	}
}

// Non-canonical or damaged bodies are refused, with the command's
// sequence number, even with a valid CRC.
func TestCompactRefused(t *testing.T) {
	place := []byte{uint8(engine.CmdPlace)}
	with := func(mask uint64, rest ...byte) []byte {
		return append(binary.AppendUvarint(bytes.Clone(place), mask), rest...)
	}
	for name, body := range map[string][]byte{
		"empty":                {},
		"mask cut short":       append(place, 0x80),
		"unknown mask bit":     append(place, 0x80, 0x80, 0x80, 0x04), // bit 23
		"limit on a place":     with(cOpenLimit, 3),
		"limit missing":        {uint8(engine.CmdSetMaxOpenOrders), cMarket, 1},
		"limit over int32":     append(binary.AppendUvarint([]byte{uint8(engine.CmdSetMaxOpenOrders)}, cOpenLimit), binary.AppendUvarint(nil, zigzag(math.MaxInt32+1)+1)...),
		"band on a place":      with(cBand, 3),
		"band missing":         {uint8(engine.CmdSetPriceBand), cMarket, 1},
		"band over int32":      append(binary.AppendUvarint([]byte{uint8(engine.CmdSetPriceBand)}, cBand), binary.AppendUvarint(nil, zigzag(math.MaxInt32+1)+1)...),
		"expiry on a cancel":   append(binary.AppendUvarint([]byte{uint8(engine.CmdCancel)}, cExpireAt), 2),
		"expiry zero":          with(cExpireAt, 0),
		"cause on a place":     with(cCause, 23),
		"cause zero":           append(binary.AppendUvarint([]byte{uint8(engine.CmdCancelAll)}, cCause), 0),
		"frozen on a place":    with(cFrozen, 2),
		"frozen missing":       {uint8(engine.CmdSetAccountFrozen), cAccount, 1},
		"frozen 3":             append(binary.AppendUvarint([]byte{uint8(engine.CmdSetAccountFrozen)}, cFrozen), 3),
		"frozen 0":             append(binary.AppendUvarint([]byte{uint8(engine.CmdSetAccountFrozen)}, cFrozen), 0),
		"fees on a place":      with(cFees, 1, 1),
		"fees missing":         {uint8(engine.CmdSetMarketFees), cMarket, 1},
		"taker fee missing":    append([]byte{uint8(engine.CmdSetMarketFees)}, binary.AppendUvarint(nil, cMakerFee)[:]...),
		"fee over int32":       append(binary.AppendUvarint([]byte{uint8(engine.CmdSetMarketFees)}, cFees), append(binary.AppendUvarint(nil, zigzag(math.MaxInt32+1)+1), 1)...),
		"max share over int32": with(cMaxShare, binary.AppendUvarint(nil, zigzag(math.MaxInt32+1)+1)...),
		"overlong mask":        append(place, 0x82, 0x00, 1),
		"zero under a set bit": with(cAccount, 0),
		"overlong varint":      with(cAccount, 0x81, 0x00),
		"account cut short":    with(cAccount, 0x81),
		"market over 32 bits":  with(cMarket, 0x80, 0x80, 0x80, 0x80, 0x10),
		"ref length 0":         with(cRef, 0),
		"ref length 37":        with(cRef, append([]byte{37}, bytes.Repeat([]byte{1}, 37)...)...),
		"ref ends in zero":     with(cRef, 2, 'a', 0),
		"ref cut short":        with(cRef, 3, 'a'),
		"name length 25":       with(cName, append([]byte{25}, bytes.Repeat([]byte{1}, 25)...)...),
		"flags all zero":       with(cFlags, 0, 0, 0, 0, 0),
		"post-only 2":          with(cFlags, 0, 0, 0, 0, 2),
		"flags cut short":      with(cFlags, 1, 0),
		"trailing byte":        with(cAccount, 1, 0),
		"spec missing":         {uint8(engine.CmdCreateMarket), 0},
		"copy spec cut short":  append([]byte{uint8(engine.CmdFollow), 0}, make([]byte, copySize-1)...),
	} {
		var c engine.Command
		err := decodeCompact(77, body, &c, 0)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := "seq 77"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("%s: %v does not name %q", name, err, want)
		}
	}
}

// FuzzDecodeCompact: the compact body decoder never panics, and a body
// it accepts re-encodes to the same bytes.
func FuzzDecodeCompact(f *testing.F) {
	for i, c := range sampleCommands() {
		f.Add(int64(i), appendCompact(nil, &c, int64(i)))
	}
	f.Add(int64(0), append(binary.AppendUvarint([]byte{uint8(engine.CmdPlace)}, cRef|cQty), 3, 'a', 'b', 'c', 0x81, 0x01))
	for _, exp := range []int64{1_700_000_000_000_000_000, -1, math.MaxInt64} {
		c := engine.Command{Kind: engine.CmdPlace, Account: 42, Market: 1, ExpireAt: exp, Order: book.Order{Price: 5, Qty: 1}}
		f.Add(int64(0), appendCompact(nil, &c, 0))
	}
	for _, frozen := range []bool{true, false} {
		c := engine.Command{Kind: engine.CmdSetAccountFrozen, Account: 42, Frozen: frozen}
		f.Add(int64(0), appendCompact(nil, &c, 0))
	}
	for _, cause := range []book.Reason{book.ReasonCancelAllAfter, book.ReasonDisconnect} {
		c := engine.Command{Kind: engine.CmdCancelAll, Account: 42, Market: 1, Cause: cause}
		f.Add(int64(0), appendCompact(nil, &c, 0))
	}
	for _, bps := range []int32{0, 1, 250, engine.MaxPriceBandBps, -1, math.MaxInt32} {
		c := engine.Command{Kind: engine.CmdSetPriceBand, Market: 1, Spec: engine.MarketSpec{PriceBandBps: bps}}
		f.Add(int64(0), appendCompact(nil, &c, 0))
		c = sampleCommands()[1] // create_market
		c.Spec.PriceBandBps = bps
		f.Add(int64(0), appendCompact(nil, &c, 0))
	}
	for _, n := range []int32{0, 1, 250, engine.MaxOpenOrdersLimit, -1, math.MaxInt32} {
		c := engine.Command{Kind: engine.CmdSetMaxOpenOrders, Market: 1, Spec: engine.MarketSpec{MaxOpenOrders: n}}
		f.Add(int64(0), appendCompact(nil, &c, 0))
		c = sampleCommands()[1] // create_market
		c.Spec.MaxOpenOrders, c.Spec.PriceBandBps = n, n%7
		f.Add(int64(0), appendCompact(nil, &c, 0))
	}
	f.Fuzz(func(t *testing.T, prevTime int64, body []byte) {
		var c engine.Command
		if err := decodeCompact(5, body, &c, prevTime); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		if again := appendCompact(nil, &c, prevTime); !bytes.Equal(again, body) {
			t.Fatalf("accepted body re-encodes differently:\n in %x\nout %x", body, again)
		}
	})
}

// A record's length prefix of two bytes (a body of 128 bytes or more)
// round-trips, and so does its CRC.
func TestBlockRecordLongBody(t *testing.T) {
	c := sampleCommands()[1] // create_market: its spec alone is 80 bytes
	c.Account, c.Tag, c.OrderID = math.MaxUint64, math.MaxUint64, math.MaxUint64
	for i := range c.Ref {
		c.Ref[i] = 'r'
	}
	rec := BlockRecords([]engine.Command{c})[0]
	n, w := binary.Uvarint(rec)
	if w != 2 || int(n) != len(rec)-w-4 {
		t.Fatalf("length %d in %d bytes for a %d-byte record", n, w, len(rec))
	}
	key, v := encodeBlock([]engine.Command{c})
	got, err := decodeEntry(key, v, nil)
	if err != nil || len(got) != 1 || got[0] != c {
		t.Fatalf("%v: %+v", err, got)
	}
	checkDamageRefused(t, key, v, c.Seq)
}

// BenchmarkAppendCompact encodes trading commands as the journal stage
// does: places with client order ids and cancels, one after the other.
func BenchmarkAppendCompact(b *testing.B) {
	cmds := make([]engine.Command, 1024)
	for i := range cmds {
		c := &cmds[i]
		c.Seq, c.Time, c.Account, c.Market = uint64(i+1), int64(1e9+i*300), uint64(i%100+1), 1
		c.Ref = engine.Ref{'c', byte('0' + i%10), byte('0' + i/10%10), byte('0' + i/100%10)}
		if i%3 == 2 {
			c.Kind = engine.CmdCancel
			continue
		}
		c.Kind = engine.CmdPlace
		c.Order = book.Order{Side: book.Side(i % 2), Price: 100_000 + int64(i%50), Qty: int64(1 + i%7)}
	}
	buf := make([]byte, 0, 64*len(cmds))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(cmds) == 0 {
			buf = buf[:0]
		}
		k := i % len(cmds)
		prev := int64(0)
		if k > 0 {
			prev = cmds[k-1].Time
		}
		buf = appendCompact(buf, &cmds[k], prev)
	}
}

// A fee change (CmdSetMarketFees) carries its fees under mask bits 16
// and 17, whatever they are: it round-trips, 0 and out-of-range rates
// included, and its mask has bits the field bits of the releases before
// it (0 to 15) do not cover, so their decoders refuse it as corrupt
// ("unknown field bits") instead of applying an unknown kind, which
// would change nothing. The fixed layout of older versions cannot hold
// it: a record of it there is refused.
func TestCompactSetMarketFees(t *testing.T) {
	fees := engine.Command{Kind: engine.CmdSetMarketFees, Seq: 9, Time: 1_700_000_000_000_000_000, Market: 3,
		Spec: engine.MarketSpec{MakerFeeBps: 10, TakerFeeBps: 25}}
	const golden = "101685800c8080d0e2c6bfce972f031533b8ff6a77"
	recs := BlockRecords([]engine.Command{fees})
	if h := hex.EncodeToString(recs[0]); h != golden {
		t.Fatalf("record %s, want the golden %s", h, golden)
	}
	body := recs[0][1 : len(recs[0])-4] // without its length and CRC
	if mask, n := binary.Uvarint(body[1:]); n <= 0 || body[0] != uint8(engine.CmdSetMarketFees) || mask>>16 != 3 {
		t.Fatalf("kind %d, mask %#x: want bits 16 and 17 set", body[0], mask)
	}
	for _, f := range [][2]int32{{0, 0}, {10, 25}, {engine.MaxFeeBps, 0}, {0, engine.MaxFeeBps}, {-1, engine.MaxFeeBps + 1},
		{math.MinInt32, math.MaxInt32}} {
		c := fees
		c.Spec.MakerFeeBps, c.Spec.TakerFeeBps = f[0], f[1]
		recs := BlockRecords([]engine.Command{c})
		if mask, _ := binary.Uvarint(recs[0][2:]); mask&cFees != cFees {
			t.Fatalf("fees %v: mask %#x", f, mask)
		}
		got, err := DecodeBlockRecords(c.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != c {
			t.Fatalf("fees %v: %v\n got %+v\nwant %+v", f, err, got, c)
		}
	}
	// The rest of the spec is not journaled: a fee change ignores it.
	other := fees
	other.Spec.BaseScale, other.Spec.Rules.TickSize = 5, 7
	if got, err := DecodeBlockRecords(9, BlockRecords([]engine.Command{other})); err != nil || got[0] != fees {
		t.Fatalf("%v: %+v", err, got)
	}
	if _, err := decodeRecord(fees.Seq, appendRecord(nil, &fees)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("fixed layout: %v", err)
	}
}

// A freeze (CmdSetAccountFrozen) carries its flag under mask bit 18,
// frozen or not: it round-trips, and its mask has a bit the field bits
// of the releases before it (0 to 17) do not cover, so their decoders
// refuse it as corrupt ("unknown field bits") instead of applying an
// unknown kind, which would change nothing: a freeze silently skipped,
// and the account's orders left live. The fixed layout of older versions
// cannot hold it: a record of it there is refused.
func TestCompactSetAccountFrozen(t *testing.T) {
	freeze := engine.Command{Kind: engine.CmdSetAccountFrozen, Seq: 9, Time: 1_700_000_000_000_000_000, Account: 7, Frozen: true}
	const golden = "0f178380108080d0e2c6bfce972f070238b8a3b0"
	recs := BlockRecords([]engine.Command{freeze})
	if h := hex.EncodeToString(recs[0]); h != golden {
		t.Fatalf("record %s, want the golden %s", h, golden)
	}
	body := recs[0][1 : len(recs[0])-4] // without its length and CRC
	mask, n := binary.Uvarint(body[1:])
	if n <= 0 || body[0] != uint8(engine.CmdSetAccountFrozen) || mask&cFrozen == 0 || mask>>18 != 1 {
		t.Fatalf("kind %d, mask %#x: want bit 18 set", body[0], mask)
	}
	if mask&(1<<18-1) != mask&^cFrozen || mask&^(1<<18-1) == 0 {
		t.Fatalf("mask %#x: the releases before (bits 0 to 17) would read it", mask)
	}
	for _, c := range []engine.Command{
		freeze,
		{Kind: engine.CmdSetAccountFrozen, Seq: 10, Account: 7},                            // an unfreeze
		{Kind: engine.CmdSetAccountFrozen, Seq: 11, Account: math.MaxUint64, Frozen: true}, // refused by the engine, kept as given
		{Kind: engine.CmdSetAccountFrozen, Seq: 12, Frozen: true},                          // account 0 likewise
	} {
		recs := BlockRecords([]engine.Command{c})
		if mask, _ := binary.Uvarint(recs[0][2:]); mask&cFrozen == 0 {
			t.Fatalf("%+v: mask %#x", c, mask)
		}
		got, err := DecodeBlockRecords(c.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != c {
			t.Fatalf("%v\n got %+v\nwant %+v", err, got, c)
		}
	}
	// In a block with other commands, which keep their bodies.
	cmds := append(sampleCommands(), freeze)
	for i := range cmds {
		cmds[i].Seq, cmds[i].Time = uint64(100+i), int64(i)*1000
	}
	got, err := DecodeBlockRecords(100, BlockRecords(cmds))
	if err != nil || len(got) != len(cmds) {
		t.Fatalf("%v: %d commands", err, len(got))
	}
	for i := range cmds {
		if got[i] != cmds[i] {
			t.Fatalf("command %d:\n got %+v\nwant %+v", i, got[i], cmds[i])
		}
	}
	// The flag is journaled on a freeze only: on any other kind it is
	// not the command's, and is not kept.
	other := engine.Command{Kind: engine.CmdPlace, Seq: 9, Account: 7, Market: 1, Frozen: true, Order: book.Order{Price: 1, Qty: 1}}
	if got, err := DecodeBlockRecords(9, BlockRecords([]engine.Command{other})); err != nil || got[0].Frozen {
		t.Fatalf("%v: %+v", err, got)
	}
	if _, err := decodeRecord(freeze.Seq, appendRecord(nil, &freeze)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("fixed layout: %v", err)
	}
}

// A good-till-date place (Command.ExpireAt) carries its expiry under
// mask bit 19: it round-trips, and its mask has a bit the field bits of
// the releases before it (0 to 18) do not cover, so their decoders refuse
// it as corrupt ("unknown field bits") instead of placing the order as
// GTC, never to expire. A place without one keeps its body as before.
// The expiry is journaled on a place only.
func TestCompactExpireAt(t *testing.T) {
	gtd := engine.Command{Kind: engine.CmdPlace, Seq: 9, Time: 1_700_000_000_000_000_000, Account: 7, Market: 1,
		Order: book.Order{Side: book.Sell, Price: 101, Qty: 3}, ExpireAt: 1_700_000_060_000_000_000}
	const golden = "200887ac208080d0e2c6bfce972f07010100000000ca010680e08ae785c3ce972fcc0a826b"
	recs := BlockRecords([]engine.Command{gtd})
	if h := hex.EncodeToString(recs[0]); h != golden {
		t.Fatalf("record %s, want the golden %s", h, golden)
	}
	body := recs[0][1 : len(recs[0])-4] // without its length and CRC
	mask, n := binary.Uvarint(body[1:])
	if n <= 0 || body[0] != uint8(engine.CmdPlace) || mask&cExpireAt == 0 || mask>>19 != 1 {
		t.Fatalf("kind %d, mask %#x: want bit 19 set", body[0], mask)
	}
	if mask&^(1<<19-1) == 0 {
		t.Fatalf("mask %#x: the releases before (bits 0 to 18) would read it", mask)
	}
	gtc := gtd
	gtc.ExpireAt = 0
	if a, b := BlockRecords([]engine.Command{gtc})[0], recs[0]; len(a) >= len(b) {
		t.Fatalf("a GTC place takes %d bytes, the good-till-date one %d", len(a), len(b))
	}
	for _, c := range []engine.Command{
		gtd,
		{Kind: engine.CmdPlace, Seq: 10, Account: 7, Market: 1, ExpireAt: -5},            // refused by the engine, kept as given
		{Kind: engine.CmdPlace, Seq: 11, Account: 7, Market: 1, ExpireAt: math.MaxInt64}, // far away
		{Kind: engine.CmdPlace, Seq: 12, Account: 7, Market: 1, ExpireAt: math.MinInt64},
	} {
		recs := BlockRecords([]engine.Command{c})
		got, err := DecodeBlockRecords(c.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != c {
			t.Fatalf("%v\n got %+v\nwant %+v", err, got, c)
		}
	}
	// In a block with other commands, which keep their bodies.
	cmds := append(sampleCommands(), gtd)
	for i := range cmds {
		cmds[i].Seq, cmds[i].Time = uint64(100+i), int64(i)*1000
	}
	cmds[len(cmds)-1].ExpireAt = 1 << 40
	got, err := DecodeBlockRecords(100, BlockRecords(cmds))
	if err != nil || len(got) != len(cmds) {
		t.Fatalf("%v: %d commands", err, len(got))
	}
	for i := range cmds {
		if got[i] != cmds[i] {
			t.Fatalf("command %d:\n got %+v\nwant %+v", i, got[i], cmds[i])
		}
	}
	other := engine.Command{Kind: engine.CmdCancel, Seq: 9, Account: 7, OrderID: 3, ExpireAt: 100}
	if got, err := DecodeBlockRecords(9, BlockRecords([]engine.Command{other})); err != nil || got[0].ExpireAt != 0 {
		t.Fatalf("%v: %+v", err, got)
	}
}

// A cancel-all's cause (Command.Cause: why its cancels happen) is bit 20
// of the mask, on cancel_all records only, and only when set: a
// cancel-all without one is written as before, byte for byte, and
// releases before the bit refuse a record with it rather than report
// its cancels as on request.
func TestCompactCause(t *testing.T) {
	plain := engine.Command{Kind: engine.CmdCancelAll, Seq: 9, Time: 1_700_000_000_000_000_000, Account: 7, Market: 2}
	caused := plain
	caused.Cause = book.ReasonCancelAllAfter
	a, b := BlockRecords([]engine.Command{plain})[0], BlockRecords([]engine.Command{caused})[0]
	body := b[1 : len(b)-4] // without its length and CRC
	mask, n := binary.Uvarint(body[1:])
	if n <= 0 || body[0] != uint8(engine.CmdCancelAll) || mask&cCause == 0 || mask>>20 != 1 {
		t.Fatalf("kind %d, mask %#x: want bit 20 set", body[0], mask)
	}
	pb := a[1 : len(a)-4]
	if pm, _ := binary.Uvarint(pb[1:]); pm&cCause != 0 || len(a) >= len(b) {
		t.Fatalf("a cancel-all without a cause: mask %#x, %d bytes against %d", pm, len(a), len(b))
	}
	for _, c := range []engine.Command{plain, caused,
		{Kind: engine.CmdCancelAll, Seq: 10, Account: 7, Market: 1, Cause: book.ReasonDisconnect},
		{Kind: engine.CmdCancelAll, Seq: 11, Account: 7, Market: 1, Cause: book.ReasonSelfTrade}, // refused by the engine, kept as given
	} {
		got, err := DecodeBlockRecords(c.Seq, BlockRecords([]engine.Command{c}))
		if err != nil || len(got) != 1 || got[0] != c {
			t.Fatalf("%v\n got %+v\nwant %+v", err, got, c)
		}
	}
	// Not written on another kind; refused there.
	other := engine.Command{Kind: engine.CmdCancel, Seq: 9, Account: 7, OrderID: 3, Cause: book.ReasonDisconnect}
	if got, err := DecodeBlockRecords(9, BlockRecords([]engine.Command{other})); err != nil || got[0].Cause != 0 {
		t.Fatalf("%v: %+v", err, got)
	}
	bad := append([]byte{uint8(engine.CmdCancel)}, binary.AppendUvarint(nil, cAccount|cCause)...)
	bad = append(bad, 7, 1)
	var cmd engine.Command
	if err := decodeCompact(9, bad, &cmd, 0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cause on another kind") {
		t.Fatalf("a cause on a cancel: %v", err)
	}
	bad = append([]byte{uint8(engine.CmdCancelAll)}, binary.AppendUvarint(nil, cAccount|cCause)...)
	bad = append(bad, 7, 0x80, 0x02) // 256
	if err := decodeCompact(9, bad, &cmd, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a cause of 256: %v", err)
	}
}

// A price band (MarketSpec.PriceBandBps) is bit 21 of the mask: on every
// set_price_band record, 0 included, so that releases before the bit
// refuse the record (as an unknown field bit) rather than apply an
// unknown kind, which would change nothing: a band change silently
// skipped; and on a create_market record exactly when its band is not 0,
// so that a market without a band is written as before, byte for byte,
// and one with a band is refused by those releases rather than opened
// without it. The fixed layout of older versions holds neither.
func TestCompactPriceBand(t *testing.T) {
	set := engine.Command{Kind: engine.CmdSetPriceBand, Seq: 9, Time: 1_700_000_000_000_000_000, Market: 3,
		Spec: engine.MarketSpec{PriceBandBps: 500}}
	const golden = "1118858080018080d0e2c6bfce972f03e9076a6ffbf9"
	recs := BlockRecords([]engine.Command{set})
	if h := hex.EncodeToString(recs[0]); h != golden {
		t.Fatalf("record %s, want the golden %s", h, golden)
	}
	body := recs[0][1 : len(recs[0])-4] // without its length and CRC
	if mask, n := binary.Uvarint(body[1:]); n <= 0 || body[0] != uint8(engine.CmdSetPriceBand) || mask&cBand == 0 || mask>>21 != 1 {
		t.Fatalf("kind %d, mask %#x: want bit 21 set", body[0], mask)
	}
	for _, bps := range []int32{0, 1, 500, engine.MaxPriceBandBps, -1, engine.MaxPriceBandBps + 1, math.MinInt32, math.MaxInt32} {
		c := set
		c.Spec.PriceBandBps = bps
		recs := BlockRecords([]engine.Command{c})
		if mask, _ := binary.Uvarint(recs[0][2:]); mask&cBand == 0 {
			t.Fatalf("band %d: mask %#x", bps, mask)
		}
		got, err := DecodeBlockRecords(c.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != c {
			t.Fatalf("band %d: %v\n got %+v\nwant %+v", bps, err, got, c)
		}
		// On create_market: the bit exactly when the band is not 0.
		cm := sampleCommands()[1]
		cm.Spec.PriceBandBps = bps
		recs = BlockRecords([]engine.Command{cm})
		if mask, _ := binary.Uvarint(recs[0][2:]); (mask&cBand != 0) != (bps != 0) {
			t.Fatalf("create_market with band %d: mask %#x", bps, mask)
		}
		got, err = DecodeBlockRecords(cm.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != cm {
			t.Fatalf("create_market with band %d: %v\n got %+v\nwant %+v", bps, err, got, cm)
		}
	}
	// A create_market without a band is written as before the bit
	// (golden, from the code before it).
	const goldenMarket = "5c028001084254432d55534454010000000200000064000000000000000a00000000000000010000000000000002000000000000000200000000000000e8030000000000000300000000000000000000000001000005000000070000007f732c9b"
	if h := hex.EncodeToString(BlockRecords([]engine.Command{sampleCommands()[1]})[0]); h != goldenMarket {
		t.Fatalf("create_market record %s, want the golden %s", h, goldenMarket)
	}
	// Not written on another kind, refused there; a zero band under the
	// bit of a create_market is not canonical.
	other := engine.Command{Kind: engine.CmdPlace, Seq: 9, Account: 7, Market: 1, Spec: engine.MarketSpec{PriceBandBps: 5},
		Order: book.Order{Price: 5, Qty: 1}}
	if got, err := DecodeBlockRecords(9, BlockRecords([]engine.Command{other})); err != nil || got[0].Spec.PriceBandBps != 0 {
		t.Fatalf("%v: %+v", err, got)
	}
	var cmd engine.Command
	cm := sampleCommands()[1]
	cm.Spec.PriceBandBps = 7
	b := appendCompact(nil, &cm, 0)
	mask, n := binary.Uvarint(b[1:])
	i := 1 + n
	for m := mask &^ cBand; m != 0; m &= m - 1 {
		if bits.TrailingZeros64(m) == 7 {
			i += 1 + int(b[i]) // the name
		} else {
			_, k := binary.Uvarint(b[i:])
			i += k
		}
	}
	if b[i] != 0x0f { // zigzag(7) + 1
		t.Fatalf("band at %d is %#x", i, b[i])
	}
	b[i] = 1 // zigzag(0) + 1
	if err := decodeCompact(9, b, &cmd, 0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "price band 0") {
		t.Fatalf("a zero band on a create_market: %v", err)
	}
	if _, err := decodeRecord(set.Seq, appendRecord(nil, &set)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("fixed layout: %v", err)
	}
}

// A limit on open orders (MarketSpec.MaxOpenOrders) is bit 22 of the
// mask, as a price band is bit 21 (see TestCompactPriceBand): on every
// set_max_open_orders record, 0 included, and on a create_market record
// exactly when its limit is not 0, so that releases before the bit
// refuse both rather than skip a change or open a market without its
// limit, and a market without one is written as before.
func TestCompactMaxOpenOrders(t *testing.T) {
	set := engine.Command{Kind: engine.CmdSetMaxOpenOrders, Seq: 9, Time: 1_700_000_000_000_000_000, Market: 3,
		Spec: engine.MarketSpec{MaxOpenOrders: 200}}
	const golden = "1119858080028080d0e2c6bfce972f039103ba7bbe12"
	recs := BlockRecords([]engine.Command{set})
	if h := hex.EncodeToString(recs[0]); h != golden {
		t.Fatalf("record %s, want the golden %s", h, golden)
	}
	body := recs[0][1 : len(recs[0])-4] // without its length and CRC
	if mask, n := binary.Uvarint(body[1:]); n <= 0 || body[0] != uint8(engine.CmdSetMaxOpenOrders) || mask&cOpenLimit == 0 || mask>>22 != 1 {
		t.Fatalf("kind %d, mask %#x: want bit 22 set", body[0], mask)
	}
	for _, n := range []int32{0, 1, 200, engine.MaxOpenOrdersLimit, -1, engine.MaxOpenOrdersLimit + 1, math.MinInt32, math.MaxInt32} {
		c := set
		c.Spec.MaxOpenOrders = n
		recs := BlockRecords([]engine.Command{c})
		if mask, _ := binary.Uvarint(recs[0][2:]); mask&cOpenLimit == 0 {
			t.Fatalf("limit %d: mask %#x", n, mask)
		}
		got, err := DecodeBlockRecords(c.Seq, recs)
		if err != nil || len(got) != 1 || got[0] != c {
			t.Fatalf("limit %d: %v\n got %+v\nwant %+v", n, err, got, c)
		}
		for _, bps := range []int32{0, 300} {
			cm := sampleCommands()[1]
			cm.Spec.MaxOpenOrders, cm.Spec.PriceBandBps = n, bps
			recs = BlockRecords([]engine.Command{cm})
			if mask, _ := binary.Uvarint(recs[0][2:]); (mask&cOpenLimit != 0) != (n != 0) || (mask&cBand != 0) != (bps != 0) {
				t.Fatalf("create_market with limit %d, band %d: mask %#x", n, bps, mask)
			}
			got, err = DecodeBlockRecords(cm.Seq, recs)
			if err != nil || len(got) != 1 || got[0] != cm {
				t.Fatalf("create_market with limit %d: %v\n got %+v\nwant %+v", n, err, got, cm)
			}
		}
	}
	// Not written on another kind; a zero limit under the bit of a
	// create_market is not canonical; the fixed layout has no room.
	other := engine.Command{Kind: engine.CmdPlace, Seq: 9, Account: 7, Market: 1, Spec: engine.MarketSpec{MaxOpenOrders: 5},
		Order: book.Order{Price: 5, Qty: 1}}
	if got, err := DecodeBlockRecords(9, BlockRecords([]engine.Command{other})); err != nil || got[0].Spec.MaxOpenOrders != 0 {
		t.Fatalf("%v: %+v", err, got)
	}
	cm := sampleCommands()[1]
	cm.Spec.MaxOpenOrders = 7
	b := appendCompact(nil, &cm, 0)
	// The limit is the last field before the spec.
	i := len(b) - specSize - 1
	if b[i] != 0x0f { // zigzag(7) + 1
		t.Fatalf("limit at %d is %#x", i, b[i])
	}
	zero := bytes.Clone(b)
	zero[i] = 1 // zigzag(0) + 1
	var cmd engine.Command
	if err := decodeCompact(9, zero, &cmd, 0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "max open orders 0") {
		t.Fatalf("a zero limit on a create_market: %v", err)
	}
	if _, err := decodeRecord(set.Seq, appendRecord(nil, &set)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("fixed layout: %v", err)
	}
}
