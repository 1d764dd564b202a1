package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
)

// The stream: GET /v1/stream, a WebSocket on which the maker
// authenticates ({"op":"auth","token":…}, answered
// {"type":"authenticated"}), asks istd to cancel its orders in its
// market when the connection ends, whatever ends it but istd's own
// shutdown ({"op":"cancel_on_disconnect","enabled":true,"market":…},
// answered in kind; unless --cancel-on-disconnect=false), and subscribes
// to its private channels ({"op":"subscribe","channels":["fills","orders"]},
// answered {"type":"subscribed"}). Each channel message is
// {"channel","seq","n","data"}: data is a fill or an order as the HTTP
// API shows them, seq the engine's sequence number it stems from, and n
// counts the channel's messages on this connection from 1. A gap in n
// means messages were lost, and a dropped connection may have lost some
// too: either way the maker resyncs its orders and fills over HTTP.
// After a reconnection with cancel_on_disconnect, the resync finds its
// quotes cancelled (or the new connection tells of them, if istd saw the
// old one end late) and the maker places them again; it counts as its
// own cancels only those it asked for.
//
// A reader goroutine turns the messages into events on a channel, which
// the maker's loop drains (maker.go); the reader never touches the
// maker's state. When the connection fails it reconnects, with backoff,
// until its context ends.

// apiOrder is an order as the API shows it.
type apiOrder struct {
	ID            uint64 `json:"id"`
	ClientOrderID string `json:"client_order_id"`
	Market        string `json:"market"`
	Side          string `json:"side"`
	Price         string `json:"price"`
	Quantity      string `json:"quantity"`
	Filled        string `json:"filled"`
	Status        string `json:"status"`
}

// done reports whether the order is no longer open.
func (o *apiOrder) done() bool {
	switch o.Status {
	case "open", "partially_filled":
		return false
	}
	return true
}

// apiFill is a fill as the API shows it.
type apiFill struct {
	TradeID   uint64 `json:"trade_id"`
	OrderID   uint64 `json:"order_id"`
	Market    string `json:"market"`
	Side      string `json:"side"`
	Price     string `json:"price"`
	Quantity  string `json:"quantity"`
	Fee       string `json:"fee"`
	FeeAsset  string `json:"fee_asset"`
	Liquidity string `json:"liquidity"`
}

// eventKind is what a stream event says.
type eventKind int8

const (
	evOrder     eventKind = iota // an order of the account changed
	evFill                       // the account traded
	evGap                        // messages were lost: resync
	evReconnect                  // the stream reconnected: resync
	evWarn                       // something to tell the user
)

// event is what the stream reader hands the maker.
type event struct {
	kind  eventKind
	order apiOrder
	fill  apiFill
	msg   string // evGap, evReconnect, evWarn
}

// streamMsg is any message of the server.
type streamMsg struct {
	Type    string          `json:"type"`
	Channel string          `json:"channel"`
	Seq     uint64          `json:"seq"`
	N       uint64          `json:"n"`
	Data    json.RawMessage `json:"data"`
	Enabled bool            `json:"enabled"` // cancel_on_disconnect
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// gapDetector checks that each channel's n counts up by one. Its zero
// value is ready for a new connection.
type gapDetector struct{ last map[string]uint64 }

// next records message n of channel ch and reports whether messages
// were lost before it.
func (g *gapDetector) next(ch string, n uint64) (gap bool) {
	if g.last == nil {
		g.last = map[string]uint64{}
	}
	gap = n != g.last[ch]+1
	g.last[ch] = n
	return gap
}

// streamURL returns the stream's URL for an API base URL.
func streamURL(base string) string {
	base = strings.TrimRight(base, "/")
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + "/v1/stream"
}

// handshakeTimeout bounds dialing, authenticating and subscribing.
const handshakeTimeout = 10 * time.Second

// dialStream connects, authenticates with token, enables
// cancel_on_disconnect for codMarket (unless it is "") and subscribes to
// fills and orders. Once it returns, every fill and order change of the
// account is on the connection, and its end cancels the account's orders
// in codMarket.
func dialStream(ctx context.Context, url, token, codMarket string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: handshakeTimeout, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return nil, fmt.Errorf("stream: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	type step struct{ send, want string }
	steps := []step{{fmt.Sprintf(`{"op":"auth","token":%q}`, token), "authenticated"}}
	if codMarket != "" { // before subscribing: a refusal fails fast
		steps = append(steps, step{fmt.Sprintf(`{"op":"cancel_on_disconnect","enabled":true,"market":%q}`, codMarket), "cancel_on_disconnect"})
	}
	steps = append(steps, step{`{"op":"subscribe","channels":["fills","orders"]}`, "subscribed"})
	for _, st := range steps {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(st.send)); err != nil {
			ws.Close()
			return nil, fmt.Errorf("stream: %w", err)
		}
		for {
			var m streamMsg
			if err := ws.ReadJSON(&m); err != nil {
				ws.Close()
				return nil, fmt.Errorf("stream: waiting for %q: %w", st.want, err)
			}
			if m.Type == "error" && m.Error != nil {
				ws.Close()
				return nil, fmt.Errorf("stream: %w", &apiError{Method: "WS", Path: "/v1/stream", Code: m.Error.Code, Message: m.Error.Message})
			}
			if m.Type != st.want {
				continue
			}
			if m.Type == "cancel_on_disconnect" && !m.Enabled {
				ws.Close()
				return nil, errors.New("stream: cancel_on_disconnect answered as not enabled")
			}
			break
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws, nil
}

// streamIdle is how long the reader waits for a message or a ping
// (istd pings every 20 s) before it takes the connection for dead.
const streamIdle = 60 * time.Second

// readStream reads ws, then reconnects to url whenever the connection
// fails (as dialStream with token and codMarket), sending events on out
// until ctx ends; then it closes the connection and returns. It owns ws.
func readStream(ctx context.Context, ws *websocket.Conn, url, token, codMarket string, out chan<- event) {
	send := func(ev event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for pause := 100 * time.Millisecond; ; {
		err := readConn(ctx, ws, send)
		if ctx.Err() != nil {
			return
		}
		if !send(event{kind: evWarn, msg: fmt.Sprintf("stream: %v; reconnecting", err)}) {
			return
		}
		for {
			if sleep(ctx, pause) != nil {
				return
			}
			if ws, err = dialStream(ctx, url, token, codMarket); err == nil {
				break
			}
			pause = min(2*pause, 5*time.Second)
			if !send(event{kind: evWarn, msg: err.Error()}) {
				return
			}
		}
		pause = 100 * time.Millisecond
		if !send(event{kind: evReconnect, msg: "stream reconnected"}) {
			return
		}
	}
}

// readConn reads one connection until it fails or ctx ends, and closes it.
func readConn(ctx context.Context, ws *websocket.Conn, send func(event) bool) error {
	stop := context.AfterFunc(ctx, func() {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = ws.Close()
	})
	defer func() {
		if stop() { // ctx did not close it
			_ = ws.Close()
		}
	}()
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(streamIdle))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	var gaps gapDetector
	for {
		_ = ws.SetReadDeadline(time.Now().Add(streamIdle))
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		var m streamMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("bad message %.200s: %w", raw, err)
		}
		if m.Type == "error" && m.Error != nil {
			if !send(event{kind: evWarn, msg: fmt.Sprintf("stream: %s: %s", m.Error.Code, m.Error.Message)}) {
				return ctx.Err()
			}
			continue
		}
		if m.Channel != "fills" && m.Channel != "orders" {
			continue
		}
		if gaps.next(m.Channel, m.N) {
			msg := fmt.Sprintf("stream: gap in %s before message %d", m.Channel, m.N)
			if !send(event{kind: evGap, msg: msg}) {
				return ctx.Err()
			}
		}
		ev := event{kind: evOrder}
		target := any(&ev.order)
		if m.Channel == "fills" {
			ev.kind, target = evFill, &ev.fill
		}
		if err := json.Unmarshal(m.Data, target); err != nil {
			return fmt.Errorf("bad %s message %.200s: %w", m.Channel, raw, err)
		}
		if !send(ev) {
			return ctx.Err()
		}
	}
}
