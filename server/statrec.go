package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/instant-social-trading/ist/engine"
)

// The records of the leader statistics in the metadata store: their keys
// and values (statpersist.go has the layout and how saves write them).
//
// Every value starts with its version (statRecVersion), then fields as
// varints (v: signed, zig-zag; u: unsigned) and floats (f: the float's
// bits with their bytes reversed, as a u, as gob writes them: 0 and
// round values take a byte or two). A list is u n+1 then its n elements,
// u 0 for none (nil), so that a list that is empty but not nil comes
// back as it was. A point p is
//
//	dT v | NPU f | PnL v | Trips v | Wins v | Income v | Lo f | Hi f | DD f
//
// where dT is p.T less the previous point's T in the same value (the
// first point of a chunk: less the chunk's start, chunk × span; a
// series' Origin: less 0).
//
// A decoder that a record does not satisfy (a short, long or malformed
// value, an unknown version, a count or id out of range, a point outside
// its chunk) refuses it with errStatsRecord; none panics (the fuzz
// targets of statrec_fuzz_test.go).
//
// A field added to one of the persisted types must be added here, with
// a new version whose decoder still reads the earlier ones:
// TestStatRecFields fails until the field round-trips.

// statRecVersion is the version of the records this release writes.
const statRecVersion = 1

// errStatsRecord is returned for a leader statistics record that does not
// decode.
var errStatsRecord = errors.New("server: bad leader statistics record")

// Keys of the statistics (statpersist.go).
var (
	prefixStats      = []byte("stats/")
	prefixStatsEnd   = []byte("stats0") // the end of prefixStats' range
	keyStatsHeader   = []byte("stats/h")
	prefixStatAcct   = []byte("stats/a/")
	prefixStatLeader = []byte("stats/l/")
	prefixStatRel    = []byte("stats/r/")
	prefixStatPoints = []byte("stats/s/")
)

// Chunk spans of the series: the points of a chunk fall in one span of
// time (their T / span, rounded down, is the chunk). A leader's series
// holds a point a minute for its last week, a relation's one an hour
// (statTier): a chunk of either holds at most 60 or 24 points, all that
// a minute's sample rewrites.
const (
	leaderChunkSpan   = hour
	relationChunkSpan = day
)

// chunkSpan returns the chunk span of series k.
func chunkSpan(k statKey) int64 {
	if k.rel {
		return relationChunkSpan
	}
	return leaderChunkSpan
}

// chunkOf returns the chunk of time t: t / span rounded down.
func chunkOf(t, span int64) int64 {
	c := t / span
	if t%span < 0 {
		c--
	}
	return c
}

// statIDKey returns prefix followed by id (8 bytes, big endian), appended
// to b.
func statIDKey(b, prefix []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, prefix...), id)
}

// statChunkKey returns the key of chunk c of series k, appended to b:
// prefixStatPoints, 'l' (a leader's) or 'r' (a relation's), the id (8),
// and c (8, big endian, its sign bit flipped so that keys sort as
// chunks do).
func statChunkKey(b []byte, k statKey, c int64) []byte {
	kind := byte('l')
	if k.rel {
		kind = 'r'
	}
	b = append(append(b, prefixStatPoints...), kind)
	b = binary.BigEndian.AppendUint64(b, k.id)
	return binary.BigEndian.AppendUint64(b, uint64(c)^1<<63)
}

// parseChunkKey returns the series and the chunk of the rest of a chunk
// key, after prefixStatPoints.
func parseChunkKey(rest []byte) (k statKey, c int64, ok bool) {
	if len(rest) != 17 || rest[0] != 'l' && rest[0] != 'r' {
		return statKey{}, 0, false
	}
	k = statKey{rel: rest[0] == 'r', id: binary.BigEndian.Uint64(rest[1:9])}
	return k, int64(binary.BigEndian.Uint64(rest[9:]) ^ 1<<63), true
}

// Encoders: each appends a record to b.

func appendFloat(b []byte, f float64) []byte {
	return binary.AppendUvarint(b, bits.ReverseBytes64(math.Float64bits(f)))
}

func appendInts(b []byte, xs []int64) []byte {
	if xs == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(xs))+1)
	for _, x := range xs {
		b = binary.AppendVarint(b, x)
	}
	return b
}

// appendPoint appends p, its T less prev.
func appendPoint(b []byte, p *statPoint, prev int64) []byte {
	b = binary.AppendVarint(b, p.T-prev)
	b = appendFloat(b, p.NPU)
	b = binary.AppendVarint(b, p.PnL)
	b = binary.AppendVarint(b, int64(p.Trips))
	b = binary.AppendVarint(b, int64(p.Wins))
	b = binary.AppendVarint(b, p.Income)
	b = appendFloat(b, p.Lo)
	b = appendFloat(b, p.Hi)
	return appendFloat(b, p.DD)
}

// appendSeriesHead appends what a series holds besides its points.
func appendSeriesHead(b []byte, s *series) []byte {
	return binary.AppendVarint(appendPoint(b, &s.Origin, 0), s.Compacted)
}

// appendStatHeader appends the header record of st:
//
//	version | Seq u | Now v | Sweep v | Assets: list of (u len, name bytes
//	without trailing zeros) | Markets: list of (Base u, Quote u,
//	BaseScale v, QuoteScale v, Last v)
func appendStatHeader(b []byte, st *statsState) []byte {
	b = append(b, statRecVersion)
	b = binary.AppendUvarint(b, st.Seq)
	b = binary.AppendVarint(b, st.Now)
	b = binary.AppendVarint(b, st.Sweep)
	if st.Assets == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(st.Assets))+1)
		for i := range st.Assets {
			n := bytes.TrimRight(st.Assets[i][:], "\x00")
			b = append(binary.AppendUvarint(b, uint64(len(n))), n...)
		}
	}
	if st.Markets == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Markets))+1)
	for _, m := range st.Markets {
		b = binary.AppendUvarint(b, uint64(m.Base))
		b = binary.AppendUvarint(b, uint64(m.Quote))
		b = binary.AppendVarint(b, m.BaseScale)
		b = binary.AppendVarint(b, m.QuoteScale)
		b = binary.AppendVarint(b, m.Last)
	}
	return b
}

// appendStatAccount appends the record of an account (its id is its
// key's):
//
//	version | LastQuote u | Bal: list of v
func appendStatAccount(b []byte, a *statAccount) []byte {
	b = binary.AppendUvarint(append(b, statRecVersion), uint64(a.LastQuote))
	return appendInts(b, a.Bal)
}

// appendStatLeader appends the record of a leader (its account is its
// key's), its series without its points:
//
//	version | Val u | Units f | LastNPU f | Pos: u n, then n times
//	(market u, Units v, Cost v, Realized v, Trip v), by market (never
//	nil: an empty map for none) | Trips v | Wins v | Income v | Rels:
//	list of the differences v of each id with the one before (the first:
//	with 0) | Origin point | Compacted v
func appendStatLeader(b []byte, l *statLeader) []byte {
	b = append(b, statRecVersion)
	b = binary.AppendUvarint(b, uint64(l.Val))
	b = appendFloat(b, l.Units)
	b = appendFloat(b, l.LastNPU)
	b = binary.AppendUvarint(b, uint64(len(l.Pos)))
	var ms [8]uint32
	keys := ms[:0]
	for m := range l.Pos {
		keys = append(keys, m)
	}
	slices.Sort(keys)
	for _, m := range keys {
		p := l.Pos[m]
		b = binary.AppendUvarint(b, uint64(m))
		b = binary.AppendVarint(b, p.Units)
		b = binary.AppendVarint(b, p.Cost)
		b = binary.AppendVarint(b, p.Realized)
		b = binary.AppendVarint(b, p.Trip)
	}
	b = binary.AppendVarint(b, int64(l.Trips))
	b = binary.AppendVarint(b, int64(l.Wins))
	b = binary.AppendVarint(b, l.Income)
	if l.Rels == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(l.Rels))+1)
		prev := uint64(0)
		for _, id := range l.Rels {
			b = binary.AppendVarint(b, int64(id-prev))
			prev = id
		}
	}
	return appendSeriesHead(b, &l.Hist)
}

// Flags of a relation record.
const (
	relReturnedKnown = 1 << iota
	relClosed
	relOutUnknown
	relPaused
	relFlags = 1<<iota - 1 // every flag
)

// appendStatRelation appends the record of a relation (its id is its
// key's), its series without its points:
//
//	version | Follower u | Leader u | Asset u | Bal: list of v | Units f |
//	LastNPU f | In v | Out v | Returned v | ReturnedBal: list of v |
//	flags (1) | ClosedAt v | CloseReason (1) | Origin point | Compacted v
//
// flags: 1 ReturnedKnown, 2 Closed, 4 OutUnknown, 8 Paused. CloseReason
// is engine.CopyNone, or, closed only, CopyUnfollowed or CopyStopLoss.
func appendStatRelation(b []byte, r *statRelation) []byte {
	b = append(b, statRecVersion)
	b = binary.AppendUvarint(b, r.Follower)
	b = binary.AppendUvarint(b, r.Leader)
	b = binary.AppendUvarint(b, uint64(r.Asset))
	b = appendInts(b, r.Bal)
	b = appendFloat(b, r.Units)
	b = appendFloat(b, r.LastNPU)
	b = binary.AppendVarint(b, r.In)
	b = binary.AppendVarint(b, r.Out)
	b = binary.AppendVarint(b, r.Returned)
	b = appendInts(b, r.ReturnedBal)
	var flags byte
	for i, f := range [...]bool{r.ReturnedKnown, r.Closed, r.OutUnknown, r.Paused} {
		if f {
			flags |= 1 << i
		}
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, r.ClosedAt)
	b = append(b, byte(r.CloseReason))
	return appendSeriesHead(b, &r.Hist)
}

// appendStatChunk appends the record of chunk c of a series of span span,
// pts (its points: at least one, in order, each in the chunk):
//
//	version | points, until the end
func appendStatChunk(b []byte, c, span int64, pts []statPoint) []byte {
	b = append(b, statRecVersion)
	prev := c * span
	for i := range pts {
		b = appendPoint(b, &pts[i], prev)
		prev = pts[i].T
	}
	return b
}

// statDec reads what the encoders wrote, with the order history's
// reads (dec) and those of the statistics' own values; a short or
// malformed input sets bad, which stays set: the record is refused.
type statDec struct {
	dec
}

// u32 reads a u that must fit a uint32.
func (d *statDec) u32() uint32 {
	x := d.uvarint()
	if x > math.MaxUint32 {
		d.bad = true
	}
	return uint32(x)
}

// i32 reads a v that must fit an int32.
func (d *statDec) i32() int32 {
	x := d.varint()
	if x != int64(int32(x)) {
		d.bad = true
	}
	return int32(x)
}

func (d *statDec) float() float64 {
	return math.Float64frombits(bits.ReverseBytes64(d.uvarint()))
}

// version reads the version byte: the only one is statRecVersion.
func (d *statDec) version() {
	if d.byte() != statRecVersion {
		d.bad = true
	}
}

// count reads a list's u n+1 and returns n, and whether the list is
// nil. Each element takes a byte at least: a count above what is left is
// bad (and no allocation is made for it).
func (d *statDec) count() (n int, isNil bool) {
	x := d.uvarint()
	if x == 0 || d.bad {
		return 0, true
	}
	if x-1 > uint64(len(d.b)) {
		d.bad = true
		return 0, true
	}
	return int(x - 1), false
}

func (d *statDec) ints() []int64 {
	n, isNil := d.count()
	if isNil {
		return nil
	}
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = d.varint()
	}
	return xs
}

// point reads a point; its T is its dT, to which the caller adds what
// it is relative to.
func (d *statDec) point() statPoint {
	p := statPoint{T: d.varint(), NPU: d.float(), PnL: d.varint(), Trips: d.i32(), Wins: d.i32(), Income: d.varint()}
	p.Lo, p.Hi, p.DD = d.float(), d.float(), d.float()
	return p
}

func (d *statDec) seriesHead(s *series) {
	s.Origin = d.point() // relative to 0
	s.Compacted = d.varint()
}

// end reports whether the record decoded and nothing follows it.
func (d *statDec) end() bool {
	return !d.bad && len(d.b) == 0
}

// decodeStatHeader decodes a header record into st's Seq, Now, Sweep,
// Assets and Markets.
func decodeStatHeader(b []byte, st *statsState) error {
	d := statDec{dec{b: b}}
	d.version()
	st.Seq, st.Now, st.Sweep = d.uvarint(), d.varint(), d.varint()
	st.Assets, st.Markets = nil, nil
	if n, isNil := d.count(); !isNil {
		st.Assets = make([]engine.Name, n)
		for i := range st.Assets {
			l := d.uvarint()
			if l > uint64(len(st.Assets[i])) || l > uint64(len(d.b)) || l > 0 && d.b[l-1] == 0 {
				d.bad = true
				break
			}
			copy(st.Assets[i][:], d.b[:l])
			d.b = d.b[l:]
		}
	}
	if n, isNil := d.count(); !isNil {
		st.Markets = make([]statMarket, n)
		for i := range st.Markets {
			m := &st.Markets[i]
			m.Base, m.Quote = d.u32(), d.u32()
			m.BaseScale, m.QuoteScale, m.Last = d.varint(), d.varint(), d.varint()
		}
	}
	if !d.end() {
		return fmt.Errorf("%w: header", errStatsRecord)
	}
	return nil
}

// decodeStatAccount decodes the record of an account.
func decodeStatAccount(b []byte) (*statAccount, error) {
	d := statDec{dec{b: b}}
	d.version()
	a := &statAccount{LastQuote: d.u32()}
	a.Bal = d.ints()
	if !d.end() {
		return nil, errStatsRecord
	}
	return a, nil
}

// decodeStatLeader decodes the record of leader account id.
func decodeStatLeader(id uint64, b []byte) (*statLeader, error) {
	d := statDec{dec{b: b}}
	d.version()
	l := &statLeader{Account: id, Val: d.u32()}
	l.Units, l.LastNPU = d.float(), d.float()
	n := d.uvarint() // Pos: never nil (apply writes to it)
	if n > uint64(len(d.b)) {
		d.bad, n = true, 0
	}
	l.Pos = make(map[uint32]*statPos, n)
	for prev := int64(-1); n > 0 && !d.bad; n-- {
		m := d.u32()
		p := &statPos{Units: d.varint(), Cost: d.varint(), Realized: d.varint(), Trip: d.varint()}
		if int64(m) <= prev { // in order, once each
			d.bad = true
		}
		prev = int64(m)
		l.Pos[m] = p
	}
	l.Trips, l.Wins, l.Income = d.i32(), d.i32(), d.varint()
	if n, isNil := d.count(); !isNil {
		l.Rels = make([]uint64, n)
		prev := uint64(0)
		for i := range l.Rels {
			prev += uint64(d.varint())
			l.Rels[i] = prev
		}
	}
	d.seriesHead(&l.Hist)
	if !d.end() {
		return nil, errStatsRecord
	}
	return l, nil
}

// decodeStatRelation decodes the record of relation id.
func decodeStatRelation(id uint64, b []byte) (*statRelation, error) {
	d := statDec{dec{b: b}}
	d.version()
	r := &statRelation{ID: id, Follower: d.uvarint(), Leader: d.uvarint(), Asset: d.u32()}
	r.Bal = d.ints()
	r.Units, r.LastNPU = d.float(), d.float()
	r.In, r.Out, r.Returned = d.varint(), d.varint(), d.varint()
	r.ReturnedBal = d.ints()
	flags := d.byte()
	r.ReturnedKnown, r.Closed = flags&relReturnedKnown != 0, flags&relClosed != 0
	r.OutUnknown, r.Paused = flags&relOutUnknown != 0, flags&relPaused != 0
	r.ClosedAt = d.varint()
	r.CloseReason = engine.CopyReason(d.byte())
	d.seriesHead(&r.Hist)
	okReason := r.CloseReason == engine.CopyNone ||
		r.Closed && (r.CloseReason == engine.CopyUnfollowed || r.CloseReason == engine.CopyStopLoss)
	if flags&^relFlags != 0 || !okReason || !d.end() {
		return nil, errStatsRecord
	}
	return r, nil
}

// decodeStatChunk appends the points of chunk c of a series of span span
// to pts. It refuses a chunk without points, and points out of order or
// outside the chunk.
func decodeStatChunk(pts []statPoint, c, span int64, b []byte) ([]statPoint, error) {
	if c < math.MinInt64/span || c > math.MaxInt64/span-1 {
		return pts, errStatsRecord
	}
	start := c * span
	d := statDec{dec{b: b}}
	d.version()
	off, n := int64(0), len(pts) // off: the last point's T less start
	for !d.bad && len(d.b) > 0 {
		p := d.point()
		if d.bad || p.T < 0 || p.T >= span-off {
			return pts[:n], errStatsRecord
		}
		off += p.T
		p.T = start + off
		pts = append(pts, p)
	}
	if d.bad || len(pts) == n {
		return pts[:n], errStatsRecord
	}
	return pts, nil
}
