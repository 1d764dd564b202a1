package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fastjson"
)

func TestDecodeStreamOp(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want streamOp
		err  string // a part of the error; "" for none
	}{
		{msg: `{"op":"auth","token":"t-1"}`, want: streamOp{Op: "auth", Token: "t-1"}},
		{msg: `{"op":"auth","token":""}`, want: streamOp{Op: "auth"}}, // refused by the token check, not here
		{msg: `{"op":"subscribe","channels":["book:BTC-USDT","orders"]}`,
			want: streamOp{Op: "subscribe", Channels: []string{"book:BTC-USDT", "orders"}}},
		{msg: `{"channels":["fills"],"op":"unsubscribe"}`, want: streamOp{Op: "unsubscribe", Channels: []string{"fills"}}},
		{msg: `{"op":"cancel_on_disconnect","enabled":true}`, want: streamOp{Op: "cancel_on_disconnect", Enabled: true}},
		{msg: `{"enabled":false,"op":"cancel_on_disconnect"}`, want: streamOp{Op: "cancel_on_disconnect"}},
		{msg: `{"op":"cancel_on_disconnect"}`, err: "enabled is required"},
		{msg: `{"op":"cancel_on_disconnect","enabled":1}`, err: "enabled must be true or false"},
		{msg: `{"op":"auth","token":"t","enabled":true}`, err: "enabled and market are fields of cancel_on_disconnect only"},
		{msg: `{"op":"subscribe","channels":["orders"],"market":"BTC-USDT"}`, err: "enabled and market are fields of cancel_on_disconnect only"},
		{msg: `{"op":"cancel_on_disconnect","enabled":true,"market":"BTC-USDT"}`, want: streamOp{Op: "cancel_on_disconnect", Enabled: true, Market: "BTC-USDT"}},
		{msg: `{"op":"cancel_on_disconnect","enabled":true,"market":5}`, err: "market must be a string"},
		{msg: `{"op":"cancel_on_disconnect","enabled":true,"market":""}`, err: "market is empty"},
		{msg: ``, err: "empty body"},
		{msg: `not json`, err: "malformed JSON"},
		{msg: `[]`, err: "must be a JSON object"},
		{msg: `null`, err: "must be a JSON object"},
		{msg: `{}`, err: "op is required"},
		{msg: `{"op":"login"}`, err: `unknown op "login"`},
		{msg: `{"op":1}`, err: "op must be a string"},
		{msg: `{"OP":"auth","token":"x"}`, err: `unknown field "OP"`},
		{msg: `{"op":"auth","token":"x","extra":1}`, err: `unknown field "extra"`},
		{msg: `{"op":"auth"}`, err: "token is required"},
		{msg: `{"op":"auth","token":7}`, err: "token must be a string"},
		{msg: `{"op":"subscribe"}`, err: "channels is empty"},
		{msg: `{"op":"subscribe","channels":[]}`, err: "channels is empty"},
		{msg: `{"op":"subscribe","channels":"orders"}`, err: "list of strings"},
		{msg: `{"op":"subscribe","channels":["orders",1]}`, err: "list of UTF-8 strings"},
		{msg: "{\"op\":\"auth\",\"token\":\"\xca\"}", err: "token is not valid UTF-8"},
		{msg: "{\"op\":\"subscribe\",\"channels\":[\"\xff\"]}", err: "channels[0] is not valid UTF-8"},
	} {
		var p fastjson.Parser
		var op streamOp
		err := decodeStreamOp(&p, []byte(tc.msg), &op)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.msg, err)
		case tc.err == "" && !reflect.DeepEqual(op, tc.want):
			t.Errorf("%s: %+v, want %+v", tc.msg, op, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errInvalid)):
			t.Errorf("%s: error %v, want invalid_argument with %q", tc.msg, err, tc.err)
		}
	}
}

// FuzzDecodeStreamOp feeds arbitrary client messages to the stream's
// decoder: it must not panic, refuse with invalid_argument, accept only
// the three ops with what they need, and what it accepts must decode the
// same once encoded again. The decoded strings must not share the
// parser's memory, which the next message reuses.
func FuzzDecodeStreamOp(f *testing.F) {
	for _, s := range append([]string{`{"op":"auth","token":"abc"}`, `{"op":"subscribe","channels":["book:BTC-USDT","trades:BTC-USDT","orders","fills","copy"]}`,
		`{"op":"unsubscribe","channels":["orders"]}`, `{"op":"subscribe","channels":["\u0000"]}`, `{"op":"cancel_on_disconnect","enabled":true}`, `{"op":"auth","token":"\ud800"}`}, seeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var p fastjson.Parser
		var op streamOp
		err := decodeStreamOp(&p, msg, &op)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		switch op.Op {
		case "auth":
		case "subscribe", "unsubscribe":
			if len(op.Channels) == 0 {
				t.Fatalf("accepted %q without channels", op.Op)
			}
		case "cancel_on_disconnect":
			if op.Token != "" || op.Channels != nil {
				t.Fatalf("accepted %#v", op)
			}
		default:
			t.Fatalf("accepted op %q", op.Op)
		}
		saved := fmt.Sprintf("%#v", op)
		_, _ = p.Parse(`{"op":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","channels":["yyyyyyyyyyyyyyyyyyyyyyyyyyyy"]}`) // reuse the parser
		if again := fmt.Sprintf("%#v", op); again != saved {
			t.Fatalf("decoded strings changed when the parser was reused: %s, then %s", saved, again)
		}
		fields := map[string]any{"op": op.Op}
		switch op.Op {
		case "auth":
			fields["token"] = op.Token
		case "cancel_on_disconnect":
			fields["enabled"] = op.Enabled
			if op.Market != "" {
				fields["market"] = op.Market
			}
		default:
			fields["channels"] = op.Channels
		}
		enc, _ := json.Marshal(fields)
		var op2 streamOp
		if err := decodeStreamOp(&p, enc, &op2); err != nil || !reflect.DeepEqual(op, op2) {
			t.Fatalf("%#v encoded as %s decodes as %#v, %v", op, enc, op2, err)
		}
	})
}

// TestStreamRobustness sends random, mutated and valid client messages
// over live WebSockets: every frame the server sends is one of the
// documented messages, a connection is only ever closed for too many bad
// messages (1008) or an oversized one (1009), nothing a stream says
// changes an account, and afterwards the server still streams trades to a
// new client. IST_SEED=N replays a run.
func TestStreamRobustness(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 7))
	n := 5000
	if testing.Short() {
		n = 1000
	}
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	before := ts.balances(alice)
	valid := []string{
		`{"op":"auth","token":"` + alice + `"}`, `{"op":"auth","token":"` + bob + `"}`, `{"op":"auth","token":"nope"}`,
		`{"op":"subscribe","channels":["book:BTC-USDT","trades:BTC-USDT"]}`, `{"op":"subscribe","channels":["orders","fills","copy"]}`,
		`{"op":"unsubscribe","channels":["book:BTC-USDT","orders"]}`, `{"op":"subscribe","channels":["book:NOPE","trades:"]}`,
	}
	message := func() (int, []byte) {
		switch k := r.IntN(10); {
		case k < 4: // a valid message, maybe refused for what it asks
			return websocket.TextMessage, []byte(valid[r.IntN(len(valid))])
		case k < 8: // a mutated one
			b := []byte(valid[r.IntN(len(valid))])
			for range 1 + r.IntN(3) {
				switch i := r.IntN(len(b)); r.IntN(3) {
				case 0:
					b[i] = byte(r.IntN(256))
				case 1:
					b = append(b[:i], b[i+1:]...)
				default:
					b = append(b[:i], append([]byte{"{}[]\",:\\"[r.IntN(8)]}, b[i:]...)...)
				}
			}
			return websocket.TextMessage, b
		case k < 9: // garbage, sometimes as a binary frame
			b := make([]byte, r.IntN(64))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			return websocket.TextMessage + r.IntN(2), b
		default: // past the size limit, now and then
			if r.IntN(20) == 0 {
				return websocket.TextMessage, []byte(`{"op":"subscribe","channels":["` + strings.Repeat("x", streamReadLimit) + `"]}`)
			}
			return websocket.TextMessage, []byte(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
		}
	}
	kinds := map[string]bool{"error": true, "subscribed": true, "unsubscribed": true, "authenticated": true, "snapshot": true, "delta": true}
	closes := map[int]int{}
	for sent := 0; sent < n; {
		url := "ws" + strings.TrimPrefix(ts.base, "http") + "/v1/stream"
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() { // every frame is a documented message
			for {
				_, raw, err := ws.ReadMessage()
				if err != nil {
					closed <- err
					return
				}
				var m wsMsg
				if err := json.Unmarshal(raw, &m); err != nil || !(kinds[m.Type] || m.Channel != "" && m.Data != nil) {
					closed <- fmt.Errorf("undocumented message %s (%v)", raw, err)
					return
				}
				if m.Type == "error" && (m.Error == nil || m.Error.Code == "" || m.Error.Code == "internal") {
					closed <- fmt.Errorf("bad error message %s", raw)
					return
				}
			}
		}()
		err = nil
		var last []string
	send:
		for ; sent < n; sent++ {
			select {
			case err = <-closed: // the server closed it: see why below
				break send
			default:
			}
			typ, b := message()
			last = append(last, fmt.Sprintf("%d:%.60q", typ, b))
			if ws.WriteMessage(typ, b) != nil {
				break // closed by the server: see why below
			}
			if r.IntN(50) == 0 {
				sent++
				break // a new connection now and then
			}
		}
		if err == nil {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			select {
			case err = <-closed:
			case <-time.After(10 * time.Second):
				t.Fatalf("connection not closed after %d messages (IST_SEED=%d)", sent, seed)
			}
		}
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && (ce.Code == websocket.ClosePolicyViolation || ce.Code == websocket.CloseMessageTooBig || ce.Code == websocket.CloseNormalClosure):
			closes[ce.Code]++
		default:
			t.Fatalf("after %d messages (IST_SEED=%d): %v; last sent: %s", sent, seed, err, strings.Join(last[max(0, len(last)-5):], " | "))
		}
		ws.Close()
	}
	t.Logf("%d messages; connections closed: %v", n, closes)
	if closes[websocket.ClosePolicyViolation] == 0 {
		t.Errorf("no connection was closed for bad messages: %v", closes)
	}
	if got := ts.balances(alice); !reflect.DeepEqual(got, before) {
		t.Errorf("balances changed: %v, then %v", before, got)
	}

	// The server still streams: a new client sees a trade.
	c := ts.dial()
	c.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	if m := c.next(); m.Type != "subscribed" {
		t.Fatalf("want subscribed, got %+v", m)
	}
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	c.expect("a trade", func(m wsMsg) bool { return m.Channel == "trades:BTC-USDT" })

	// Shutdown: a client that is still sending learns why it was closed
	// (1001), rather than seeing a reset.
	go func() {
		for c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)) == nil {
			time.Sleep(100 * time.Microsecond)
		}
	}()
	time.Sleep(10 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ws.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("at shutdown: %v, want close 1001", err)
			}
			break
		}
	}
	<-stopped
}
