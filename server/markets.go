package server

import (
	"github.com/instant-social-trading/ist/engine"
)

// mkt is a market as the server sees it: names and units.
type mkt struct {
	id          uint32
	name        string
	base, quote string
	spec        engine.MarketSpec
	u           units
	// The market's hottest metric series, resolved on first use: a
	// CounterVec lookup hashes the label values every time.
	accepted                 [4]lazyCounter // orders_total{result="accepted"}, by type
	trades, volume, mirrored lazyCounter
}

// marketCache indexes one engine Directory.
type marketCache struct {
	dir    *engine.Directory
	byID   map[uint32]*mkt
	byName map[string]*mkt
	list   []*mkt
}

// markets returns the cache of the latest directory, rebuilding it when
// the engine published a new one.
func (s *Server) markets() *marketCache {
	d := s.eng.Directory()
	if c := s.mktCache.Load(); c != nil && c.dir == d {
		return c
	}
	c := &marketCache{dir: d, byID: map[uint32]*mkt{}, byName: map[string]*mkt{}}
	if d != nil {
		for _, mi := range d.Markets {
			m := &mkt{id: mi.ID, name: mi.Name.String(), spec: mi.Spec, u: unitsOf(&mi.Spec)}
			if int(mi.Spec.Base) >= 1 && int(mi.Spec.Base) <= len(d.Assets) {
				m.base = d.Assets[mi.Spec.Base-1].String()
			}
			if int(mi.Spec.Quote) >= 1 && int(mi.Spec.Quote) <= len(d.Assets) {
				m.quote = d.Assets[mi.Spec.Quote-1].String()
			}
			c.byID[m.id], c.byName[m.name] = m, m
			c.list = append(c.list, m)
		}
	}
	s.mktCache.Store(c)
	return c
}

func (s *Server) marketByID(id uint32) (*mkt, bool) {
	m, ok := s.markets().byID[id]
	return m, ok
}

func (s *Server) marketByName(name []byte) (*mkt, bool) {
	m, ok := s.markets().byName[string(name)]
	return m, ok
}

// assetName returns the name of asset id.
func (s *Server) assetName(id uint32) string {
	d := s.markets().dir
	if d == nil || id < 1 || int(id) > len(d.Assets) {
		return ""
	}
	return d.Assets[id-1].String()
}
