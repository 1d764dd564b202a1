package server

import "github.com/instant-social-trading/ist/internal/seqmap"

// pendingTab holds the registrations of commands in flight by their tag
// (readModel.pending). Tags are handed out in increasing order, by one
// counter for every request, and live from a request's registration to
// its result, a few milliseconds: a seqmap finds each in its page, where
// a Go map under a stream of batches spent most of an insert probing past
// the deleted entries of earlier batches (135 ns an order in istbench
// http's batch phase). The registrations themselves sit in a slab whose
// free entries are reused.
//
// A pendingTab is not safe for concurrent use (readModel.pmu guards it).
type pendingTab struct {
	idx  seqmap.Map
	slab []pendingOrder
	free []int32 // slab entries not in use
	// zero is what tag 0 has (set: zeroSet), which a seqmap cannot
	// hold: replaying the log registers each place under the tag it was
	// journaled with (Server.replayHistory), 0 for a command submitted
	// without one.
	zero    pendingOrder
	zeroSet bool
}

// resetPending empties the table of registrations, if nothing is
// registered, dropping its pages: the log's replay registers the tags of
// the process that wrote the log (Command.Tag is journaled), and this
// one counts its tags from 1 again, below them, where the seqmap would
// keep them in its hash map until the count passed the replayed tags.
// Open calls it once the log is replayed.
func (m *readModel) resetPending() {
	m.pmu.Lock()
	if m.pending.len() == 0 {
		m.pending = pendingTab{}
	}
	m.pmu.Unlock()
}

// put registers p under tag, replacing what tag had.
func (t *pendingTab) put(tag uint64, p pendingOrder) {
	if tag == 0 {
		t.zero, t.zeroSet = p, true
		return
	}
	// The entry a new tag takes, offered to the index in the probe that
	// finds whether the tag is there (as orderTab.put does).
	fresh := int32(len(t.slab))
	if n := len(t.free); n > 0 {
		fresh = t.free[n-1]
	}
	i, ok := t.idx.GetOrPut(tag, fresh)
	if !ok {
		if n := len(t.free); n > 0 {
			t.free = t.free[:n-1]
		} else {
			t.slab = append(t.slab, pendingOrder{})
		}
	}
	t.slab[i] = p
}

// take removes and returns what is registered under tag (the zero
// pendingOrder if nothing is).
func (t *pendingTab) take(tag uint64) pendingOrder {
	if tag == 0 {
		p := t.zero
		t.zero, t.zeroSet = pendingOrder{}, false
		return p
	}
	i, ok := t.idx.Take(tag)
	if !ok {
		return pendingOrder{}
	}
	p := t.slab[i]
	t.slab[i] = pendingOrder{} // holds no request's records
	t.free = append(t.free, i)
	return p
}

// len returns the number of registrations.
func (t *pendingTab) len() int {
	if t.zeroSet {
		return t.idx.Len() + 1
	}
	return t.idx.Len()
}
