package server

import (
	"strconv"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own.
type metrics struct {
	requests *prometheus.CounterVec   // handler, code
	duration *prometheus.HistogramVec // handler
	orders   *prometheus.CounterVec   // market, type, result
	trades   *prometheus.CounterVec   // market
}

func newMetrics(s *Server) (*prometheus.Registry, *metrics) {
	reg := prometheus.NewRegistry()
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16)}, []string{"handler"}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orders_total",
			Help: "Order placements by market, type and result (accepted or the rejection code)."}, []string{"market", "type", "result"}),
		trades: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trades_total",
			Help: "Trades by market."}, []string{"market"}),
	}
	reg.MustRegister(m.requests, m.duration, m.orders, m.trades,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "engine_queue_depth",
			Help: "Commands submitted to the engine and not yet delivered."},
			func() float64 { return float64(s.eng.QueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wal_durable_sequence",
			Help: "Sequence number of the last durable command."},
			func() float64 { return float64(s.eng.DurableSeq()) }),
	)
	return reg, m
}

// request records one HTTP request.
func (m *metrics) request(route string, code int, d time.Duration) {
	c := ""
	if code >= 100 && code < 600 {
		c = codeNames[code-100]
	} else {
		c = strconv.Itoa(code)
	}
	m.requests.WithLabelValues(route, c).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// observe counts the trades of an engine result.
func (m *metrics) observe(s *Server, res *engine.Result) {
	for i := range res.Events {
		if ev := &res.Events[i]; ev.Kind == book.EvTrade {
			if mk, ok := s.marketByID(ev.Market); ok {
				m.trades.WithLabelValues(mk.name).Inc()
			}
		}
	}
}

// order counts one order placement.
func (m *metrics) order(market string, typ book.OrderType, result string) {
	m.orders.WithLabelValues(market, typeNames[typ], result).Inc()
}

// codeNames are the status codes 100..599 as strings, so that counting a
// request does not format one.
var codeNames = func() (n [500]string) {
	for i := range n {
		n[i] = strconv.Itoa(100 + i)
	}
	return n
}()
