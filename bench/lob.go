package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/instant-social-trading/ist/book"
)

// OpKind is the kind of a stream operation.
type OpKind uint8

// Operation kinds. The zero value is not a valid kind.
const (
	// OpLimit is a new GTC limit order ("L").
	OpLimit OpKind = iota + 1
	// OpMarket is a new market order whose unfilled rest expires ("M").
	OpMarket
	// OpCancel cancels a resting order ("C").
	OpCancel
)

// String returns "limit", "market" or "cancel".
func (k OpKind) String() string {
	switch k {
	case OpLimit:
		return "limit"
	case OpMarket:
		return "market"
	case OpCancel:
		return "cancel"
	}
	return "op?"
}

// Op is one stream operation, kept compact (32 bytes) so that a million of
// them fit comfortably in memory. Side, Price and Qty are zero where the
// kind has none (Price for markets; Side, Price and Qty for cancels).
type Op struct {
	Kind  OpKind
	Side  book.Side
	ID    uint64 // new order id, or the id of the order to cancel
	Price int64  // limit price in ticks
	Qty   int64  // quantity in lots
}

// End is the expected (or measured) end state of a stream: #end keys and
// their values. See the package documentation for the known keys.
type End map[string]int64

// LOBFile is a parsed stream: the untimed seed operations, the timed replay
// operations and the #end expectations (empty if the stream has none).
type LOBFile struct {
	Seed   []Op
	Replay []Op
	End    End
}

// MaxLive returns an upper bound on the number of orders resting at any
// point of the stream: every limit order rests at most one order and every
// cancel removes one, so the running count of limits minus cancels bounds
// it. Use it to size book.Options.Capacity.
func (f *LOBFile) MaxLive() int {
	live, peak := 0, 0
	for _, ops := range [2][]Op{f.Seed, f.Replay} {
		for i := range ops {
			switch ops[i].Kind {
			case OpLimit:
				live++
				if live > peak {
					peak = live
				}
			case OpCancel:
				live--
			}
		}
	}
	return peak
}

// endGroups is the order in which #end keys are written: one line a group,
// as lobgen writes them.
var endGroups = [][]string{
	{"traded_qty", "trades", "resting_orders"},
	{"bid_levels", "bid_qty", "best_bid"},
	{"ask_levels", "ask_qty", "best_ask"},
}

// EndKeys returns the known #end keys in their canonical order.
func EndKeys() []string {
	var keys []string
	for _, g := range endGroups {
		keys = append(keys, g...)
	}
	return keys
}

// WriteTo writes f in the stream format: #seed, its operations, #replay,
// its operations, then the #end lines (known keys grouped as lobgen writes
// them, then any other keys in sorted order). It implements io.WriterTo.
func (f *LOBFile) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<16)
	var buf []byte
	writeOps := func(ops []Op) {
		for i := range ops {
			buf = appendOp(buf[:0], &ops[i])
			bw.Write(buf)
		}
	}
	bw.WriteString("#seed\n")
	writeOps(f.Seed)
	bw.WriteString("#replay\n")
	writeOps(f.Replay)
	done := make(map[string]bool, len(f.End))
	writeEnd := func(keys []string) {
		buf = append(buf[:0], "#end"...)
		n := 0
		for _, k := range keys {
			v, ok := f.End[k]
			if !ok {
				continue
			}
			done[k] = true
			buf = append(buf, ' ')
			buf = append(buf, k...)
			buf = append(buf, '=')
			buf = strconv.AppendInt(buf, v, 10)
			n++
		}
		if n > 0 {
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	for _, g := range endGroups {
		writeEnd(g)
	}
	var rest []string
	for k := range f.End {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	writeEnd(rest)
	err := bw.Flush()
	return cw.n, err
}

// appendOp appends the text line of op to dst.
func appendOp(dst []byte, op *Op) []byte {
	side := byte('B')
	if op.Side == book.Sell {
		side = 'S'
	}
	switch op.Kind {
	case OpLimit:
		dst = append(dst, 'L', ' ')
		dst = strconv.AppendUint(dst, op.ID, 10)
		dst = append(dst, ' ', side, ' ')
		dst = strconv.AppendInt(dst, op.Price, 10)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, op.Qty, 10)
	case OpMarket:
		dst = append(dst, 'M', ' ')
		dst = strconv.AppendUint(dst, op.ID, 10)
		dst = append(dst, ' ', side, ' ')
		dst = strconv.AppendInt(dst, op.Qty, 10)
	case OpCancel:
		dst = append(dst, 'C', ' ')
		dst = strconv.AppendUint(dst, op.ID, 10)
	default:
		dst = append(dst, "# invalid op"...)
	}
	return append(dst, '\n')
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// maxLine is the longest line ParseLOB accepts.
const maxLine = 64 << 10

// ParseLOB reads a stream in the lobgen format (see the package
// documentation). Errors name the 1-based line: "bench: line N: ...".
func ParseLOB(r io.Reader) (*LOBFile, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxLine), maxLine)
	f := &LOBFile{End: End{}}
	const (
		secNone = iota
		secSeed
		secReplay
		secEnd
	)
	sec := secNone
	var fields [8][]byte
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		nf := splitFields(b, fields[:])
		if nf == 0 {
			continue
		}
		if fields[0][0] == '#' && string(fields[0]) == "#end" {
			// #end takes any number of pairs: parse the rest of the line.
			sec = secEnd
			rest := bytes.TrimLeft(b, " \t\r")[len("#end"):]
			if err := parseEnd(f.End, rest); err != nil {
				return nil, lineErr(line, err.Error())
			}
			continue
		}
		if nf > len(fields) {
			return nil, lineErr(line, "too many fields")
		}
		fs := fields[:nf]
		if fs[0][0] == '#' {
			switch string(fs[0]) {
			case "#":
				continue // comment: "#" alone or "# ..."
			case "#seed":
				if nf != 1 {
					return nil, lineErr(line, "unexpected text after #seed")
				}
				if sec != secNone {
					return nil, lineErr(line, "#seed must be the first section")
				}
				sec = secSeed
			case "#replay":
				if nf != 1 {
					return nil, lineErr(line, "unexpected text after #replay")
				}
				if sec != secNone && sec != secSeed {
					return nil, lineErr(line, "#replay after #replay or #end")
				}
				sec = secReplay
			default:
				return nil, lineErr(line, fmt.Sprintf("unknown directive %q", clip(fs[0])))
			}
			continue
		}
		op, err := parseOp(fs)
		if err != nil {
			return nil, lineErr(line, err.Error())
		}
		switch sec {
		case secNone:
			return nil, lineErr(line, "operation before #seed or #replay")
		case secSeed:
			f.Seed = append(f.Seed, op)
		case secReplay:
			f.Replay = append(f.Replay, op)
		case secEnd:
			return nil, lineErr(line, "operation after #end")
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineErr(line+1, fmt.Sprintf("line longer than %d bytes", maxLine))
		}
		return nil, fmt.Errorf("bench: line %d: %w", line+1, err)
	}
	return f, nil
}

func lineErr(line int, msg string) error {
	return fmt.Errorf("bench: line %d: %s", line, msg)
}

// clip shortens a field for an error message.
func clip(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// splitFields splits b at spaces and tabs (a trailing '\r' counts as
// space) into out and returns the number of fields, which may exceed
// len(out) (extra fields are counted, not stored).
func splitFields(b []byte, out [][]byte) int {
	n := 0
	i := 0
	for i < len(b) {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			break
		}
		j := i
		for j < len(b) && !isSpace(b[j]) {
			j++
		}
		if n < len(out) {
			out[n] = b[i:j]
		}
		n++
		i = j
	}
	return n
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func parseOp(fs [][]byte) (Op, error) {
	var op Op
	kind := fs[0]
	if len(kind) != 1 {
		return op, fmt.Errorf("unknown operation %q", clip(kind))
	}
	want := 0
	switch kind[0] {
	case 'L':
		op.Kind, want = OpLimit, 5
	case 'M':
		op.Kind, want = OpMarket, 4
	case 'C':
		op.Kind, want = OpCancel, 2
	default:
		return op, fmt.Errorf("unknown operation %q", clip(kind))
	}
	if len(fs) != want {
		return op, fmt.Errorf("%s wants %d fields, got %d", op.Kind, want, len(fs))
	}
	id, ok := parsePos(fs[1])
	if !ok {
		return op, fmt.Errorf("bad order id %q", clip(fs[1]))
	}
	op.ID = uint64(id)
	if op.Kind == OpCancel {
		return op, nil
	}
	switch string(fs[2]) {
	case "B":
		op.Side = book.Buy
	case "S":
		op.Side = book.Sell
	default:
		return op, fmt.Errorf("bad side %q (want B or S)", clip(fs[2]))
	}
	q := fs[3]
	if op.Kind == OpLimit {
		if op.Price, ok = parsePos(fs[3]); !ok {
			return op, fmt.Errorf("bad price %q", clip(fs[3]))
		}
		q = fs[4]
	}
	if op.Qty, ok = parsePos(q); !ok {
		return op, fmt.Errorf("bad quantity %q", clip(q))
	}
	return op, nil
}

// parsePos parses a positive decimal int64 made of digits only.
func parsePos(b []byte) (int64, bool) {
	v, ok := parseDigits(b)
	return v, ok && v > 0
}

// parseDigits parses a non-negative decimal int64 made of digits only,
// without allocating.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		if v > (math.MaxInt64-uint64(d))/10 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return int64(v), true
}

// parseEnd adds the space-separated "key=value" pairs of line to end.
func parseEnd(end End, line []byte) error {
	var one [1][]byte
	for len(line) > 0 {
		i := 0
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		line = line[i:]
		if splitFields(line, one[:]) == 0 {
			break
		}
		p := one[0]
		line = line[len(p):]
		eq := bytes.IndexByte(p, '=')
		if eq < 0 {
			return fmt.Errorf("#end: %q is not key=value", clip(p))
		}
		k, v := p[:eq], p[eq+1:]
		if !validKey(k) {
			return fmt.Errorf("#end: bad key %q", clip(k))
		}
		neg := len(v) > 0 && v[0] == '-'
		if neg {
			v = v[1:]
		}
		n, ok := parseDigits(v)
		if !ok {
			return fmt.Errorf("#end: bad value for %s: %q", k, clip(p[eq+1:]))
		}
		if neg {
			n = -n
		}
		if _, dup := end[string(k)]; dup {
			return fmt.Errorf("#end: duplicate key %s", k)
		}
		end[string(k)] = n
	}
	return nil
}

func validKey(k []byte) bool {
	if len(k) == 0 || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
