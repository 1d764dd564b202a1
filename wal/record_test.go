package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

func sampleCommands() []engine.Command {
	ref, _ := engine.MakeRef("client-1")
	name, _ := engine.MakeName("BTC-USDT")
	return []engine.Command{
		{Kind: engine.CmdPlace, Seq: 7, Time: 1700000000123, Account: 3, Market: 1, Ref: ref, Tag: 99,
			Order: book.Order{Side: book.Sell, Type: book.StopLimit, TIF: book.IOC, STP: book.STPCancelBoth,
				Price: 101, StopPrice: 99, Qty: 5, DisplayQty: 2, PostOnly: true}},
		{Kind: engine.CmdCreateMarket, Seq: 8, Name: name, Spec: engine.MarketSpec{Base: 1, Quote: 2,
			BaseScale: 100, QuoteScale: 10, MakerFeeBps: 5, TakerFeeBps: 7,
			Rules: book.Rules{TickSize: 1, LotSize: 2, MinQty: 2, MaxQty: 1000, MinNotional: 3, MaxPrice: 1 << 40}}},
		{Kind: engine.CmdDeposit, Seq: 9, Account: 4, Asset: 2, Amount: 1 << 50, Ref: ref},
		{Kind: engine.CmdCancel, Seq: 10, Account: 4, OrderID: 1 << 60},
		{Kind: engine.CmdSetLeaderProfile, Seq: 11, Account: 5, Copy: engine.CopySpec{ProfitShareBps: 1000}},
		{Kind: engine.CmdFollow, Seq: 12, Account: 6, Asset: 2, Amount: 1 << 40, Copy: engine.CopySpec{
			Leader: 5, Value: engine.ValueOne, MaxOrderQuote: 1 << 33, Mode: engine.CopyProportional,
			SlippageBps: 100, StopLossBps: 2000}},
		{Kind: engine.CmdUnfollow, Seq: 13, Account: 6, Copy: engine.CopySpec{Relation: 1 << 35, Close: engine.CloseMarket}},
		{Kind: engine.CmdSettle, Seq: 14},
		// A kind after the copy-trading ones: the plain fixed layout.
		{Kind: engine.CmdAmendTotal, Seq: 15, Account: 4, OrderID: 9, Ref: ref, Order: book.Order{Price: 101, Qty: 6}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		v := appendRecord(nil, &c)
		if len(v) != recordSize(c.Kind) {
			t.Fatalf("%v: %d bytes, recordSize says %d", c.Kind, len(v), recordSize(c.Kind))
		}
		got, err := decodeRecord(c.Seq, v)
		if err != nil {
			t.Fatalf("%v: %v", c.Kind, err)
		}
		if got != c {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
		// Any single flipped bit, any truncation, and a wrong key are caught.
		for i := range v {
			bad := bytes.Clone(v)
			bad[i] ^= 1
			if _, err := decodeRecord(c.Seq, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v: flipped byte %d accepted", c.Kind, i)
			}
		}
		for n := range len(v) {
			if _, err := decodeRecord(c.Seq, v[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v: truncation to %d accepted", c.Kind, n)
			}
		}
		if _, err := decodeRecord(c.Seq+1, v); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: record accepted under another sequence number", c.Kind)
		}
	}
}

// FuzzDecodeRecord: the decoder never panics, and what it accepts
// re-encodes to the same bytes. Each input is tried as is and with a valid
// checksum appended, so that the fuzzer gets past the CRC.
func FuzzDecodeRecord(f *testing.F) {
	for _, c := range sampleCommands() {
		v := appendRecord(nil, &c)
		f.Add(c.Seq, v[:len(v)-4])
	}
	f.Add(uint64(1), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, seq uint64, body []byte) {
		withCRC := binary.LittleEndian.AppendUint32(bytes.Clone(body), recordCRC(seq, body))
		for _, v := range [][]byte{body, withCRC} {
			c, err := decodeRecord(seq, v)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error without ErrCorrupt: %v", err)
				}
				continue
			}
			if !bytes.Equal(appendRecord(nil, &c), v) {
				t.Fatalf("accepted record re-encodes differently")
			}
		}
	})
}

// recordCRC equals the CRC-32C of the big-endian sequence number followed
// by the body, as the format says.
func TestRecordCRC(t *testing.T) {
	for _, seq := range []uint64{0, 1, 255, 1 << 40, 0x0123456789abcdef, ^uint64(0)} {
		for _, body := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("record"), 50)} {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq)
			want := crc32.Checksum(append(k[:], body...), crcTable)
			if got := recordCRC(seq, body); got != want {
				t.Fatalf("seq %d, %d bytes: %08x, want %08x", seq, len(body), got, want)
			}
		}
	}
	body := []byte("body")
	if n := testing.AllocsPerRun(100, func() { recordCRC(7, body) }); n != 0 {
		t.Fatalf("recordCRC allocates %v times", n)
	}
}

// encodeBlock returns the key seq and value of a block of cmds, which
// must be consecutive.
func encodeBlock(cmds []engine.Command) (uint64, []byte) {
	var b block
	for i := range cmds {
		b.add(&cmds[i])
	}
	_, v := b.finish()
	return b.last, bytes.Clone(v)
}

// consecutive returns the sample commands renumbered from first.
func consecutive(first uint64) []engine.Command {
	cmds := sampleCommands()
	for i := range cmds {
		cmds[i].Seq = first + uint64(i)
	}
	return cmds
}

func TestBlockRoundTrip(t *testing.T) {
	cmds := consecutive(41)
	key, v := encodeBlock(cmds)
	if key != 41+uint64(len(cmds))-1 {
		t.Fatalf("key %d", key)
	}
	got, err := decodeEntry(key, v, []engine.Command{{Seq: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1+len(cmds) || got[0].Seq != 1 {
		t.Fatalf("decodeEntry did not append: %d commands", len(got))
	}
	for i := range cmds {
		if got[1+i] != cmds[i] {
			t.Fatalf("command %d:\n got %+v\nwant %+v", i, got[1+i], cmds[i])
		}
	}
	checkDamageRefused(t, key, v, 41)
	// A record of an older log decodes as an entry too.
	rec := appendRecord(nil, &cmds[0])
	if got, err := decodeEntry(cmds[0].Seq, rec, nil); err != nil || len(got) != 1 || got[0] != cmds[0] {
		t.Fatalf("record as an entry: %v, %+v", err, got)
	}
}

// encodeBlockV2 returns a block as earlier releases wrote it (version 2:
// one CRC over the whole value).
func encodeBlockV2(cmds []engine.Command) (uint64, []byte) {
	last := cmds[len(cmds)-1].Seq
	v := []byte{blockVersionV2}
	v = binary.LittleEndian.AppendUint64(v, cmds[0].Seq)
	v = binary.LittleEndian.AppendUint32(v, uint32(len(cmds)))
	for i := range cmds {
		v = appendBody(v, &cmds[i])
	}
	return last, binary.LittleEndian.AppendUint32(v, recordCRC(last, v))
}

// reseal rewrites the CRCs of a version 3 or 4 block stored under key
// (header and records, as far as the bytes go), so that a test or the
// fuzzer can reach what lies behind them.
func reseal(key uint64, v []byte) []byte {
	v = bytes.Clone(v)
	if len(v) < blockHeaderCRC {
		return v
	}
	binary.LittleEndian.PutUint32(v[blockHeader:], recordCRC(key, v[:blockHeader]))
	first := binary.LittleEndian.Uint64(v[1:])
	for i, span := range recordSpans(v) {
		binary.LittleEndian.PutUint32(v[span[1]-4:], recordCRC(first+uint64(i), v[span[0]:span[1]-4]))
	}
	return v
}

// recordSpans returns where each whole record (CRC included) of a version
// 3 or 4 block lies in v, as far as the bytes go.
func recordSpans(v []byte) [][2]int {
	var spans [][2]int
	for off := blockHeaderCRC; off < len(v); {
		var size int
		if v[0] == blockVersionV3 {
			size = bodySize(engine.CommandKind(v[off])) + 4
		} else {
			n, w := binary.Uvarint(v[off:])
			if w <= 0 || n > uint64(len(v)) {
				break
			}
			size = w + int(n) + 4
		}
		if off+size > len(v) {
			break
		}
		spans = append(spans, [2]int{off, off + size})
		off += size
	}
	return spans
}

// encodeBlockV3 returns a block as the previous release wrote it (version
// 3: fixed-layout bodies, a CRC for the header and one per command).
func encodeBlockV3(cmds []engine.Command) (uint64, []byte) {
	last := cmds[len(cmds)-1].Seq
	v := []byte{blockVersionV3}
	v = binary.LittleEndian.AppendUint64(v, cmds[0].Seq)
	v = binary.LittleEndian.AppendUint32(v, uint32(len(cmds)))
	v = binary.LittleEndian.AppendUint32(v, recordCRC(last, v))
	for i := range cmds {
		start := len(v)
		v = appendBody(v, &cmds[i])
		v = binary.LittleEndian.AppendUint32(v, recordCRC(cmds[i].Seq, v[start:]))
	}
	return last, v
}

// A block whose header disagrees with its key, or whose count disagrees
// with its records, is refused even with valid checksums.
func TestBlockHeaderChecked(t *testing.T) {
	cmds := consecutive(10)
	key, v := encodeBlock(cmds)
	for name, mutate := range map[string]func(b []byte){
		"first seq too low":  func(b []byte) { binary.LittleEndian.PutUint64(b[1:], 9) },
		"first seq too high": func(b []byte) { binary.LittleEndian.PutUint64(b[1:], 11) },
		"count too high":     func(b []byte) { binary.LittleEndian.PutUint32(b[9:], uint32(len(cmds)+1)) },
		"count zero":         func(b []byte) { binary.LittleEndian.PutUint32(b[9:], 0) },
		"version 5":          func(b []byte) { b[0] = 5 },
		"version 3 bodies":   func(b []byte) { b[0] = blockVersionV3 },
		"first record's kind": func(b []byte) {
			b[blockHeaderCRC+1] = uint8(engine.CmdCreateMarket) // its body lacks a market spec
		},
		"first record's length": func(b []byte) { b[blockHeaderCRC]-- },
	} {
		bad := bytes.Clone(v)
		mutate(bad)
		if _, err := decodeEntry(key, reseal(key, bad), nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// Bytes after the last record.
	if _, err := decodeEntry(key, append(bytes.Clone(v), 0), nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte accepted (%v)", err)
	}
}

// Damage inside a block is reported with the sequence number of the
// command it hit.
func TestBlockDamageNamesCommand(t *testing.T) {
	cmds := consecutive(100)
	key, v := encodeBlock(cmds)
	spans := recordSpans(v)
	if len(spans) != len(cmds) {
		t.Fatalf("%d records found, want %d", len(spans), len(cmds))
	}
	for i, span := range spans {
		off, size := span[0], span[1]-span[0]
		for _, at := range []int{off, off + size/2, off + size - 1} {
			bad := bytes.Clone(v)
			bad[at] ^= 0x10
			_, err := decodeEntry(key, bad, nil)
			want := fmt.Sprintf("seq %d ", cmds[i].Seq)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Fatalf("byte %d of command %d damaged: %v, want an error naming %q", at-off, cmds[i].Seq, err, want)
			}
			if _, err := entryFirst(key, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("entryFirst accepted damage in command %d", cmds[i].Seq)
			}
		}
	}
}

// Blocks of earlier releases (versions 2 and 3) are still read, and
// checked.
func TestOlderBlocksRead(t *testing.T) {
	for _, enc := range []func([]engine.Command) (uint64, []byte){encodeBlockV2, encodeBlockV3} {
		cmds := consecutive(7)
		key, v := enc(cmds)
		got, err := decodeEntry(key, v, nil)
		if err != nil || len(got) != len(cmds) {
			t.Fatalf("version %d: %d commands, %v", v[0], len(got), err)
		}
		for i := range cmds {
			if got[i] != cmds[i] {
				t.Fatalf("version %d, command %d:\n got %+v\nwant %+v", v[0], i, got[i], cmds[i])
			}
		}
		checkDamageRefused(t, key, v, 7)
	}
	// A version 3 record with a bad post-only flag is refused.
	key, v := encodeBlockV3(consecutive(10)[:1])
	v[blockHeaderCRC+1+8*2+4*2+8*2+36+24+8+4] = 2
	if _, err := decodeEntry(key, reseal(key, v), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("post-only flag 2 accepted (%v)", err)
	}
}

// checkDamageRefused checks that entryFirst finds first in the intact
// block v stored under key, and that any single flipped bit, any
// truncation and a wrong key are caught, a damaged block adding nothing.
func checkDamageRefused(t *testing.T, key uint64, v []byte, first uint64) {
	t.Helper()
	if got, err := entryFirst(key, v); err != nil || got != first {
		t.Fatalf("entryFirst: %d, %v; want %d", got, err, first)
	}
	for i := range v {
		bad := bytes.Clone(v)
		bad[i] ^= 1
		if got, err := decodeEntry(key, bad, nil); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	for n := range len(v) {
		if _, err := decodeEntry(key, v[:n], nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	if _, err := decodeEntry(key+1, v, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatal("block accepted under another sequence number")
	}
}

// FuzzDecodeEntry: the entry decoder never panics, and a block it accepts
// re-encodes to the same bytes. Each input is tried as is, with its
// checksums made valid as a version 3 block (reseal), and with a CRC
// appended as a version 2 block or a record, so that the fuzzer gets
// past the CRCs. (reseal covers versions 3 and 4.)
func FuzzDecodeEntry(f *testing.F) {
	key, v := encodeBlock(consecutive(3))
	f.Add(key, v)
	key, v = encodeBlock(consecutive(3)[:1])
	f.Add(key, v)
	f.Add(uint64(5), []byte{blockVersion, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	key, v = encodeBlockV3(consecutive(3))
	f.Add(key, v)
	key, v = encodeBlockV2(consecutive(3))
	f.Add(key, v[:len(v)-4])
	f.Add(uint64(5), []byte{blockVersionV2, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key uint64, body []byte) {
		withCRC := binary.LittleEndian.AppendUint32(bytes.Clone(body), recordCRC(key, body))
		for _, v := range [][]byte{body, reseal(key, body), withCRC} {
			cmds, err := decodeEntry(key, v, nil)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) || len(cmds) != 0 {
					t.Fatalf("error %v with %d commands", err, len(cmds))
				}
				continue
			}
			if len(cmds) == 0 || cmds[len(cmds)-1].Seq != key {
				t.Fatalf("accepted entry under %d ends at %+v", key, cmds)
			}
			if first, err := entryFirst(key, v); err != nil || first != cmds[0].Seq {
				t.Fatalf("entryFirst: %d, %v; decoded from %d", first, err, cmds[0].Seq)
			}
			var again []byte
			var k uint64
			switch v[0] {
			case blockVersion:
				k, again = encodeBlock(cmds)
			case blockVersionV3:
				k, again = encodeBlockV3(cmds)
			case blockVersionV2:
				k, again = encodeBlockV2(cmds)
			default:
				continue
			}
			if k != key || !bytes.Equal(again, v) {
				t.Fatalf("accepted block re-encodes differently")
			}
		}
	})
}
