package book

import (
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/tidwall/btree"
)

// Options tune a Book. The zero value (or nil) means defaults.
type Options struct {
	// Capacity is the number of resting orders to pre-allocate room for.
	// The book grows past it as needed, incrementally (a larger array
	// into which each later order moves a few of the old one's entries,
	// so that no single order pays for copying the book); growth
	// allocates, so size it for the expected peak to keep every
	// operation allocation-free.
	// Default 1024 (0); at most MaxCapacity, and New refuses a negative
	// one or one above it with ErrInvalidOptions.
	Capacity int
	// NoIndex: the book keeps no index of its live orders by id. Its
	// owner keeps each order's Handle instead (from the events of Place
	// and Amend, and from Restore) and uses the methods that take one
	// (CancelAt, AmendAt, OrderAt, SetStopBudgetAt): they read the
	// order where it sits, with no hash table to probe, insert into and
	// delete from at each order, and the book takes 16 to 32 bytes less
	// an order. The methods by id (Cancel, Amend, Order, Live,
	// SetStopBudget) then find no order, and Place and Restore do not
	// refuse an id that is live: the owner must give each order an id of
	// its own, as the engine, which numbers them, does.
	NoIndex bool
}

const defaultCapacity = 1024

// MaxCapacity is the largest Options.Capacity and the most that Reserve
// makes room for: the most resting orders a book can index (orders are
// indexed by int32), or on 32-bit platforms the most whose memory (about
// 128 bytes an order) can be addressed. Room for that many orders takes
// that much memory at once.
const MaxCapacity = min(math.MaxInt32, math.MaxInt>>7)

// nilIdx terminates node and level lists.
const nilIdx = -1

// node is a resting order. Nodes live in Book.nodes and link into their
// level's FIFO by index; a free node's next links the free list.
type node struct {
	id       uint64
	owner    uint64
	price    int64
	open     int64 // visible + hidden
	visible  int64
	display  int64 // iceberg slice size; 0 if not an iceberg
	prev     int32
	next     int32
	level    int32
	side     Side
	stp      STPMode
	postOnly bool
}

// level is one price level: a FIFO of nodes with running totals. A free
// level's head links the free list.
type level struct {
	price int64 // 0 while the level is free
	vis   int64 // sum of visible
	open  int64 // sum of open
	head  int32
	tail  int32
	count int32
	side  Side
}

// bookSide holds one side's levels in a B-tree keyed so that the best
// level is the minimum: the price for asks, -price for bids.
//
// A level that empties stays in the tree (and its slab entry) until the
// side holds more than pruneMin empty levels and twice as many empty as
// live ones: prices come back, and a B-tree insert after a delete may
// split a node, which allocates. So in steady state nothing allocates.
type bookSide struct {
	tree  btree.Map[int64, int32]
	best  int32 // level index of the best non-empty level, or nilIdx
	empty int   // empty levels kept in the tree
	// cache is a direct-mapped price → level cache in front of the tree.
	// An entry is a hint: it is valid only if the level it names is live,
	// on this side and at that price.
	cache [levelCacheSize]int32
}

const levelCacheSize = 1024 // a power of two

// pruneMin is the number of empty levels a side keeps at least before it
// prunes them.
const pruneMin = 1024

// Book is one market's limit order book. See the package documentation for
// the matching rules. A Book must be created with New and is not safe for
// concurrent use.
type Book struct {
	rules Rules

	// pages hold the nodes (see node): node i is at i&nodePageMask in
	// page i>>nodePageBits.
	pages    [][]node
	nnodes   int32 // nodes handed out so far, free ones included
	freeNode int32
	capNodes int // nodes the pages hold
	levels   []level
	freeLvl  int32
	sides    [2]bookSide
	index    idIndex // empty if noIndex
	noIndex  bool
	resting  int

	stops stopQueue

	scratch []int32 // prune

	// held is, by side, the open quantity of the side's resting orders
	// plus the quantity of its pending GTC stop-limits, which may rest
	// once released. It never exceeds math.MaxInt64 (see room), so no
	// level total can wrap.
	held [2]int64

	last int64  // last trade price, 0 before the first trade
	seq  uint64 // arrival counter of accepted orders

	// ahead is the node page the next growth takes if it was made in
	// time on another goroutine (GrowAhead); nil until GrowAhead asks.
	ahead *aheadArray[node]
}

// Errors returned by New.
var (
	ErrInvalidRules   = errors.New("book: invalid rules")
	ErrInvalidOptions = errors.New("book: invalid options")
)

// New returns an empty book for a market with the given rules, or
// ErrInvalidRules (wrapped with details) if the rules are inconsistent:
// negative values, MinQty not a multiple of LotSize, MaxQty below MinQty,
// or MaxPrice below TickSize (a MaxPrice off the tick is rounded down to
// it); or ErrInvalidOptions (wrapped)
// for a Capacity below 0 or above MaxCapacity.
func New(rules Rules, opts *Options) (*Book, error) {
	if rules.TickSize < 0 || rules.LotSize < 0 || rules.MinQty < 0 || rules.MaxQty < 0 ||
		rules.MinNotional < 0 || rules.MaxPrice < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidRules)
	}
	r := rules.withDefaults()
	if r.MinQty%r.LotSize != 0 {
		return nil, fmt.Errorf("%w: min quantity %d not a multiple of lot %d", ErrInvalidRules, r.MinQty, r.LotSize)
	}
	if r.MaxQty < r.MinQty {
		return nil, fmt.Errorf("%w: max quantity %d below min %d", ErrInvalidRules, r.MaxQty, r.MinQty)
	}
	if rules.MaxPrice != 0 {
		// Prices are multiples of the tick: the highest one at or below
		// MaxPrice is the real limit. Rounding (rather than refusing)
		// keeps markets created by earlier releases as they were.
		if r.MaxPrice -= r.MaxPrice % r.TickSize; r.MaxPrice == 0 {
			return nil, fmt.Errorf("%w: max price %d below tick %d", ErrInvalidRules, rules.MaxPrice, r.TickSize)
		}
	}
	capacity := defaultCapacity
	if opts != nil && opts.Capacity != 0 {
		if opts.Capacity < 0 || opts.Capacity > MaxCapacity {
			return nil, fmt.Errorf("%w: capacity %d outside 0..%d", ErrInvalidOptions, opts.Capacity, MaxCapacity)
		}
		capacity = opts.Capacity
	}
	b := &Book{
		rules:    r,
		freeNode: nilIdx,
		levels:   make([]level, 0, 64),
		freeLvl:  nilIdx,
	}
	if b.noIndex = opts != nil && opts.NoIndex; !b.noIndex {
		b.index = newIDIndex(capacity)
	}
	for i := range b.sides {
		s := &b.sides[i]
		s.best = nilIdx
		for j := range s.cache {
			s.cache[j] = nilIdx
		}
	}
	b.stops.init()
	b.pages = [][]node{make([]node, min(capacity, nodePageLen))}
	b.capNodes = len(b.pages[0])
	b.reserveNodes(capacity)
	return b, nil
}

// Rules returns the market's rules, with defaults filled in.
func (b *Book) Rules() Rules { return b.rules }

// levelKey is the B-tree key of a price on a side: best first.
func levelKey(side Side, price int64) int64 {
	if side == Buy {
		return -price
	}
	return price
}

// BestBid returns the best bid price and its visible quantity; ok is false
// if there are no bids.
func (b *Book) BestBid() (price, qty int64, ok bool) { return b.best(Buy) }

// BestAsk returns the best ask price and its visible quantity; ok is false
// if there are no asks.
func (b *Book) BestAsk() (price, qty int64, ok bool) { return b.best(Sell) }

func (b *Book) best(side Side) (price, qty int64, ok bool) {
	li := b.sides[side].best
	if li == nilIdx {
		return 0, 0, false
	}
	lv := &b.levels[li]
	return lv.price, lv.vis, true
}

// Depth appends up to n levels of one side, best first, to dst and returns
// the extended slice.
func (b *Book) Depth(dst []Level, side Side, n int) []Level {
	if n <= 0 || side > Sell {
		return dst
	}
	b.sides[side].tree.Scan(func(_ int64, li int32) bool {
		lv := &b.levels[li]
		if lv.count == 0 {
			return true
		}
		dst = append(dst, Level{Price: lv.price, Qty: lv.vis, Orders: int(lv.count)})
		n--
		return n > 0
	})
	return dst
}

// LevelBeyond returns the best price of side's non-empty levels that is
// worse than price: for asks the lowest ask above price, for bids the
// highest bid below it; ok is false if there is none. It changes
// nothing. The engine asks TakerBeyond, its form for one taker, before
// placing a market order it bounds at price (a market's price band) to
// learn whether liquidity the order could take lay beyond the bound:
// levels beyond an order's price are untouched while it matches.
func (b *Book) LevelBeyond(side Side, price int64) (p int64, ok bool) {
	return b.TakerBeyond(side, price, 0, STPNone)
}

// TakerBeyond is LevelBeyond for a taker of owner with self-trade
// prevention stp: the price of the first order of side beyond price that
// such a taker, matching on past price, would trade with. With STPNone
// that is the best level beyond; with STPCancelMaker the first order of
// another owner (owner's own orders it meets are cancelled, not traded);
// with STPCancelTaker or STPCancelBoth the first order beyond if it is
// another owner's, else none (the taker would be cancelled there). It
// changes nothing.
func (b *Book) TakerBeyond(side Side, price int64, owner uint64, stp STPMode) (p int64, ok bool) {
	if side > Sell || (side == Sell && price == math.MaxInt64) || (side == Buy && price <= math.MinInt64+1) {
		return 0, false
	}
	b.sides[side].tree.Ascend(levelKey(side, price)+1, func(_ int64, li int32) bool {
		lv := &b.levels[li]
		if lv.count == 0 {
			return true
		}
		if stp == STPNone {
			p, ok = lv.price, true
			return false
		}
		for ni := lv.head; ni != nilIdx; ni = b.node(ni).next {
			if b.node(ni).owner != owner {
				p, ok = lv.price, true
				return false
			}
			if stp != STPCancelMaker {
				return false // self-trade prevention stops the taker here
			}
		}
		return true
	})
	return p, ok
}

// Order returns a live order (resting or pending stop) by id. A book
// without an index (Options.NoIndex) finds none: see OrderAt.
func (b *Book) Order(id uint64) (OrderInfo, bool) {
	v, ok := b.index.get(id)
	if !ok {
		return OrderInfo{}, false
	}
	return b.info(v), true
}

// info describes the live order with index value v.
func (b *Book) info(v int32) OrderInfo {
	if v < 0 {
		return b.stops.info(v)
	}
	return b.nodeInfo(v)
}

// Live reports whether order id is in the book (resting, or a pending
// stop): Order without reading the order. A book without an index
// (Options.NoIndex) finds none.
func (b *Book) Live(id uint64) bool {
	_, ok := b.index.get(id)
	return ok
}

func (b *Book) nodeInfo(ni int32) OrderInfo { return b.node(ni).info() }

// info describes the resting order of node n.
func (n *node) info() OrderInfo {
	return OrderInfo{
		ID: n.id, Owner: n.owner, Side: n.side, Type: Limit, TIF: GTC, STP: n.stp,
		PostOnly: n.postOnly, Price: n.price, Open: n.open, Visible: n.visible,
		DisplayQty: n.display,
	}
}

// All iterates over every live order in a deterministic order suitable for
// snapshots: bids best price first, each level in queue order; then asks
// the same way; then pending buy stops and pending sell stops, each in
// release order. The book must not be changed during the iteration.
func (b *Book) All() iter.Seq[OrderInfo] {
	return func(yield func(OrderInfo) bool) {
		for side := Buy; side <= Sell; side++ {
			more := true
			b.sides[side].tree.Scan(func(_ int64, li int32) bool {
				for ni := b.levels[li].head; ni != nilIdx; ni = b.node(ni).next {
					if !yield(b.nodeInfo(ni)) {
						more = false
						return false
					}
				}
				return true
			})
			if !more {
				return
			}
		}
		b.stops.all(yield)
	}
}

// LastPrice returns the last trade price, 0 before the first trade.
func (b *Book) LastPrice() int64 { return b.last }

// Len returns the number of resting orders.
func (b *Book) Len() int { return b.resting }

// Stops returns the number of pending stop orders.
func (b *Book) Stops() int { return b.stops.len() }

// Reserve makes room for n resting orders now, so that placing up to n
// grows nothing later: a growth allocates (the book's first 4,096 orders
// are copied to a larger array as it fills, then each 4,096 more take a
// new array of 256 KiB) and the id index is moved to a table twice as
// large, a little at each order. It changes nothing else. Call it at
// setup; New's Options.Capacity does the same for a new book. n above
// MaxCapacity reserves MaxCapacity.
func (b *Book) Reserve(n int) {
	n = min(n, MaxCapacity)
	b.reserveNodes(n)
	if !b.noIndex {
		b.index.reserve(n)
	}
}

// room returns how much more quantity side can take: what its resting
// orders hold open and its pending GTC stop-limits may rest must fit in an
// int64, so that no level total wraps. Every GTC Limit or StopLimit order,
// Amend and Restore is held to it.
func (b *Book) room(side Side) int64 {
	return math.MaxInt64 - b.held[side]
}

// Cap returns the number of resting orders the book has room for without
// growing.
func (b *Book) Cap() int {
	if b.noIndex {
		return b.capNodes
	}
	return min(b.capNodes, len(b.index.t.slots)/2)
}

// How the nodes are kept: in pages of nodePageLen nodes that never move,
// so that a growth adds a page and copies nothing (a million nodes are 64
// MB: a single copy took tens of milliseconds, mostly page faults on the
// new array, and copying a few nodes at each order instead still cost
// the memory twice over and, in istd's batch benchmark, 4% of its CPU).
// The first page starts smaller, at the book's capacity, and grows by
// half, copied at once, up to nodePageLen nodes: a book with few orders
// takes little memory.
const (
	nodePageBits = 12
	nodePageLen  = 1 << nodePageBits // 256 KiB of nodes
	nodePageMask = nodePageLen - 1
)

// node returns node i.
func (b *Book) node(i int32) *node {
	return &b.pages[i>>nodePageBits][i&nodePageMask]
}

// allocNode returns the index of a free node. Call growNodes first if no
// node is free (freeNode is nilIdx and nnodes is capNodes); callers check
// that, so that allocNode stays small enough to inline.
func (b *Book) allocNode() int32 {
	if i := b.freeNode; i != nilIdx {
		b.freeNode = b.node(i).next
		return i
	}
	i := b.nnodes
	b.nnodes++
	return i
}

// nodesFull reports whether allocNode needs a growth first.
func (b *Book) nodesFull() bool { return b.freeNode == nilIdx && int(b.nnodes) == b.capNodes }

// growNodes makes room for more nodes: the first page grows by half (at
// least 64 nodes), or, once it is full, a page is added.
func (b *Book) growNodes() {
	if n := len(b.pages[0]); len(b.pages) == 1 && n < nodePageLen {
		b.growFirstPage(min(nodePageLen, max(64, n+n/2)))
		return
	}
	b.pages = append(b.pages, b.newPage())
	b.capNodes += nodePageLen
}

// reserveNodes makes the pages hold at least n nodes.
func (b *Book) reserveNodes(n int) {
	if n <= b.capNodes {
		return
	}
	if len(b.pages) == 1 && len(b.pages[0]) < nodePageLen {
		b.growFirstPage(min(n, nodePageLen))
	}
	for b.capNodes < n {
		b.pages = append(b.pages, make([]node, nodePageLen))
		b.capNodes += nodePageLen
	}
}

// growFirstPage replaces the first page, the only one, with one of n
// nodes.
func (b *Book) growFirstPage(n int) {
	p := make([]node, n)
	copy(p, b.pages[0])
	b.pages[0] = p
	b.capNodes = n
}

// appendNodes appends the nodes handed out to dst, as one array.
func (b *Book) appendNodes(dst []node) []node {
	n := int(b.nnodes)
	for _, p := range b.pages {
		if n <= len(p) {
			return append(dst, p[:n]...)
		}
		dst = append(dst, p...)
		n -= len(p)
	}
	return dst
}

func (b *Book) freeNodeAt(i int32) {
	*b.node(i) = node{next: b.freeNode, prev: nilIdx, level: nilIdx}
	b.freeNode = i
}

// levelFor returns the level of price on side for an order about to be
// pushed onto it, creating the level or reviving an empty one.
func (b *Book) levelFor(side Side, price int64) int32 {
	s := &b.sides[side]
	if s.best != nilIdx && b.levels[s.best].price == price {
		return s.best
	}
	slot := &s.cache[uint64(price)&(levelCacheSize-1)]
	li := *slot
	if li == nilIdx || b.levels[li].price != price || b.levels[li].side != side {
		key := levelKey(side, price)
		var ok bool
		if li, ok = s.tree.Get(key); !ok {
			if b.freeLvl != nilIdx {
				li = b.freeLvl
				b.freeLvl = b.levels[li].head
			} else {
				b.levels = append(b.levels, level{})
				li = int32(len(b.levels) - 1)
			}
			b.levels[li] = level{price: price, head: nilIdx, tail: nilIdx, side: side}
			s.tree.Set(key, li)
			s.empty++
		}
		*slot = li
	}
	if b.levels[li].count == 0 {
		s.empty--
		if s.best == nilIdx || levelKey(side, price) < levelKey(side, b.levels[s.best].price) {
			s.best = li
		}
	}
	return li
}

// emptied notes that level li has no orders left: it stays in the tree,
// the side's best moves on if it was the best, and empty levels are pruned
// when there are too many.
func (b *Book) emptied(side Side, li int32) {
	s := &b.sides[side]
	s.empty++
	if s.best == li {
		s.best = nilIdx
		s.tree.Ascend(levelKey(side, b.levels[li].price), func(_ int64, v int32) bool {
			if b.levels[v].count > 0 {
				s.best = v
				return false
			}
			return true
		})
	}
	if s.empty > pruneMin && s.empty > 2*(s.tree.Len()-s.empty) {
		b.prune(side)
	}
}

// prune deletes the empty levels of a side from its tree and frees them.
func (b *Book) prune(side Side) {
	s := &b.sides[side]
	b.scratch = b.scratch[:0]
	s.tree.Scan(func(_ int64, li int32) bool {
		if b.levels[li].count == 0 {
			b.scratch = append(b.scratch, li)
		}
		return true
	})
	for _, li := range b.scratch {
		s.tree.Delete(levelKey(side, b.levels[li].price))
		b.levels[li] = level{head: b.freeLvl}
		b.freeLvl = li
	}
	s.empty = 0
}

// pushBack appends node ni, n, to the tail of level li.
func (b *Book) pushBack(li, ni int32, n *node) {
	lv := &b.levels[li]
	n.level, n.next = li, nilIdx
	if n.prev = lv.tail; n.prev != nilIdx {
		b.node(n.prev).next = ni
	} else {
		lv.head = ni
	}
	lv.tail = ni
	lv.count++
	lv.vis += n.visible
	lv.open += n.open
	b.held[n.side] += n.open
}

// unlink takes node n out of its level's FIFO and totals, leaving the
// level in place even if it becomes empty.
func (b *Book) unlink(n *node) {
	lv := &b.levels[n.level]
	if n.prev != nilIdx {
		b.node(n.prev).next = n.next
	} else {
		lv.head = n.next
	}
	if n.next != nilIdx {
		b.node(n.next).prev = n.prev
	} else {
		lv.tail = n.prev
	}
	lv.count--
	lv.vis -= n.visible
	lv.open -= n.open
	b.held[n.side] -= n.open
}

// removeNode takes a resting order out of the book entirely.
func (b *Book) removeNode(ni int32) {
	n := b.node(ni)
	li, side := n.level, n.side
	b.unlink(n)
	if b.levels[li].count == 0 {
		b.emptied(side, li)
	}
	if !b.noIndex {
		b.index.del(n.id)
	}
	b.freeNodeAt(ni)
	b.resting--
}
