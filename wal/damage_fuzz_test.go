package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// FuzzEntryDamage checks what the format promises of damage (record.go:
// a CRC-32C over each record and over the block's header): a block of
// arbitrary commands, with one bit flipped anywhere or cut short
// anywhere, is refused with ErrCorrupt and no commands, never read as
// other commands. data holds the commands as compact bodies, each after
// a length byte (bodies that do not decode are left out); the first is
// numbered first, the others after it.
func FuzzEntryDamage(f *testing.F) {
	var seed []byte
	prev := int64(0)
	for _, c := range sampleCommands() {
		body := appendCompact(nil, &c, prev)
		if len(body) < 256 {
			seed = append(append(seed, byte(len(body))), body...)
			prev = c.Time
		}
	}
	f.Add(uint64(41), seed, uint32(0), uint32(7))
	f.Add(uint64(1), seed[:1+int(seed[0])], uint32(100), uint32(3))
	f.Add(^uint64(0)-100, seed, uint32(12345), uint32(99))
	f.Fuzz(func(t *testing.T, first uint64, data []byte, bit, cut uint32) {
		var cmds []engine.Command
		prev := int64(0)
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			if n > len(data) {
				break
			}
			var c engine.Command
			if decodeCompact(first+uint64(len(cmds)), data[:n], &c, prev) == nil {
				cmds = append(cmds, c)
				prev = c.Time
			}
			data = data[n:]
		}
		// None, or numbered from 0 (the log's first command is 1) or
		// past the last sequence number: not a block the log writes.
		if len(cmds) == 0 || first == 0 || first+uint64(len(cmds)-1) < first {
			return
		}
		key, v := encodeBlock(cmds)
		got, err := decodeEntry(key, v, nil)
		if err != nil || len(got) != len(cmds) {
			t.Fatalf("the block of %d commands: %d, %v", len(cmds), len(got), err)
		}
		for i := range got {
			if got[i] != cmds[i] {
				t.Fatalf("command %d: %+v, decoded %+v", i, cmds[i], got[i])
			}
		}
		bad := bytes.Clone(v)
		i := int(bit % uint32(8*len(v)))
		bad[i/8] ^= 1 << (i % 8)
		if got, err := decodeEntry(key, bad, nil); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
			t.Fatalf("bit %d of %d flipped: %d commands, %v", i, 8*len(v), len(got), err)
		}
		n := int(cut % uint32(len(v)))
		if got, err := decodeEntry(key, v[:n], nil); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
			t.Fatalf("cut to %d of %d bytes: %d commands, %v", n, len(v), len(got), err)
		}
	})
}
