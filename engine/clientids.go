package engine

import (
	"encoding/binary"
	"fmt"
	"iter"
	"unsafe"

	"github.com/instant-social-trading/ist/internal/ahead"
	"github.com/instant-social-trading/ist/internal/prefetch"
)

// clientIDTable maps (account, client order id) to an order, for the
// live orders and the ClientIDWindow most recently done ones. It is on the
// hot path of every order that carries a client order id, under constant
// inserts and deletes, and it is large, so its lookups are cache misses:
// what matters most is how much of it the cache holds. Each entry is
// therefore 8 bytes, eight to a cache line, and holds neither its key nor
// its order id: it holds a 32-bit tag (a hash of the key) and where the
// order is — the live order's record (its index in State.orders' slab,
// which holds the key and the id) or the done order's slot in
// State.doneIDs (likewise). A lookup compares tags, and reads the key
// only when a tag matches: a new client order id (the common case) costs
// one probe run and no key read; a cancel by client order id reads the
// order record it needs next anyway, without the order index. The tag
// only filters: keys are always compared in full, so two keys with the
// same tag are told apart.
//
// Open addressing with linear probing and backward-shift deletion (no
// tombstones, no allocation once grown), never a Go map. The tag is a
// fixed function of the key, so the layout is deterministic; it is never
// observable anyway (lookups compare full keys).
type clientIDTable struct {
	slots []clientIDSlot // power of two; at most 3/4 full
	mask  uint64
	n     int // entries in slots and old
	left  int // slots of old not yet walked; 0 while not growing
	// The table grows incrementally, as internal/idmap does: into one
	// twice the size, with each later add moving a few clusters of the
	// old one, so that no single order pays for rehashing a million
	// entries. While it grows, old holds the entries not yet moved. The
	// move walks old from its first slot to its last and clears each
	// entry it moves; it stops only after a free slot, never within a
	// cluster, so the probe runs left in old are intact: deletes shift
	// entries within their cluster, nothing is added to old, and every
	// entry is in one table only. Lookups probe both tables meanwhile.
	old  []clientIDSlot
	oldN int    // entries in old
	next uint64 // next slot of old to walk: the walked ones are below
	// ahead is the array the next growth takes if it was made in time
	// on another goroutine (growAhead); nil until growAhead first asks.
	ahead *ahead.Array[clientIDSlot]
}

// clientIDSlot is one entry; tag == 0 marks a free slot.
type clientIDSlot struct {
	tag uint32 // clientIDTag of the key
	// pos is liveBit | the live order's index in State.orders.slab, or
	// the index of the done order's key in State.doneIDs.
	pos uint32
}

// liveBit marks clientIDSlot.pos of a live order: its key and id are in
// its record.
const liveBit = 1 << 31

// livePos is clientIDSlot.pos of the live order at slab index i.
func livePos(i int32) uint32 { return liveBit | uint32(i) }

// live reports whether e is a live order's entry.
func (e *clientIDSlot) live() bool { return e.pos&liveBit != 0 }

// slab returns the slab index of a live entry's order.
func (e *clientIDSlot) slab() int32 { return int32(e.pos &^ liveBit) }

func newClientIDTable() clientIDTable {
	return clientIDTable{slots: make([]clientIDSlot, 1024), mask: 1023}
}

// hashRefKey mixes the account and the 36 reference bytes (wyhash-like
// multiply-xor rounds). It is fixed, never seeded: state is deterministic.
func hashRefKey(k *refKey) uint64 {
	const m1, m2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	h := k.account*m1 ^ m2
	for i := 0; i+8 <= len(k.ref); i += 8 {
		h = (h ^ binary.LittleEndian.Uint64(k.ref[i:])) * m1
		h ^= h >> 29
	}
	h = (h ^ uint64(binary.LittleEndian.Uint32(k.ref[32:]))) * m2
	return h ^ h>>32
}

// placeFingerprint returns a hash, never 0, of what a place command asks
// for: its market, every field of its order that the submitter sets and
// its expiry time.
// A resend of a client order id is the same order if its fingerprint is
// the original's (two different orders collide with probability 2^-64).
// It is fixed, never seeded: state is deterministic.
func placeFingerprint(cmd *Command) uint64 {
	const m1, m2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	o := &cmd.Order
	h := uint64(cmd.Market)*m1 ^ m2
	for _, v := range [...]uint64{
		uint64(o.Side) | uint64(o.Type)<<8 | uint64(o.TIF)<<16 | uint64(o.STP)<<24 | uint64(b2u(o.PostOnly))<<32,
		uint64(o.Price), uint64(o.StopPrice), uint64(o.Qty), uint64(o.QuoteBudget), uint64(o.DisplayQty),
	} {
		h = (h ^ v) * m1
		h ^= h >> 29
	}
	if cmd.ExpireAt != 0 {
		// Only then: the fingerprints of other orders are as before it
		// (snapshots keep them).
		h = (h ^ uint64(cmd.ExpireAt)) * m1
		h ^= h >> 29
	}
	h *= m2
	if h ^= h >> 32; h != 0 {
		return h
	}
	return 1
}

// clientIDTag is the tag of k in the table: never 0.
func clientIDTag(k *refKey) uint32 {
	if t := uint32(hashRefKey(k)); t != 0 {
		return t
	}
	return 1
}

// refTagOf returns the tag of the key (cmd.Account, cmd.Ref): the one
// Submit computed, or computed now. cmd.Ref must be set.
func refTagOf(cmd *Command) uint32 {
	if cmd.refTag != 0 {
		return cmd.refTag
	}
	return clientIDTag(&refKey{cmd.Account, cmd.Ref})
}

// clientIDHome is the first slot probed for tag in a table of mask+1
// slots (Fibonacci hashing: the product's high bits).
func clientIDHome(tag uint32, mask uint64) uint64 {
	return (uint64(tag) * 0x9E3779B97F4A7C15 >> 32) & mask
}

// clientIDMoveStep is how many slots of the old table each add walks, at
// least (it stops after a free slot). The new table, twice the size and
// at most 3/4 full, has room for 3/4 of the old one's size in more adds;
// the walk ends after a quarter.
const clientIDMoveStep = 4

// add inserts an entry. Its key must be absent (the caller looked it up).
func (t *clientIDTable) add(tag, pos uint32) {
	if t.left != 0 {
		t.move()
	}
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
	}
	insertClientID(t.slots, t.mask, clientIDSlot{tag: tag, pos: pos})
	t.n++
}

// insertClientID puts e in the first free slot of its probe run.
func insertClientID(slots []clientIDSlot, mask uint64, e clientIDSlot) {
	i := clientIDHome(e.tag, mask)
	for slots[i].tag != 0 {
		i = (i + 1) & mask
	}
	slots[i] = e
}

// findClientID returns the slot of the entry with tag and pos in slots:
// exact, as a slab index holds one live order and a doneIDs index one
// done key.
func findClientID(slots []clientIDSlot, mask uint64, tag, pos uint32) (uint64, bool) {
	for i := clientIDHome(tag, mask); ; i = (i + 1) & mask {
		s := &slots[i]
		if s.tag == 0 {
			return 0, false
		}
		if s.tag == tag && s.pos == pos {
			return i, true
		}
	}
}

// entry returns the entry with tag and pos, or nil. The pointer is valid
// until the table changes.
func (t *clientIDTable) entry(tag, pos uint32) *clientIDSlot {
	if i, ok := findClientID(t.slots, t.mask, tag, pos); ok {
		return &t.slots[i]
	}
	if t.left != 0 {
		if i, ok := findClientID(t.old, uint64(len(t.old)-1), tag, pos); ok {
			return &t.old[i]
		}
	}
	return nil
}

// remove deletes the entry with tag and pos, if there is one.
func (t *clientIDTable) remove(tag, pos uint32) {
	if i, ok := findClientID(t.slots, t.mask, tag, pos); ok {
		deleteClientID(t.slots, t.mask, i)
		t.n--
		return
	}
	if t.left != 0 {
		mask := uint64(len(t.old) - 1)
		if i, ok := findClientID(t.old, mask, tag, pos); ok {
			deleteClientID(t.old, mask, i)
			t.n--
			t.oldN--
		}
	}
}

// prefetch starts loading the slot where a lookup of tag begins
// (clientIDHome, written out so that prefetch stays small enough to
// inline).
func (t *clientIDTable) prefetch(tag uint32) {
	prefetch.Line(uintptr(unsafe.Pointer(&t.slots[uint64(tag)*0x9E3779B97F4A7C15>>32&t.mask])))
}

// deleteClientID empties slot i, shifting later entries of its probe run
// back into the hole unless their home lies cyclically in (hole, j].
func deleteClientID(slots []clientIDSlot, mask uint64, i uint64) {
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := &slots[j]
		if e.tag == 0 {
			break
		}
		hj := clientIDHome(e.tag, mask)
		if (j > i && (hj <= i || hj > j)) || (j < i && (hj <= i && hj > j)) {
			slots[i] = *e
			i = j
		}
	}
	slots[i] = clientIDSlot{}
}

// grow starts moving every entry into a table twice the size.
func (t *clientIDTable) grow() {
	t.finish()
	t.old, t.oldN, t.next, t.left = t.slots, t.n, 0, len(t.slots)
	t.slots = t.newSlots(2 * len(t.slots))
	t.mask = uint64(len(t.slots) - 1)
}

// newSlots returns n free slots: the array made ahead for them, if it is
// ready.
func (t *clientIDTable) newSlots(n int) []clientIDSlot {
	if t.ahead == nil {
		return make([]clientIDSlot, n)
	}
	return t.ahead.Take(n)
}

// growAhead returns a function that makes the array the table's next
// growth will take, for another goroutine to run, or nil if that growth
// is not near (more than within adds away, and the table less than 11/12
// of the way to it), the array is small, or it is already asked for (see
// idmap.Map.GrowAhead).
func (t *clientIDTable) growAhead(within int) func() {
	size := 2 * len(t.slots)
	if 3*len(t.slots)/4-t.n > max(within, len(t.slots)/16) || size*int(unsafe.Sizeof(clientIDSlot{})) < ahead.MinBytes {
		return nil
	}
	if t.ahead == nil {
		t.ahead = new(ahead.Array[clientIDSlot])
	}
	return t.ahead.Ask(size)
}

// move walks at least clientIDMoveStep slots of the old table, moving
// their entries, and on to the next free slot; it drops the old table
// once it is empty.
func (t *clientIDTable) move() {
	for walked := 0; t.oldN > 0; walked++ {
		i := t.next
		t.next++
		t.left--
		e := t.old[i]
		if e.tag == 0 {
			if walked >= clientIDMoveStep {
				return
			}
			continue
		}
		t.old[i] = clientIDSlot{}
		t.oldN--
		insertClientID(t.slots, t.mask, e)
	}
	t.old, t.left = nil, 0
}

// finish moves what is left of the old table.
func (t *clientIDTable) finish() {
	for t.left != 0 {
		t.move()
	}
}

// reserve resizes the table now, if needed, so that n entries fit
// without growth: all at once, not a little in each later add.
func (t *clientIDTable) reserve(n int) {
	t.finish()
	size := len(t.slots)
	for 3*size < 4*n {
		size *= 2
	}
	if size > len(t.slots) {
		old := t.slots
		t.slots = t.newSlots(size)
		t.mask = uint64(len(t.slots) - 1)
		for _, e := range old {
			if e.tag != 0 {
				insertClientID(t.slots, t.mask, e)
			}
		}
	}
}

func (t *clientIDTable) len() int { return t.n }

// clientID returns the order id that key k names: a live order, or a done
// one within the window.
func (s *State) clientID(k *refKey) (uint64, bool) {
	return s.clientIDTagged(k, clientIDTag(k))
}

// clientIDTagged is clientID for a key whose tag is known.
func (s *State) clientIDTagged(k *refKey, tag uint32) (uint64, bool) {
	if e := s.clientIDEntry(k, tag); e != nil {
		return s.entryID(e), true
	}
	return 0, false
}

// entryID returns the order id of entry e.
func (s *State) entryID(e *clientIDSlot) uint64 {
	if e.live() {
		return s.orders.at(e.slab()).id
	}
	return s.doneIDs.ids[e.pos]
}

// clientIDEntry returns the entry of key k, whose tag is known, or nil.
// The pointer is valid until the table changes.
func (s *State) clientIDEntry(k *refKey, tag uint32) *clientIDSlot {
	e, _ := s.clientIDFind(k.account, &k.ref, tag)
	return e
}

// clientIDLive returns the live order whose key is (account, ref), whose
// tag is known, and its slab entry; or nil.
func (s *State) clientIDLive(account uint64, ref *Ref, tag uint32) (int32, *order) {
	e, rec := s.clientIDFind(account, ref, tag)
	if rec == nil {
		return 0, nil
	}
	return e.slab(), rec
}

// clientIDFind returns the entry of key (account, ref), whose tag is
// known, or nil, and the order record of a live entry (nil for a done
// one): one probe run, the record read once (a cancel or amend by client
// order id needs it next). The pointers are valid until the tables change.
// It takes the key's parts, not a refKey: a refKey built from a command
// goes through a temporary on the stack, copied with loads wider than the
// stores that built it, and such a load waits for every earlier store.
func (s *State) clientIDFind(account uint64, ref *Ref, tag uint32) (*clientIDSlot, *order) {
	t := &s.clientIDs
	slots, mask := t.slots, t.mask
	// The table, then its old one while it grows: one loop, not a call
	// per table (the call would cost the matcher more than its code).
	for {
		for i := clientIDHome(tag, mask); ; i = (i + 1) & mask {
			e := &slots[i]
			if e.tag == tag {
				if e.live() {
					if rec := s.orders.at(e.slab()); rec.account == account && rec.ref == *ref {
						return e, rec
					}
				} else if d := &s.doneIDs.keys[e.pos]; d.account == account && d.ref == *ref {
					return e, nil
				}
			} else if e.tag == 0 {
				break
			}
		}
		if t.left == 0 || mask != t.mask { // done, or done with old (its mask is half)
			return nil, nil
		}
		slots, mask = t.old, uint64(len(t.old)-1)
	}
}

// entryFingerprint returns the place fingerprint of the order of entry e
// (0: unknown).
func (s *State) entryFingerprint(e *clientIDSlot) uint64 {
	if e.live() {
		return s.orders.at(e.slab()).fp
	}
	return s.doneIDs.fps[e.pos]
}

// slotKey returns the key of entry e.
func (s *State) slotKey(e *clientIDSlot) (refKey, bool) {
	if e.live() {
		if i := e.slab(); i < s.orders.end() && s.orders.at(i).id != 0 {
			rec := s.orders.at(i)
			return refKey{rec.account, rec.ref}, true
		}
		return refKey{}, false
	}
	if int(e.pos) >= len(s.doneIDs.keys) {
		return refKey{}, false
	}
	return s.doneIDs.keys[e.pos], true
}

// addClientID maps a key (absent) whose tag is tag to the live order at
// slab index i.
func (s *State) addClientID(tag uint32, i int32) {
	s.clientIDs.add(tag, livePos(i))
}

// How far ahead retireClientID prefetches, in retirements: the table
// entry of a done id to forget, and the window's key to overwrite. Tuned
// with istbench engine in alternating runs (16 and 64 alike, 256 slower;
// 4 and 16 keys slower than 8).
const (
	retireAhead = 64
	keysAhead   = 8
)

// The window's positions wrap with a mask: ClientIDWindow must be a power
// of two (this does not compile otherwise).
const _ uint = -(ClientIDWindow & (ClientIDWindow - 1))

// retireClientID keeps the client order id of order rec, at slab index i,
// which is now done, in the window of done ids, forgetting the oldest if
// it is full. Call it before rec leaves s.orders.
func (s *State) retireClientID(rec *order, i int32) {
	q := &s.doneIDs
	if q.keys == nil {
		q.alloc()
	}
	var p int
	if q.n == len(q.keys) {
		p = q.head
		// The done ids are forgotten oldest first, so which entry of
		// the table goes next is known long before: start loading the
		// one forgotten retireAhead retirements from now (its miss
		// overlaps with the commands in between, instead of stalling
		// this one's find).
		s.clientIDs.prefetch(q.tags[(p+retireAhead)&(len(q.keys)-1)])
		s.clientIDs.remove(q.tags[p], uint32(p))
		q.head = (q.head + 1) % len(q.keys)
	} else {
		p = (q.head + q.n) % len(q.keys)
		q.n++
	}
	// The window's keys are written in a ring, each last written
	// ClientIDWindow retirements ago and long out of the cache: start
	// loading the one keysAhead positions on. The key field by field: a
	// composite literal would go through a temporary on the stack (see
	// clientIDFind).
	prefetch.Line(uintptr(unsafe.Pointer(&q.keys[(p+keysAhead)&(len(q.keys)-1)])))
	k := &q.keys[p]
	k.account = rec.account
	k.ref = rec.ref
	q.tags[p], q.fps[p], q.ids[p] = rec.tag, rec.fp, rec.id
	if e := s.clientIDs.entry(rec.tag, livePos(i)); e != nil {
		e.pos = uint32(p)
	}
}

// restoreClientIDs rebuilds the table from a snapshot's entries (keys in
// increasing order, with their order ids) and its done keys (oldest
// first) with their orders' fingerprints (doneFPs, nil: unknown). The
// orders must be restored already: every entry must be a live order with
// that key, or a done key.
func (s *State) restoreClientIDs(keys []refKey, ids []uint64, done []refKey, doneFPs []uint64) error {
	byKey := make(map[refKey]uint64, len(keys))
	for i, k := range keys {
		byKey[k] = ids[i]
	}
	if len(done) > 0 {
		s.doneIDs.alloc()
	}
	for p, k := range done {
		id, ok := byKey[k]
		if !ok {
			return fmt.Errorf("%w: done client order id not in the map", ErrCorruptSnapshot)
		}
		if s.orders.get(id) != nil {
			return fmt.Errorf("%w: client order id of live order %d among the done ones", ErrCorruptSnapshot, id)
		}
		delete(byKey, k)
		tag := clientIDTag(&k)
		var fp uint64 // unknown before version 3
		if doneFPs != nil {
			fp = doneFPs[p]
		}
		s.restoreDone(p, &k, tag, fp, id)
	}
	for i := range keys {
		k := &keys[i]
		id, ok := byKey[*k]
		if !ok {
			continue // done
		}
		i, ok := s.orders.index.Get(id)
		if !ok || s.orders.at(i).account != k.account || s.orders.at(i).ref != k.ref {
			return fmt.Errorf("%w: client order id of order %d, which is neither live with it nor done", ErrCorruptSnapshot, id)
		}
		s.addClientID(s.orders.at(i).tag, i)
	}
	return nil
}

// restoreClientIDsV4 rebuilds the table from the live orders' records
// (restored already) and a version 4 snapshot's done keys (oldest first)
// with their orders' fingerprints and ids. No key may be there twice, and
// a done key's order may not be live.
func (s *State) restoreClientIDsV4(done []refKey, doneFPs, doneIDs []uint64) error {
	n := len(done)
	for i := range s.orders.end() {
		if rec := s.orders.at(i); rec.id != 0 && !rec.ref.IsZero() {
			n++
		}
	}
	s.clientIDs.reserve(n)
	for i := range s.orders.end() {
		rec := s.orders.at(i)
		if rec.id == 0 || rec.ref.IsZero() {
			continue
		}
		if s.clientIDEntry(&refKey{rec.account, rec.ref}, rec.tag) != nil {
			return fmt.Errorf("%w: client order id of order %d twice", ErrCorruptSnapshot, rec.id)
		}
		s.addClientID(rec.tag, int32(i))
	}
	if len(done) > 0 {
		s.doneIDs.alloc()
	}
	for p := range done {
		k, id := &done[p], doneIDs[p]
		tag := clientIDTag(k)
		if id == 0 || s.orders.get(id) != nil {
			return fmt.Errorf("%w: done client order id of order %d, which is live or none", ErrCorruptSnapshot, id)
		}
		if s.clientIDEntry(k, tag) != nil {
			return fmt.Errorf("%w: done client order id of order %d twice", ErrCorruptSnapshot, id)
		}
		s.restoreDone(p, k, tag, doneFPs[p], id)
	}
	return nil
}

// restoreDone puts done key k (tag, its order's fingerprint fp and id)
// at position p of the window of done ids, the next after those before
// it, and into the table.
func (s *State) restoreDone(p int, k *refKey, tag uint32, fp, id uint64) {
	s.doneIDs.keys[p], s.doneIDs.tags[p], s.doneIDs.fps[p], s.doneIDs.ids[p] = *k, tag, fp, id
	s.doneIDs.n++
	s.clientIDs.add(tag, uint32(p))
}

// checkClientIDs verifies the table against the orders and the done keys:
// every entry's tag is its key's, live entries are the live orders with a
// client order id, done entries are the done keys, one each.
func (s *State) checkClientIDs() error {
	live, done := 0, 0
	seenPos := make(map[uint32]bool)
	if err := s.clientIDs.check(); err != nil {
		return err
	}
	for e := range s.clientIDs.entries() {
		k, ok := s.slotKey(e)
		if !ok {
			return fmt.Errorf("engine: client order id entry at %#x has no key", e.pos)
		}
		id := s.entryID(e)
		if clientIDTag(&k) != e.tag {
			return fmt.Errorf("engine: client order id entry of order %d has the wrong tag", id)
		}
		if e.live() {
			if seenPos[e.pos] {
				return fmt.Errorf("engine: two client order id entries for order %d", id)
			}
			seenPos[e.pos] = true
			live++
			continue
		}
		q := &s.doneIDs
		if q.tags[e.pos] != e.tag {
			return fmt.Errorf("engine: done client order id of order %d: tag not kept", id)
		}
		if (int(e.pos)-q.head+len(q.keys))%len(q.keys) >= q.n || seenPos[e.pos] {
			return fmt.Errorf("engine: done client order id entry of order %d at a free or shared position", id)
		}
		seenPos[e.pos] = true
		done++
	}
	withRef := 0
	for i := range s.orders.end() {
		if rec := s.orders.at(i); rec.id != 0 && !rec.ref.IsZero() {
			id := rec.id
			withRef++
			if rec.tag != clientIDTag(&refKey{rec.account, rec.ref}) {
				return fmt.Errorf("engine: order %d: client order id tag not kept", id)
			}
			if got, ok := s.clientID(&refKey{rec.account, rec.ref}); !ok || got != id {
				return fmt.Errorf("engine: order %d's client order id is not mapped to it", id)
			}
		}
	}
	if live != withRef || done != s.doneIDs.n || live+done != s.clientIDs.n {
		return fmt.Errorf("engine: %d live and %d done client order id entries (%d counted) for %d live orders with one and %d done",
			live, done, s.clientIDs.n, withRef, s.doneIDs.n)
	}
	return nil
}

// prefetchLookup starts loading the slot of the client order id table
// that cmd's lookup will probe first, if cmd is a place, cancel or amend
// whose tag Submit computed, so that the cache miss overlaps with the
// commands applied before cmd instead of stalling it. It reads only
// cmd's first cache line and changes nothing.
func (s *State) prefetchLookup(cmd *Command) {
	if cmd.refTag == 0 {
		return
	}
	switch cmd.Kind {
	case CmdPlace, CmdCancel, CmdAmend, CmdAmendTotal:
		s.clientIDs.prefetch(cmd.refTag)
	}
}

// entries yields every entry of the table, in no particular order.
func (t *clientIDTable) entries() iter.Seq[*clientIDSlot] {
	return func(yield func(*clientIDSlot) bool) {
		for _, slots := range [...][]clientIDSlot{t.slots, t.old} {
			for i := range slots {
				if e := &slots[i]; e.tag != 0 && !yield(e) {
					return
				}
			}
		}
	}
}

// check verifies the table's own invariants while it grows: every entry
// is found where it is, in one table only; the counts are right; the old
// table's walked part is empty.
func (t *clientIDTable) check() error {
	n := 0
	for i, e := range t.slots {
		if e.tag == 0 {
			continue
		}
		n++
		if j, ok := findClientID(t.slots, t.mask, e.tag, e.pos); !ok || j != uint64(i) {
			return fmt.Errorf("engine: client order id entry %#x unreachable", e.pos)
		}
	}
	if 4*n > 3*len(t.slots) {
		return fmt.Errorf("engine: client order id table over 3/4 full: %d in %d slots", n, len(t.slots))
	}
	if t.left == 0 {
		if t.old != nil || t.oldN != 0 {
			return fmt.Errorf("engine: client order id table not growing, but an old table of %d slots", len(t.old))
		}
	} else {
		oldN := 0
		mask := uint64(len(t.old) - 1)
		for i, e := range t.old {
			if e.tag == 0 {
				continue
			}
			oldN++
			if j, ok := findClientID(t.old, mask, e.tag, e.pos); !ok || j != uint64(i) {
				return fmt.Errorf("engine: client order id entry %#x unreachable in the old table", e.pos)
			}
			if _, ok := findClientID(t.slots, t.mask, e.tag, e.pos); ok {
				return fmt.Errorf("engine: client order id entry %#x in both tables", e.pos)
			}
			if uint64(i) < t.next {
				return fmt.Errorf("engine: client order id entry %#x in the old table's walked part", e.pos)
			}
		}
		if oldN != t.oldN || oldN == 0 {
			return fmt.Errorf("engine: client order id table's old table holds %d entries, counted %d", oldN, t.oldN)
		}
		n += oldN
	}
	if n != t.n {
		return fmt.Errorf("engine: client order id table holds %d entries, counted %d", n, t.n)
	}
	return nil
}
