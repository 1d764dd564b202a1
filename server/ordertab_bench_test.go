package server

import "testing"

// putTwoProbes is orderTab.put as it was before GetOrPut: a Get, then a
// Put for a new order. The baseline of BenchmarkOrderTabPut.
func (t *orderTab) putTwoProbes(o *orderRec) *orderRec {
	i, ok := t.idx.Get(o.ID)
	if !ok {
		if n := len(t.free); n > 0 {
			i, t.free = t.free[n-1], t.free[:n-1]
		} else {
			if int(t.next) == len(t.pages)*orderPage {
				t.pages = append(t.pages, make([]orderRec, orderPage))
			}
			i = t.next
			t.next++
		}
		t.idx.Put(o.ID, i)
	}
	r := t.at(i)
	*r = *o
	return r
}

// BenchmarkOrderTabPut puts a new order into a table of a million and
// deletes the oldest, as the read model does under a stream of orders
// (ids ascend, the index is far larger than the caches): put, one probe
// of the index, against putTwoProbes.
func BenchmarkOrderTabPut(b *testing.B) {
	const held = 1 << 20
	for _, c := range []struct {
		name string
		put  func(*orderTab, *orderRec) *orderRec
	}{{"one-probe", (*orderTab).put}, {"two-probes", (*orderTab).putTwoProbes}} {
		b.Run(c.name, func(b *testing.B) {
			t := newOrderTab()
			o := orderRec{Account: 1, Qty: 1}
			for id := uint64(1); id <= held; id++ {
				o.ID = id
				c.put(&t, &o)
			}
			id := uint64(held)
			b.ResetTimer()
			for range b.N {
				id++
				o.ID = id
				c.put(&t, &o)
				t.del(id - held)
			}
		})
	}
}
