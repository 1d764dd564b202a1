package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Log entries. The engine journals a batch of consecutive commands at a
// time; each batch is one Pebble key/value pair, a block:
//
//	key:   'c' | last seq (u64, big-endian, so keys sort by sequence)
//
//	value: +---------+-----------+-------+------------+
//	       | version | first seq | count | header crc |   the header
//	       | u8 = 4  | u64       | u32   | u32        |
//	       +---------+-----------+-------+------------+
//	       | length  | compact body (seq first)       | crc32c |   a record per
//	       +---------+--------------------------------+--------+   command, count
//	       | length  | compact body (seq first+1)     | crc32c |   of them
//	       +---------+--------------------------------+--------+
//	       | ...                                               |
//
// length is the body's size (uvarint). The compact body (see compact.go)
// holds a command's kind, a mask of its fields that are not zero, and
// those fields as varints: 15–25 bytes for an order, where the fixed
// layout of earlier versions took 155, so the log writes, syncs, stores
// and replays a sixth of the bytes.
//
// The header's CRC covers the key's sequence number and the 13 header
// bytes before it, so a header that is damaged or stored under the wrong
// key fails its check; each record's CRC covers its own sequence number,
// its length and its body, so damage is found in the very command it
// hit, and an error names that command's sequence number.
//
// Logs of earlier releases hold blocks of the same header with
// fixed-layout bodies and no length (version 3), blocks with one CRC over
// the whole value (version 2: version, first seq, count, the fixed-layout
// bodies, then a crc32c over the key's seq and all of that) and, before
// blocks, one record per key under the command's own sequence number:
//
//	value: +---------+-------------------+--------+
//	       | version | fixed-layout body | crc32c |
//	       | u8 = 1  |                   | u32    |
//	       +---------+-------------------+--------+
//
// All four are read; the log writes version 4.
//
// A fixed-layout body is the command's kind (u8) and its fields,
// little-endian, in a fixed layout per kind: time, account, market,
// asset, amount, order id, ref[36], name[24], tag, order (side type tif
// stp post_only price stop qty budget display), the market spec
// (create_market only), the copy spec (copy-trading kinds only: leader
// relation value max_quote mode close slippage stop_loss share). Compact
// bodies end with the same two specs. Kinds added since version 4 (fee
// changes, set_market_fees; freezes, set_account_frozen; price band
// changes, set_price_band; limits on open orders, set_max_open_orders)
// exist only in compact bodies: a fixed-layout
// record of one is refused as corrupt. So does a good-till-date order's
// expiry (Command.ExpireAt): the fixed layout has no room for it, and no
// release wrote a place with one there (nor a cancel-all with a cause,
// Command.Cause, nor a create_market with a price band,
// MarketSpec.PriceBandBps, or a limit on open orders,
// MarketSpec.MaxOpenOrders: one read from the fixed layout has none).
//
// Every CRC is CRC-32C (Castagnoli) over a sequence number (8 bytes,
// big-endian) and then the bytes it protects. The version byte lets later
// releases change the layout; a reader refuses versions it does not know.
// One key per batch instead of one per command spares Pebble a memtable
// insert and a table entry per command, a fifth of the CPU of a durable
// engine on two cores.

const (
	recordVersion  = 1 // one command under its own sequence number
	blockVersionV2 = 2 // consecutive commands under the last one's, one CRC (read only)
	blockVersionV3 = 3 // fixed-layout bodies, a CRC for the header and one per command (read only)
	blockVersion   = 4 // compact bodies with their length, a CRC for the header and one per command
)

// blockHeader is the size of a block's version, first seq and count;
// blockHeaderCRC is that of a version 3 or 4 header with its CRC.
const (
	blockHeader    = 1 + 8 + 4
	blockHeaderCRC = blockHeader + 4
)

// maxBlockBytes bounds a block: Log.Append starts a new one past it (the
// engine's batches, at most 4,096 commands, fit in one).
const maxBlockBytes = 1 << 20

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

// appendRecord appends the encoded value of cmd (whose Seq must be set)
// as a single record (version 1) to dst. The log writes blocks; records
// are what logs written before held, and what its tests write to build
// such logs.
func appendRecord(dst []byte, cmd *engine.Command) []byte {
	start := len(dst)
	b := appendBody(append(dst, recordVersion), cmd)
	return binary.LittleEndian.AppendUint32(b, recordCRC(cmd.Seq, b[start:]))
}

// appendBody appends the body of cmd: its kind and its fields.
func appendBody(b []byte, cmd *engine.Command) []byte {
	b = append(b, uint8(cmd.Kind))
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
		b = appendSpec(b, &cmd.Spec)
	}
	if hasCopySpec(cmd.Kind) {
		b = appendCopy(b, &cmd.Copy)
	}
	return b
}

// appendSpec appends a market spec in the fixed layout (specSize bytes).
func appendSpec(b []byte, sp *engine.MarketSpec) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, sp.Base)
	b = le.AppendUint32(b, sp.Quote)
	r := &sp.Rules
	for _, v := range [...]int64{sp.BaseScale, sp.QuoteScale, r.TickSize, r.LotSize, r.MinQty, r.MaxQty, r.MinNotional, r.MaxPrice} {
		b = le.AppendUint64(b, uint64(v))
	}
	b = le.AppendUint32(b, uint32(sp.MakerFeeBps))
	return le.AppendUint32(b, uint32(sp.TakerFeeBps))
}

// appendCopy appends a copy spec in the fixed layout (copySize bytes).
func appendCopy(b []byte, c *engine.CopySpec) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, c.Leader)
	b = le.AppendUint64(b, c.Relation)
	b = le.AppendUint64(b, uint64(c.Value))
	b = le.AppendUint64(b, uint64(c.MaxOrderQuote))
	b = append(b, uint8(c.Mode), uint8(c.Close))
	b = le.AppendUint32(b, uint32(c.SlippageBps))
	b = le.AppendUint32(b, uint32(c.StopLossBps))
	return le.AppendUint32(b, uint32(c.ProfitShareBps))
}

// decodeSpec decodes a market spec of exactly specSize bytes.
func decodeSpec(p []byte, sp *engine.MarketSpec) {
	le := binary.LittleEndian
	u64 := func() int64 { v := le.Uint64(p); p = p[8:]; return int64(v) }
	u32 := func() uint32 { v := le.Uint32(p); p = p[4:]; return v }
	sp.Base, sp.Quote = u32(), u32()
	sp.BaseScale, sp.QuoteScale = u64(), u64()
	r := &sp.Rules
	r.TickSize, r.LotSize, r.MinQty, r.MaxQty, r.MinNotional, r.MaxPrice = u64(), u64(), u64(), u64(), u64(), u64()
	sp.MakerFeeBps, sp.TakerFeeBps = int32(u32()), int32(u32())
}

// decodeCopy decodes a copy spec of exactly copySize bytes.
func decodeCopy(p []byte, c *engine.CopySpec) {
	le := binary.LittleEndian
	c.Leader, c.Relation = le.Uint64(p), le.Uint64(p[8:])
	c.Value, c.MaxOrderQuote = int64(le.Uint64(p[16:])), int64(le.Uint64(p[24:]))
	c.Mode, c.Close = engine.CopyMode(p[32]), engine.ClosePolicy(p[33])
	c.SlippageBps = int32(le.Uint32(p[34:]))
	c.StopLossBps = int32(le.Uint32(p[38:]))
	c.ProfitShareBps = int32(le.Uint32(p[42:]))
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
	fixedSize = 2 + 8*2 + 4*2 + 8*2 + 36 + 24 + 8 + 5 + 8*5 // version and body
	specSize  = 4*2 + 8*8 + 4*2
	copySize  = 8*4 + 2 + 4*3
)

// hasCopySpec reports whether records of kind k carry a copy spec.
func hasCopySpec(k engine.CommandKind) bool {
	return k >= engine.CmdSetLeaderProfile && k <= engine.CmdSettle
}

// bodySize returns the size of a command body of kind k.
func bodySize(k engine.CommandKind) int { return recordSize(k) - 5 }

// recordSize returns the encoded size of a record of kind k.
func recordSize(k engine.CommandKind) int {
	n := fixedSize + 4
	if k == engine.CmdCreateMarket {
		n += specSize
	}
	if hasCopySpec(k) {
		n += copySize
	}
	return n
}

// decodeRecord decodes the record (version 1) stored under sequence
// number seq. It returns an error wrapping ErrCorrupt for any damage; it
// never panics.
func decodeRecord(seq uint64, v []byte) (engine.Command, error) {
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
	if want := bodySize(engine.CommandKind(body[1])); len(body)-1 != want {
		return cmd, fmt.Errorf("%w: seq %d: %s record of %d bytes, want %d", ErrCorrupt, seq, engine.CommandKind(body[1]), len(body)+4, want+5)
	}
	err := decodeBody(seq, body[1:], &cmd)
	return cmd, err
}

// decodeBody decodes one command body of exactly bodySize(kind) bytes
// into cmd, with sequence number seq.
func decodeBody(seq uint64, p []byte, cmd *engine.Command) error {
	*cmd = engine.Command{Seq: seq, Kind: engine.CommandKind(p[0])}
	le := binary.LittleEndian
	p = p[1:]
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
		return fmt.Errorf("%w: seq %d: post-only flag %d", ErrCorrupt, seq, p[4])
	}
	o.Side, o.Type, o.TIF, o.STP, o.PostOnly = book.Side(p[0]), book.OrderType(p[1]), book.TimeInForce(p[2]), book.STPMode(p[3]), p[4] == 1
	p = p[5:]
	o.Price, o.StopPrice, o.Qty, o.QuoteBudget, o.DisplayQty = int64(u64()), int64(u64()), int64(u64()), int64(u64()), int64(u64())
	if cmd.Kind == engine.CmdCreateMarket {
		decodeSpec(p[:specSize], &cmd.Spec)
		p = p[specSize:]
	}
	if hasCopySpec(cmd.Kind) {
		decodeCopy(p[:copySize], &cmd.Copy)
	}
	if cmd.Kind == engine.CmdSetMarketFees || cmd.Kind == engine.CmdSetAccountFrozen || cmd.Kind == engine.CmdSetPriceBand ||
		cmd.Kind == engine.CmdSetMaxOpenOrders {
		// The fixed layout has no room for its fees, its flag, its band
		// or its limit: no release wrote one.
		return fmt.Errorf("%w: seq %d: %s record in the fixed layout", ErrCorrupt, seq, cmd.Kind)
	}
	return nil
}

// block is the log entry being built: consecutive commands, encoded as
// they are appended.
type block struct {
	buf         []byte
	first, last uint64
	n           uint32
	key         [9]byte
	time        int64 // of the last command
}

// add appends cmd, which must follow the last one (or start the block).
func (b *block) add(cmd *engine.Command) {
	if b.n == 0 {
		b.buf = append(b.buf[:0], blockVersion)
		b.buf = binary.LittleEndian.AppendUint64(b.buf, cmd.Seq)
		b.buf = binary.LittleEndian.AppendUint64(b.buf, 0) // count and header CRC, set by finish
		b.first, b.time = cmd.Seq, 0
	}
	b.buf = appendBlockRecord(b.buf, cmd, b.time)
	b.last, b.time = cmd.Seq, cmd.Time
	b.n++
}

// appendBlockRecord appends the version 4 record of cmd: the length of
// its compact body (uvarint), the body, and the CRC of the sequence
// number, the length and the body. prevTime is the time of the block's
// previous command (0 for its first).
func appendBlockRecord(b []byte, cmd *engine.Command, prevTime int64) []byte {
	start := len(b)
	b = append(b, 0) // the length, one byte for a body under 128 bytes
	b = appendCompact(b, cmd, prevTime)
	n := len(b) - start - 1
	if w := uvarintLen(uint64(n)); w > 1 {
		b = append(b, make([]byte, w-1)...)
		copy(b[start+w:], b[start+1:start+1+n])
	}
	binary.PutUvarint(b[start:], uint64(n))
	return binary.LittleEndian.AppendUint32(b, recordCRC(cmd.Seq, b[start:]))
}

// uvarintLen is the size of the uvarint encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// BlockRecords returns the records that the log writes for cmds,
// consecutive commands of one block (Seq and Time set): each command's
// record as it appears in the block, without the block's header.
//
// BlockRecords and DecodeBlockRecords are for benchmarks and tools (the
// bench package writes the log's own record bytes straight to Pebble);
// the format may change from one release to the next. Programs that
// store commands use a Log.
func BlockRecords(cmds []engine.Command) [][]byte {
	out := make([][]byte, len(cmds))
	prev := int64(0)
	for i := range cmds {
		out[i] = appendBlockRecord(nil, &cmds[i], prev)
		prev = cmds[i].Time
	}
	return out
}

// follows reports whether cmd can join the block.
func (b *block) follows(cmd *engine.Command) bool {
	return b.n == 0 || (cmd.Seq == b.last+1 && len(b.buf) < maxBlockBytes)
}

// finish completes a non-empty block and returns its key and value,
// valid until the next add; the block is empty again.
func (b *block) finish() (key, value []byte) {
	binary.LittleEndian.PutUint32(b.buf[9:blockHeader], b.n)
	binary.LittleEndian.PutUint32(b.buf[blockHeader:blockHeaderCRC], recordCRC(b.last, b.buf[:blockHeader]))
	b.n = 0
	return commandKey(b.key[:0], b.last), b.buf
}

// decodeEntry decodes the log entry stored under sequence number key (a
// block, or a record of an older log) and appends its commands to dst, in
// sequence. On damage it returns dst unchanged and an error wrapping
// ErrCorrupt; it never panics.
func decodeEntry(key uint64, v []byte, dst []engine.Command) ([]engine.Command, error) {
	switch {
	case len(v) > 0 && v[0] == recordVersion:
		c, err := decodeRecord(key, v)
		if err != nil {
			return dst, err
		}
		return append(dst, c), nil
	case len(v) > 0 && v[0] == blockVersionV2:
		return decodeBlockV2(key, v, dst)
	}
	first, n, err := blockBounds(key, v)
	if err != nil {
		return dst, err
	}
	if v[0] == blockVersionV3 {
		return walkBlockV3(key, first, n, v[blockHeaderCRC:], dst, true)
	}
	return walkBlock(key, first, n, v[blockHeaderCRC:], dst, true)
}

// DecodeBlockRecords decodes records that BlockRecords returned for
// consecutive commands from sequence number first, with every check that
// reading the log makes. Damage gives an error wrapping ErrCorrupt. For
// benchmarks and tools; the format may change (see BlockRecords).
func DecodeBlockRecords(first uint64, recs [][]byte) ([]engine.Command, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	last := first + uint64(len(recs)) - 1
	return walkBlock(last, first, uint32(len(recs)), bytes.Join(recs, nil), nil, true)
}

// walkBlock checks the n records of the version 4 block stored under key,
// whose first sequence number is first, in p (the bytes after the
// header), and appends their commands to dst if decode is set. On damage
// it returns dst unchanged and an error naming the command's sequence
// number.
func walkBlock(key, first uint64, n uint32, p []byte, dst []engine.Command, decode bool) ([]engine.Command, error) {
	start := len(dst)
	prevTime := int64(0)
	for i := range uint64(n) {
		seq := first + i
		if len(p) == 0 {
			return dst[:start], fmt.Errorf("%w: seq %d (block %d-%d): missing, the block ends after %d commands", ErrCorrupt, seq, first, key, i)
		}
		size, w := binary.Uvarint(p)
		if w <= 0 || (w > 1 && p[w-1] == 0) || size > uint64(len(p)-w) || len(p)-w-int(size) < 4 {
			return dst[:start], fmt.Errorf("%w: seq %d (block %d-%d): bad length or cut short", ErrCorrupt, seq, first, key)
		}
		end := w + int(size)
		if recordCRC(seq, p[:end]) != binary.LittleEndian.Uint32(p[end:]) {
			return dst[:start], fmt.Errorf("%w: seq %d (block %d-%d): checksum mismatch", ErrCorrupt, seq, first, key)
		}
		if decode {
			dst = append(dst, engine.Command{})
			if err := decodeCompact(seq, p[w:end], &dst[len(dst)-1], prevTime); err != nil {
				return dst[:start], err
			}
			prevTime = dst[len(dst)-1].Time
		}
		p = p[end+4:]
	}
	if len(p) != 0 {
		return dst[:start], fmt.Errorf("%w: block %d-%d: %d bytes after its %d commands", ErrCorrupt, first, key, len(p), n)
	}
	return dst, nil
}

// walkBlockV3 checks the n records of the version 3 block stored under key,
// whose first sequence number is first, in p (the bytes after the
// header), and appends their commands to dst if decode is set. On damage
// it returns dst unchanged and an error naming the command's sequence
// number.
func walkBlockV3(key, first uint64, n uint32, p []byte, dst []engine.Command, decode bool) ([]engine.Command, error) {
	start := len(dst)
	for i := range uint64(n) {
		seq := first + i
		if len(p) == 0 {
			return dst[:start], fmt.Errorf("%w: seq %d (block %d-%d): missing, the block ends after %d commands", ErrCorrupt, seq, first, key, i)
		}
		size := bodySize(engine.CommandKind(p[0]))
		if len(p) < size+4 {
			return dst[:start], fmt.Errorf("%w: seq %d (block %d-%d): cut short", ErrCorrupt, seq, first, key)
		}
		if recordCRC(seq, p[:size]) != binary.LittleEndian.Uint32(p[size:]) {
			return dst[:start], fmt.Errorf("%w: seq %d (block %d-%d): checksum mismatch", ErrCorrupt, seq, first, key)
		}
		if decode {
			dst = append(dst, engine.Command{})
			if err := decodeBody(seq, p[:size], &dst[len(dst)-1]); err != nil {
				return dst[:start], err
			}
		}
		p = p[size+4:]
	}
	if len(p) != 0 {
		return dst[:start], fmt.Errorf("%w: block %d-%d: %d bytes after its %d commands", ErrCorrupt, first, key, len(p), n)
	}
	return dst, nil
}

// blockBounds checks a version 3 or 4 block's header (its CRC, and that its
// first sequence number and count end at key) and returns the first
// sequence number and the count. It does not read the records.
func blockBounds(key uint64, v []byte) (first uint64, n uint32, err error) {
	if len(v) < blockHeaderCRC {
		return 0, 0, fmt.Errorf("%w: log entry at seq %d: %d bytes", ErrCorrupt, key, len(v))
	}
	if recordCRC(key, v[:blockHeader]) != binary.LittleEndian.Uint32(v[blockHeader:]) {
		return 0, 0, fmt.Errorf("%w: log entry at seq %d: header checksum mismatch", ErrCorrupt, key)
	}
	if v[0] != blockVersion && v[0] != blockVersionV3 {
		return 0, 0, fmt.Errorf("%w: log entry at seq %d: unknown version %d", ErrCorrupt, key, v[0])
	}
	return headerBounds(key, v)
}

// headerBounds returns the first sequence number and count of a block
// header (v2 or v3), checking that they end at key.
func headerBounds(key uint64, v []byte) (first uint64, n uint32, err error) {
	first = binary.LittleEndian.Uint64(v[1:])
	n = binary.LittleEndian.Uint32(v[9:])
	if n == 0 || first == 0 || first > key || key-first != uint64(n)-1 {
		return 0, 0, fmt.Errorf("%w: block ending at seq %d: first seq %d and count %d do not match", ErrCorrupt, key, first, n)
	}
	return first, n, nil
}

// decodeBlockV2 decodes a block of an earlier release (version 2: one CRC
// over the whole value, at its end).
func decodeBlockV2(key uint64, v []byte, dst []engine.Command) ([]engine.Command, error) {
	first, n, err := blockBoundsV2(key, v)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	p := v[blockHeader : len(v)-4]
	for i := range uint64(n) {
		if len(p) == 0 {
			return dst[:start], fmt.Errorf("%w: block ending at seq %d: %d commands, count says %d", ErrCorrupt, key, i, n)
		}
		size := bodySize(engine.CommandKind(p[0]))
		if len(p) < size {
			return dst[:start], fmt.Errorf("%w: seq %d: command cut short", ErrCorrupt, first+i)
		}
		dst = append(dst, engine.Command{})
		if err := decodeBody(first+i, p[:size], &dst[len(dst)-1]); err != nil {
			return dst[:start], err
		}
		p = p[size:]
	}
	if len(p) != 0 {
		return dst[:start], fmt.Errorf("%w: block ending at seq %d: %d bytes after its %d commands", ErrCorrupt, key, len(p), n)
	}
	return dst, nil
}

// blockBoundsV2 checks a version 2 block's checksum and header and
// returns its first sequence number and its count.
func blockBoundsV2(key uint64, v []byte) (first uint64, n uint32, err error) {
	if len(v) < blockHeader+4 {
		return 0, 0, fmt.Errorf("%w: log entry at seq %d: %d bytes", ErrCorrupt, key, len(v))
	}
	body := v[:len(v)-4]
	if recordCRC(key, body) != binary.LittleEndian.Uint32(v[len(v)-4:]) {
		return 0, 0, fmt.Errorf("%w: log entry at seq %d: checksum mismatch", ErrCorrupt, key)
	}
	return headerBounds(key, v)
}

// entryFirst returns the first sequence number of the log entry stored
// under key, checking the entry's checksums.
func entryFirst(key uint64, v []byte) (uint64, error) {
	switch {
	case len(v) > 0 && v[0] == recordVersion:
		_, err := decodeRecord(key, v)
		return key, err
	case len(v) > 0 && v[0] == blockVersionV2:
		first, _, err := blockBoundsV2(key, v)
		return first, err
	}
	first, n, err := blockBounds(key, v)
	switch {
	case err != nil:
	case v[0] == blockVersionV3:
		_, err = walkBlockV3(key, first, n, v[blockHeaderCRC:], nil, false)
	default:
		_, err = walkBlock(key, first, n, v[blockHeaderCRC:], nil, false)
	}
	return first, err
}
