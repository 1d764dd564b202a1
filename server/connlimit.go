package server

import (
	"crypto/tls"
	"fmt"
	"io"
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

// reservedFiles is what the default of Options.MaxConns leaves of the
// process's open-file limit for everything but connections: the log's and
// the store's Pebble files (each keeps up to 1,000 open by default, most
// of them idle), snapshots, backups and the request log.
const reservedFiles = 1024

// defaultMaxConns is Options.MaxConns when zero: the open-file limit
// (RLIMIT_NOFILE, as Go raised it at start) less reservedFiles, at least
// 64; fasthttp's own cap (262,144) where the limit is unknown or higher.
func defaultMaxConns() int {
	n, ok := openFileLimit()
	if !ok || n > 256*1024+reservedFiles {
		return 256 * 1024
	}
	return max(64, int(n)-reservedFiles)
}

// connLimiter counts the open connections, in total and per client
// network (netKey, as the rate limits and the stream caps key clients),
// over all the listeners Serve was given, each wrapped in a
// limitedListener. A connection past either cap is refused as soon as it
// is accepted, with an answer in the API's error format (per client: 429
// rate_limited; in total: 503 overloaded) and closed (over TLS, closed
// without an answer: writing one would wait for the client's handshake).
// A connection counts until it is closed, by the HTTP server or, once
// hijacked for a stream, by the stream. The total cap keeps connections
// from taking the file descriptors the log needs: a Pebble that cannot
// open a file fails the log, and the engine stops.
type connLimiter struct {
	s          *Server
	max, total int // per client network, in total (0: no cap)
	mu         sync.Mutex
	open       map[[16]byte]int
	n          int          // connections open
	perIP      []byte       // the whole HTTP answer past the per-client cap
	full       []byte       // the whole HTTP answer past the total cap
	lastWarn   atomic.Int64 // unix nanoseconds of the last warning logged
}

func newConnLimiter(s *Server, perIP, total int) *connLimiter {
	answer := func(status string, err error) []byte {
		var arr [256]byte
		body := appendErrorObject(arr[:0], err)
		return []byte("HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
			"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
	}
	return &connLimiter{s: s, max: perIP, total: total, open: make(map[[16]byte]int),
		perIP: answer("429 Too Many Requests",
			fmt.Errorf("%w (too many connections from your address: at most %d at once)", errRateLimited, perIP)),
		full: answer("503 Service Unavailable",
			fmt.Errorf("%w (too many connections open: at most %d)", errOverloaded, total))}
}

// limitedListener is a listener whose connections a connLimiter counts.
type limitedListener struct {
	net.Listener
	l *connLimiter
}

// Accept returns the next connection under the caps, refusing those past
// them.
func (ll limitedListener) Accept() (net.Conn, error) {
	l := ll.l
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var key [16]byte
		a, tcp := c.RemoteAddr().(*net.TCPAddr)
		if tcp {
			key = netKey(a.IP)
		}
		l.mu.Lock()
		switch {
		case l.total > 0 && l.n >= l.total:
			l.mu.Unlock()
			l.refuse(c, l.full, "total")
			continue
		case tcp && l.max > 0 && l.open[key] >= l.max:
			l.mu.Unlock()
			l.refuse(c, l.perIP, "per_ip")
			continue
		}
		l.n++
		if tcp {
			l.open[key]++
		}
		l.mu.Unlock()
		done := l.release(key, tcp)
		if tc, ok := c.(*tls.Conn); ok {
			// Embedding *tls.Conn keeps what fasthttp asks of a TLS
			// connection (ctx.IsTLS, the connection state).
			return &limitedTLSConn{Conn: tc, done: done}, nil
		}
		return &limitedConn{Conn: c, done: done}, nil
	}
}

// release returns the function that gives a connection's slots back
// (keyed: its client network's too), once.
func (l *connLimiter) release(key [16]byte, keyed bool) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.n--
			if keyed {
				if l.open[key]--; l.open[key] <= 0 {
					delete(l.open, key)
				}
			}
			l.mu.Unlock()
		})
	}
}

// refuse answers and closes a connection past a cap (reason: per_ip or
// total), without blocking the accept loop for longer than a short write
// deadline, and logs a warning at most once a minute.
func (l *connLimiter) refuse(c net.Conn, answer []byte, reason string) {
	l.s.met.connsRefused.WithLabelValues(reason).Inc()
	if _, isTLS := c.(*tls.Conn); !isTLS {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		c.Write(answer)
	}
	client := c.RemoteAddr().String()
	c.Close()
	now := time.Now().UnixNano()
	if last := l.lastWarn.Load(); now-last > int64(time.Minute) && l.lastWarn.CompareAndSwap(last, now) {
		l.s.log.Warn().Str("client", client).Str("reason", reason).Int("max_conns_per_ip", l.max).Int("max_conns", l.total).
			Msg("connections refused: a cap on open connections was reached (--max-conns-per-ip, per_ip; --max-conns, total; logged at most once a minute, counted in http_connections_refused_total{reason})")
	}
}

// limitedConn is a connection counted by a connLimiter until it is closed.
type limitedConn struct {
	net.Conn
	done   func()
	linger bool // lingerOnClose
}

// Close closes the connection and gives its slot back.
func (c *limitedConn) Close() error {
	if c.linger {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			lingerClose(nil, tc, c.done)
			return nil
		}
	}
	c.done()
	return c.Conn.Close()
}

// lingerOnClose makes Close linger (lingerClose). The connection's own
// goroutine calls it, as it does Close.
func (c *limitedConn) lingerOnClose() { c.linger = true }

// limitedTLSConn is limitedConn for a TLS connection.
type limitedTLSConn struct {
	*tls.Conn
	done   func()
	linger bool
}

// Close closes the connection and gives its slot back.
func (c *limitedTLSConn) Close() error {
	if c.linger {
		if tc, ok := c.Conn.NetConn().(*net.TCPConn); ok {
			lingerClose(c.Conn, tc, c.done)
			return nil
		}
	}
	c.done()
	return c.Conn.Close()
}

// lingerOnClose makes Close linger (lingerClose).
func (c *limitedTLSConn) lingerOnClose() { c.linger = true }

// lingerer is a connection whose Close can linger.
type lingerer interface{ lingerOnClose() }

// How long, and for how many bytes, a lingering close reads what the
// client still sends.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 4 << 20
)

// lingerClose closes a connection that the server answered with an
// error while the client may still be sending its request (a body over
// the limit, refused from its header; a malformed request), as net/http
// does: it shuts down the sending side (with tc, TLS's close_notify
// first), so that the answer and then the end of the stream reach the
// client, and reads and drops what the client still sends, for up to
// lingerTime or lingerBytes, before closing. Closed at once, the
// connection's unread bytes make the kernel reset it, and a reset can
// reach the client before it reads the answer: a client sending 900 KB
// to POST /v1/orders got "connection reset by peer" instead of its 413
// in 5 of 50 tries. done is called once closed, on another goroutine.
func lingerClose(tc *tls.Conn, raw *net.TCPConn, done func()) {
	if tc != nil {
		tc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		tc.CloseWrite()
	}
	raw.CloseWrite()
	go func() {
		defer done()
		raw.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, raw, lingerBytes)
		raw.Close()
	}()
}
