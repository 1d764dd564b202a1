package engine

import (
	"sync"
	"sync/atomic"
)

// viewMap maps ids to their latest published view, for readers on any
// goroutine. It is a sync.Map of per-id atomic pointers, each made on its
// id's first view: publishing a newer view of a known id then allocates
// nothing (a sync.Map Store of an existing key allocates an entry). One
// goroutine stores (the results stage, or Open before it starts); ids are
// never removed.
type viewMap[K comparable, V any] struct{ m sync.Map }

// load returns the latest view of k.
func (vm *viewMap[K, V]) load(k K) (*V, bool) {
	p, ok := vm.m.Load(k)
	if !ok {
		return nil, false
	}
	v := p.(*atomic.Pointer[V]).Load()
	return v, v != nil
}

// store publishes v as the latest view of k.
func (vm *viewMap[K, V]) store(k K, v *V) {
	if p, ok := vm.m.Load(k); ok {
		p.(*atomic.Pointer[V]).Store(v)
		return
	}
	p := new(atomic.Pointer[V])
	p.Store(v)
	if q, loaded := vm.m.LoadOrStore(k, p); loaded {
		q.(*atomic.Pointer[V]).Store(v)
	}
}

// each calls fn for the latest view of every id, in no particular order,
// until fn returns false.
func (vm *viewMap[K, V]) each(fn func(*V) bool) {
	vm.m.Range(func(_, p any) bool {
		if v := p.(*atomic.Pointer[V]).Load(); v != nil {
			return fn(v)
		}
		return true
	})
}
