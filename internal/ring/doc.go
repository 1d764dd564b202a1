// Package ring holds the lock-free primitives of the engine pipeline, in
// the style of the LMAX Disruptor: a bounded multi-producer [Ring] of
// pre-allocated slots, padded cursors ([Sequence]) and a spin-yield-park
// wait strategy ([Waiter]) for the stages (producers that find the ring
// full park at once). It is the one place in ist with lock-free code;
// keep it small and keep this comment true.
//
//	producers ─Claim─► write slot ─Publish─► stage 1 ─► … ─► last stage ─Release─┐
//	    ▲                                                                       │
//	    └─────────────────────── slot may be reused ◄───────────────────────────┘
//
// Sequences start at 1; 0 means "nothing yet", so a zero [Sequence] is a
// stage cursor that has processed nothing. Sequence s lives in slot
// s & (size-1); a producer may claim s only once the last stage has released
// s-size.
//
// # Ownership rules
//
//  1. Producers. A successful Claim/TryClaim of s makes the caller the only
//     goroutine that may touch slot s until it calls Publish(s). It must
//     overwrite every field it relies on (slots are reused, not zeroed) and
//     must publish exactly once, also on its error paths (publish a no-op):
//     consumers see sequences in order, so an unpublished claim stalls them.
//     After Publish it must not touch the slot.
//  2. Stages. A stage may read slot s once its upstream cursor has reached
//     s: the first stages wait with [Ring.WaitPublished] (or poll
//     [Ring.Published]); a later stage waits on the [Sequence] of the
//     stage(s) before it, e.g. min(journal, matcher) for the results stage.
//     A stage may write only the slot fields it is documented to own (the
//     matcher its results, say); stages running in parallel own disjoint
//     fields, and only stages downstream of a writer read what it wrote.
//  3. Cursors. Each stage goroutine owns its Sequence: it alone stores to
//     it, in non-decreasing order, the last sequence it has finished with;
//     anyone may load it. The ring's claim counter is shared by producers
//     and moved only by CAS. The release cursor belongs to the last stage.
//  4. Release. The last stage calls [Ring.Release](s) when every stage is
//     done with the slots up to s. From then on a producer may overwrite
//     them, so no goroutine may keep a *T, or anything pointing into one,
//     past that point. (A slot keeps what it references alive until it is
//     overwritten; the last stage may clear pointer fields before release.)
//
// # Memory ordering
//
// Go's sync/atomic operations are sequentially consistent, and an atomic
// load that observes an atomic store is synchronized after it (the Go memory
// model). Every hand-over of a slot goes through such a pair, so plain reads
// and writes of slot fields never race:
//
//   - producer writes slot s, then published[s].Store(s); a stage that loads
//     published[s] == s then reads the whole slot;
//   - stage k finishes s, then stores its Sequence; stage k+1 loads a value
//     >= s, then touches s;
//   - the last stage finishes s, then Release(s) stores the release cursor;
//     a producer loads it in TryClaim before the CAS that gives it s+size,
//     then writes the slot;
//   - the CAS on the claim counter gives each sequence to one producer.
//
// The tests run all of this under the race detector, which checks these
// edges. Waiters park on channels; why no wake-up is lost is argued on
// [Waiter].
//
// # Usage
//
// A producer:
//
//	seq, cmd, err := r.Claim(ctx) // or TryClaim, mapping ErrFull to "overloaded"
//	if err != nil {
//		return err
//	}
//	*cmd = Command{...}
//	r.Publish(seq)
//
// A single consumer stage that is also the last one:
//
//	next := int64(1)
//	for {
//		hi, err := r.WaitPublished(ctx, next)
//		if err != nil {
//			return err // ErrClosed or ctx.Err()
//		}
//		for s := next; s <= hi; s++ {
//			apply(r.Slot(s))
//		}
//		r.Release(hi) // or, with later stages: cursor.Store(hi); their waiter.Notify()
//		next = hi + 1
//	}
package ring
