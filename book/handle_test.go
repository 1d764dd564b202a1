package book

import (
	"fmt"
	"slices"
)

// checkHandles verifies the handles that evs, the events of one command
// on b (an indexed book), give: each order they leave in b is found at
// its handle, as Order finds it; one given no handle is not in b; one
// taken out later in the command is not found at its handle; and no
// other kind of event carries one.
func checkHandles(b *Book, evs []Event) error {
	last := map[uint64]Handle{}
	var ids []uint64 // in event order, for a stable report
	for _, ev := range evs {
		switch ev.Kind {
		case EvAccepted, EvTriggered, EvAmended:
			if _, ok := last[ev.OrderID]; !ok {
				ids = append(ids, ev.OrderID)
			}
			last[ev.OrderID] = ev.Handle
		default:
			if ev.Handle != 0 {
				return fmt.Errorf("%s event of order %d with handle %d", ev.Kind, ev.OrderID, ev.Handle)
			}
		}
	}
	for _, id := range ids {
		h := last[id]
		o, live := b.Order(id)
		at, found := b.OrderAt(h, id)
		switch {
		case h == 0 && live:
			return fmt.Errorf("order %d is live, its events give no handle", id)
		case h != 0 && live && (!found || at != o):
			return fmt.Errorf("order %d at handle %d: %+v, %v; Order gives %+v", id, h, at, found, o)
		case !live && found:
			return fmt.Errorf("order %d is not live, handle %d finds it", id, h)
		}
	}
	return nil
}

// withoutHandles returns a copy of evs with their handles cleared, to
// compare with a book that does not give them (refBook).
func withoutHandles(evs []Event) []Event {
	evs = slices.Clone(evs)
	for i := range evs {
		evs[i].Handle = 0
	}
	return evs
}

// handleTwin is a book without an index (Options.NoIndex) driven by the
// handles its events give, beside an indexed book given the same
// commands: both must give the same events, handles included.
type handleTwin struct {
	b       *Book
	handles map[uint64]Handle // the last handle each order's events gave
	evs     []Event
}

func newHandleTwin(rules Rules, capacity int) (*handleTwin, error) {
	b, err := New(rules, &Options{Capacity: capacity, NoIndex: true})
	if err != nil {
		return nil, err
	}
	return &handleTwin{b: b, handles: map[uint64]Handle{}}, nil
}

// note records the handles of evs.
func (w *handleTwin) note(evs []Event) {
	for _, ev := range evs {
		switch ev.Kind {
		case EvAccepted, EvTriggered, EvAmended:
			w.handles[ev.OrderID] = ev.Handle
		}
	}
}

// place, cancel and amend apply a command as its indexed twin does; a
// place of a live id, which a book without an index does not refuse, is
// not for it (ok false).
func (w *handleTwin) place(o Order, errIndexed error) (evs []Event, err error, ok bool) {
	if errIndexed == ErrDuplicateID {
		return nil, nil, false
	}
	w.evs, err = w.b.Place(w.evs[:0], &o)
	w.note(w.evs)
	return w.evs, err, true
}

func (w *handleTwin) cancel(id uint64) ([]Event, error) {
	var err error
	w.evs, err = w.b.CancelAt(w.evs[:0], w.handles[id], id)
	w.note(w.evs)
	return w.evs, err
}

func (w *handleTwin) amend(id uint64, price, qty int64) ([]Event, error) {
	var err error
	w.evs, err = w.b.AmendAt(w.evs[:0], w.handles[id], id, price, qty)
	w.note(w.evs)
	return w.evs, err
}
