package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxConnsPerIP is Options.MaxConnsPerIP when zero: the
// connections one client address (an IPv6 client: its /64 network) may
// hold open at once.
const DefaultMaxConnsPerIP = 1000

// connLimiter counts the open connections of each client network
// (netKey, as the rate limits and the stream caps key clients) over all
// the listeners Serve was given, each wrapped in a limitedListener: one
// past the cap is refused at once, with a 429 in the API's error format
// and the connection closed (over TLS, closed without an answer: writing
// one would wait for the client's handshake). A connection counts until
// it is closed, by the HTTP server or, once hijacked for a stream, by the
// stream.
type connLimiter struct {
	s        *Server
	max      int
	mu       sync.Mutex
	open     map[[16]byte]int
	refusal  []byte       // the whole HTTP answer to a refused connection
	lastWarn atomic.Int64 // unix nanoseconds of the last warning logged
}

func newConnLimiter(s *Server, max int) *connLimiter {
	var arr [256]byte
	body := appendErrorObject(arr[:0],
		fmt.Errorf("%w (too many connections from your address: at most %d at once)", errRateLimited, max))
	resp := "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	return &connLimiter{s: s, max: max, open: make(map[[16]byte]int), refusal: []byte(resp)}
}

// limitedListener is a listener whose connections a connLimiter counts.
type limitedListener struct {
	net.Listener
	l *connLimiter
}

// Accept returns the next connection under the cap, refusing those past it.
func (ll limitedListener) Accept() (net.Conn, error) {
	l := ll.l
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a, ok := c.RemoteAddr().(*net.TCPAddr)
		if !ok {
			return c, nil // not TCP (a pipe in tests): nothing to key it by
		}
		key := netKey(a.IP)
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			l.refuse(c, a)
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		if tc, ok := c.(*tls.Conn); ok {
			// Embedding *tls.Conn keeps what fasthttp asks of a TLS
			// connection (ctx.IsTLS, the connection state).
			return &limitedTLSConn{Conn: tc, done: l.release(key)}, nil
		}
		return &limitedConn{Conn: c, done: l.release(key)}, nil
	}
}

// release returns the function that gives key's slot back, once.
func (l *connLimiter) release(key [16]byte) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.open[key]--; l.open[key] <= 0 {
				delete(l.open, key)
			}
			l.mu.Unlock()
		})
	}
}

// refuse answers and closes a connection past the cap, without blocking
// the accept loop for longer than a short write deadline, and logs a
// warning at most once a minute.
func (l *connLimiter) refuse(c net.Conn, a *net.TCPAddr) {
	l.s.met.connsRefused.Inc()
	if _, isTLS := c.(*tls.Conn); !isTLS {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.Write(l.refusal)
	}
	c.Close()
	now := time.Now().UnixNano()
	if last := l.lastWarn.Load(); now-last > int64(time.Minute) && l.lastWarn.CompareAndSwap(last, now) {
		l.s.log.Warn().Str("client", a.IP.String()).Int("max_conns_per_ip", l.max).
			Msg("connections refused: a client address holds the most connections allowed at once (--max-conns-per-ip; logged at most once a minute, counted in http_connections_refused_total)")
	}
}

// limitedConn is a connection counted by a connLimiter until it is closed.
type limitedConn struct {
	net.Conn
	done func()
}

// Close closes the connection and gives its slot back.
func (c *limitedConn) Close() error {
	c.done()
	return c.Conn.Close()
}

// limitedTLSConn is limitedConn for a TLS connection.
type limitedTLSConn struct {
	*tls.Conn
	done func()
}

// Close closes the connection and gives its slot back.
func (c *limitedTLSConn) Close() error {
	c.done()
	return c.Conn.Close()
}
