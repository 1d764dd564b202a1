package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzSnapshotDamage checks what the snapshot format promises of damage
// (a CRC-32C over the whole encoding): the snapshot of a state reached
// by random trading and copy-trading commands (seed, n of them; with a
// price band from the start for a seed divisible by 3), with one
// bit flipped anywhere or cut short anywhere, is refused with
// ErrCorruptSnapshot; undamaged, it decodes to a state that encodes the
// same.
func FuzzSnapshotDamage(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint32(0), uint32(0))
	f.Add(uint64(2), uint8(60), uint32(999), uint32(77))
	f.Add(uint64(3), uint8(200), uint32(1<<20), uint32(1<<16))
	f.Add(uint64(6), uint8(120), uint32(4242), uint32(4000)) // a price band: version 9
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, bit, cut uint32) {
		s := NewState()
		var evs []Event
		cmds := genesis(4)
		if seed%3 == 0 {
			cmds = append(cmds, setBand(2, 700)) // and randomCommand changes bands
		}
		for i, c := range cmds {
			c.Seq = uint64(i + 1)
			_, evs = s.Apply(&c, evs[:0])
		}
		r := rand.New(rand.NewPCG(seed, 2))
		for i := range int(n) {
			c := randomCommand(r, s, 4)
			if i%3 == 2 {
				c = randomCopyCommand(r, s, 4)
			}
			c.Seq = s.Seq() + 1
			_, evs = s.Apply(&c, evs[:0])
		}
		snap := s.AppendSnapshot(nil)
		st, err := DecodeState(snap)
		if err != nil {
			t.Fatalf("undamaged snapshot: %v", err)
		}
		if !bytes.Equal(st.AppendSnapshot(nil), snap) {
			t.Fatal("undamaged snapshot re-encodes differently")
		}
		bad := bytes.Clone(snap)
		i := int(bit % uint32(8*len(snap)))
		bad[i/8] ^= 1 << (i % 8)
		if _, err := DecodeState(bad); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("bit %d of %d flipped: %v", i, 8*len(snap), err)
		}
		k := int(cut % uint32(len(snap)))
		if _, err := DecodeState(snap[:k]); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("cut to %d of %d bytes: %v", k, len(snap), err)
		}
	})
}
