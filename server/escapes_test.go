package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/valyala/fastjson"
)

// badEscapes are string escapes RFC 8259 does not allow (the first two)
// or that escape half a UTF-16 surrogate pair, which fastjson would keep
// as text; goodEscapes are allowed ones, with what they decode to.
var (
	badEscapes  = []string{`\x`, `\u12`, `\ud800`, `\udc00`, `\ud800\u0041`}
	goodEscapes = []struct{ esc, text string }{
		{`\"`, `"`}, {`\\`, `\`}, {`\/`, `/`}, {`\n`, "\n"}, {`\u00e9`, "é"},
		{`\ud83d\ude00`, "\U0001F600"}, {`\\ud800`, `\ud800`},
	}
)

func TestCheckEscapes(t *testing.T) {
	for _, c := range []struct {
		body string
		at   int    // the bad escape's backslash, -1 if none
		msg  string // in the error
	}{
		{`{"a":"b"}`, -1, ""},
		{`{"a":"\"\\\/\b\f\n\r\t\u0041\uFFFF\u00e9"}`, -1, ""},
		{`{"a":"\ud83d\ude00\uD800\uDC00\udbff\udfff"}`, -1, ""},
		{`{"a":"\\ud800","\\x":"\\\\"}`, -1, ""},
		{`{"a":"\\\ud83d\ude00"}`, -1, ""},
		{`{"a":"\x"}`, 6, `a holds an invalid JSON string escape at byte 6: \x is not a JSON escape`},
		{`{"a":"\\\x"}`, 8, `\x is not a JSON escape`},
		{`{"a":"\'"}`, 6, `\' is not a JSON escape`},
		{`{"a":"\U0041"}`, 6, `\U is not a JSON escape`},
		{"{\"a\":\"\\\xc3\xa9\"}", 6, "a backslash before byte 0xc3 is not a JSON escape"},
		{`{"a":"\u12"}`, 6, `\u must be followed by 4 hex digits`},
		{`{"a":"\u12g4"}`, 6, `\u must be followed by 4 hex digits`},
		{`{"a":"\u"}`, 6, `\u must be followed by 4 hex digits`},
		{`{"a":"\ud800"}`, 6, `\ud800 is the high half of a UTF-16 surrogate pair without its low half`},
		{`{"a":"\uDBFFx"}`, 6, `\uDBFF is the high half`},
		{`{"a":"\ud800\u0041"}`, 6, `\ud800 is the high half`},
		{`{"a":"\ud800\ud800"}`, 6, `\ud800 is the high half`},
		{`{"a":"\ud800\n"}`, 6, `\ud800 is the high half`},
		{`{"a":"\ud800\\udc00"}`, 6, `\ud800 is the high half`},
		{`{"a":"\ud800\udc0"}`, 6, `\ud800 is the high half`},
		{`{"a":"\udc00"}`, 6, `\udc00 is the low half of a UTF-16 surrogate pair without its high half`},
		{`{"a":"\ud83d\ude00\ude00"}`, 18, `\ude00 is the low half`},
		{`{"a":"ok","b":"\n\x"}`, 17, `b holds an invalid JSON string escape at byte 17`},
		{`{"\x":1}`, 2, `a field name holds an invalid JSON string escape at byte 2`},
		{`{"a":{"b":1},"c":["d",{"e":"\q"}]}`, 28, `c[1].e holds`},
		{`{"orders":[{"a":"1"}, {"b":"2","client_order_id":"\ud800"}]}`, 50, `orders[1].client_order_id holds`},
		{`{"a b":"\x"}`, 8, `"a b" holds`},
		{`{"n\u0061me":"\x"}`, 14, `name holds`},
		{`["\x"]`, 2, `invalid JSON string escape at byte 2: \x`},
		{`"\x"`, 1, `invalid JSON string escape at byte 1: \x`},
		// Moved from TestLoneSurrogate (names.go's loneSurrogate, which
		// this check replaced).
		{`{"name":"a"}`, -1, ""}, {`{"name":"\u00e9\ud83d\ude00"}`, -1, ""}, {`{"name":"\\ud800"}`, -1, ""},
		{`{"name":"\\\ud83d\ude00"}`, -1, ""}, {`{"name":"\"\n\u0041"}`, -1, ""},
		{`{"name":"\ud800"}`, 9, "name holds"}, {`{"name":"\uDC00"}`, 9, "low half"}, {`{"name":"\ud800\u0041"}`, 9, "high half"},
		{`{"name":"\ud800\ud800"}`, 9, "high half"}, {`{"name":"\\\ud800"}`, 11, "high half"}, {`{"name":"\ud800x"}`, 9, "high half"},
	} {
		body := []byte(c.body)
		err := checkEscapes(body)
		if c.at < 0 {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
			}
			// It does not allocate unless it fails.
			if n := testing.AllocsPerRun(10, func() { _ = checkEscapes(body) }); n != 0 && !raceEnabled {
				t.Errorf("%s: %v allocations", c.body, n)
			}
			continue
		}
		at := fmt.Sprintf("at byte %d: ", c.at)
		if err == nil || !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), at) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want invalid_argument with %q and %q", c.body, err, at, c.msg)
		}
	}
}

// refEscapes is the reference of checkEscapes for a JSON string's
// contents s: encoding/json's Valid judges the escapes' syntax, and
// unicode/utf16 the surrogates of the \u escapes (a lone one decodes to
// U+FFFD). ok is false if fastjson does not parse the string, which
// checkEscapes requires; encoding/json also refuses control characters,
// which checkEscapes does not look at, so s must have none.
func refEscapes(s string) (valid, ok bool) {
	doc := `"` + s + `"`
	var p fastjson.Parser
	if _, err := p.Parse(doc); err != nil {
		return false, false
	}
	if !json.Valid([]byte(doc)) {
		return false, true
	}
	var units []uint16
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] != '\\':
			units = append(units, 'a')
		case s[i+1] == 'u':
			u, _ := strconv.ParseUint(s[i+2:i+6], 16, 16)
			units = append(units, uint16(u))
			i += 5
		default:
			units = append(units, 'a')
			i++
		}
	}
	fffd := 0
	for _, u := range units {
		if u == 0xfffd {
			fffd++
		}
	}
	for _, r := range utf16.Decode(units) {
		if r == 0xfffd {
			fffd--
		}
	}
	return fffd == 0, true
}

// compareEscapes fails unless checkEscapes judges the JSON string with
// contents s as refEscapes does, alone and inside an object.
func compareEscapes(t *testing.T, s string) {
	t.Helper()
	want, ok := refEscapes(s)
	if !ok {
		return
	}
	for _, pre := range []string{``, `{"k":["x",`} {
		doc := pre + `"` + s + `"`
		if pre != "" {
			doc += `]}`
		}
		err := checkEscapes([]byte(doc))
		if (err == nil) != want {
			t.Fatalf("%s: checkEscapes %v, want valid %v", doc, err, want)
		}
		if err != nil && !errors.Is(err, errInvalid) {
			t.Fatalf("%s: %v is not invalid_argument", doc, err)
		}
	}
}

// TestCheckEscapesReference compares checkEscapes with refEscapes on
// random strings made mostly of backslashes, hex digits, u and the
// characters escapes use.
func TestCheckEscapesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 11))
	const alphabet = `\\\\\\\\uuuuudddddDD88899aAbBcCfFeE0001234567"/nrtxqU é` + "\xff"
	n := 200000
	if testing.Short() {
		n = 20000
	}
	invalid := 0
	for range n {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if want, ok := refEscapes(string(b)); ok && !want {
			invalid++
		}
		compareEscapes(t, string(b))
	}
	t.Logf("%d of %d strings had a bad escape", invalid, n)
	if invalid < n/20 || invalid > n-n/20 {
		t.Fatalf("%d of %d strings had a bad escape: the generator tests little", invalid, n)
	}
}

// FuzzCheckEscapes compares checkEscapes with refEscapes on the contents
// of a JSON string, and makes it (and its error's message) run on any
// bytes without panicking.
func FuzzCheckEscapes(f *testing.F) {
	for _, s := range []string{``, `a`, `\"\\\/\b\f\n\r\t`, `\u00e9`, `\ud83d\ude00`, `\\ud800`, `\\\ud800`,
		`\x`, `\u12`, `\ud800`, `\udc00`, `\ud800\u0041`, `\ud800\ud800`, `\ud800\\udc00`, `\uDBFF\uDFFF`,
		`\ud83d\ude00\ude00`, `\ud800\udc0`, `\`, `\\`, `{"a":"\x"}`, `{"\x":1}`, `{"a":[{"b":"\ud800"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkEscapes(b); err != nil && !errors.Is(err, errInvalid) {
			t.Fatalf("%q: %v is not invalid_argument", b, err)
		}
		for _, c := range b {
			if c < 0x20 {
				return // encoding/json refuses it in a string; checkEscapes does not look
			}
		}
		compareEscapes(t, string(b))
	})
}

// Every decoder refuses a bad escape in any of its string fields (or in
// a field name), with invalid_argument saying where and what it is,
// and takes the allowed ones.
func TestDecoderEscapes(t *testing.T) {
	type decoder func(p *fastjson.Parser, body []byte) error
	order := `{"market":"BTC-USDT","side":"buy","quantity":"1","client_order_id":"c-%s"}`
	for _, c := range []struct {
		name, body, field string // body has %s where the escape goes
		dec               decoder
	}{
		{"order", order, "client_order_id", func(p *fastjson.Parser, b []byte) error { return decodeOrder(p, b, &orderReq{}) }},
		{"order key", `{"market":"BTC-USDT","side":"buy","x%s":"1"}`, "a field name", func(p *fastjson.Parser, b []byte) error { return decodeOrder(p, b, &orderReq{}) }},
		{"batch", `{"orders":[` + fmt.Sprintf(order, "1") + `,` + order + `]}`, "orders[1].client_order_id", func(p *fastjson.Parser, b []byte) error {
			_, _, err := decodeBatch(p, b, nil, nil)
			return err
		}},
		{"amend", `{"price":"1%s"}`, "price", func(p *fastjson.Parser, b []byte) error { return decodeAmend(p, b, &amendReq{}) }},
		{"deposit", `{"account_id":1,"asset":"USDT","amount":"1","ref":"d-%s"}`, "ref", func(p *fastjson.Parser, b []byte) error { return decodeTransfer(p, b, &transferReq{}, true) }},
		{"withdrawal", `{"asset":"USDT","amount":"1","ref":"w-%s"}`, "ref", func(p *fastjson.Parser, b []byte) error { return decodeTransfer(p, b, &transferReq{}, false) }},
		{"signup", `{"name":"n%s"}`, "name", func(p *fastjson.Parser, b []byte) error { return decodeSignup(p, b, &signupReq{}) }},
		{"market", `{"symbol":"X%s-USDT","base":"X","quote":"USDT","tick_size":"1","lot_size":"1"}`, "symbol", func(p *fastjson.Parser, b []byte) error { return decodeMarket(p, b, &marketReq{}) }},
		{"backup", `{"to":"/tmp/%s"}`, "to", func(p *fastjson.Parser, b []byte) error { return decodeBackup(p, b, &backupReq{}) }},
		{"leader bio", `{"display_name":"L","bio":"b%s"}`, "bio", func(p *fastjson.Parser, b []byte) error { return decodeLeader(p, b, &leaderReq{}) }},
		{"leader name", `{"display_name":"L%s"}`, "display_name", func(p *fastjson.Parser, b []byte) error { return decodeLeader(p, b, &leaderReq{}) }},
		{"follow", `{"leader_id":1,"allocation":"100","mode":"fixed_quote%s"}`, "mode", func(p *fastjson.Parser, b []byte) error { return decodeFollow(p, b, &followReq{}) }},
		{"follow amend", `{"top_up":"1%s"}`, "top_up", func(p *fastjson.Parser, b []byte) error { return decodeFollowAmend(p, b, &followAmendReq{}) }},
		{"stream auth", `{"op":"auth","token":"t%s"}`, "token", func(p *fastjson.Parser, b []byte) error { return decodeStreamOp(p, b, &streamOp{}) }},
		{"stream subscribe", `{"op":"subscribe","channels":["orders","x%s"]}`, "channels[1]", func(p *fastjson.Parser, b []byte) error { return decodeStreamOp(p, b, &streamOp{}) }},
	} {
		var p fastjson.Parser
		for _, esc := range badEscapes {
			body := fmt.Sprintf(c.body, esc)
			at := fmt.Sprintf("%s holds an invalid JSON string escape at byte %d: ", c.field, strings.Index(body, esc))
			if err := c.dec(&p, []byte(body)); err == nil || !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), at) {
				t.Errorf("%s %s: %v, want invalid_argument with %q", c.name, body, err, at)
			}
		}
		if c.name == "order key" {
			continue // an unknown field, whatever its escapes
		}
		for _, e := range goodEscapes {
			if c.name == "leader name" && e.esc == `\n` {
				continue // a control character: not in a name
			}
			body := fmt.Sprintf(c.body, e.esc)
			if err := c.dec(&p, []byte(body)); err != nil && strings.Contains(err.Error(), "escape") {
				t.Errorf("%s %s: %v", c.name, body, err)
			}
		}
	}
}

// Over HTTP and the stream: every family of request refuses a body with
// a bad escape (400 invalid_argument, or an error message on the
// stream) and changes nothing; the allowed escapes are taken, decoded,
// where the field allows them.
func TestEscapesHTTP(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, AnonRateLimit: -1})
	alice, _ := ts.setup()
	lid, lead := ts.signup("lea")
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"bio":"before"}`)
	bad := func(what, method, path, token, body string) {
		t.Helper()
		code, out := ts.req(method, path, token, body)
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != 400 || e["code"] != "invalid_argument" || !strings.Contains(msg, "invalid JSON string escape at byte ") {
			t.Errorf("%s %s: %d %v, want 400 invalid_argument for the escape", what, body, code, out)
		}
	}
	orders := func() int {
		open := ts.must(200, "GET", "/v1/orders?status=open", alice, "")["orders"].([]any)
		done := ts.must(200, "GET", "/v1/orders?status=done", alice, "")["orders"].([]any)
		return len(open) + len(done)
	}
	accounts := func() int {
		return len(ts.must(200, "GET", "/v1/admin/accounts?limit=1000", adminTok, "")["accounts"].([]any))
	}
	bio := func() any { return ts.must(200, "GET", fmt.Sprint("/v1/social/leaders/", lid), "", "")["bio"] }
	const order = `{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000","quantity":"0.01","client_order_id":"%s"}`
	balances, nAccounts := fmt.Sprint(ts.balances(alice)), accounts()
	for _, esc := range badEscapes {
		bad("order", "POST", "/v1/orders", alice, fmt.Sprintf(order, "c-"+esc))
		bad("batch", "POST", "/v1/orders/batch", alice, `{"orders":[`+fmt.Sprintf(order, "b-1")+`,`+fmt.Sprintf(order, "b-"+esc)+`]}`)
		bad("deposit", "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"1","ref":"d-`+esc+`"}`)
		bad("withdrawal", "POST", "/v1/withdrawals", alice, `{"asset":"BTC","amount":"1","ref":"w-`+esc+`"}`)
		bad("sign-up", "POST", "/v1/accounts", "", `{"name":"n`+esc+`"}`)
		bad("leader", "PUT", "/v1/social/leader", lead, `{"bio":"b`+esc+`"}`)
	}
	if n := orders(); n != 0 {
		t.Errorf("%d orders placed", n)
	}
	if b := fmt.Sprint(ts.balances(alice)); b != balances {
		t.Errorf("balances %s, were %s", b, balances)
	}
	if n := accounts(); n != nAccounts {
		t.Errorf("%d accounts, were %d", n, nAccounts)
	}
	if b := bio(); b != "before" {
		t.Errorf("bio %q", b)
	}

	for _, e := range goodEscapes {
		out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(order, "c-"+e.esc))
		if got := out["order"].(map[string]any)["client_order_id"]; got != "c-"+e.text {
			t.Errorf("order %s: client_order_id %q", e.esc, got)
		}
		out = ts.must(200, "POST", "/v1/orders/batch", alice, `{"orders":[`+fmt.Sprintf(order, "b-"+e.esc)+`]}`)
		if r := out["results"].([]any)[0].(map[string]any); fmt.Sprint(r["order"].(map[string]any)["client_order_id"]) != "b-"+e.text {
			t.Errorf("batch %s: %v", e.esc, r)
		}
		out = ts.must(201, "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"1","ref":"d-`+e.esc+`"}`)
		if out["ref"] != "d-"+e.text {
			t.Errorf("deposit %s: ref %q", e.esc, out["ref"])
		}
		out = ts.must(201, "POST", "/v1/withdrawals", alice, `{"asset":"BTC","amount":"1","ref":"w-`+e.esc+`"}`)
		if out["ref"] != "w-"+e.text {
			t.Errorf("withdrawal %s: ref %q", e.esc, out["ref"])
		}
		if e.esc != `\n` { // a control character: not in a name
			if out = ts.must(201, "POST", "/v1/accounts", "", `{"name":"n`+e.esc+`"}`); out["name"] != "n"+e.text {
				t.Errorf("sign-up %s: name %q", e.esc, out["name"])
			}
		}
		ts.must(200, "PUT", "/v1/social/leader", lead, `{"bio":"b`+e.esc+`"}`)
		if b := bio(); b != "b"+e.text {
			t.Errorf("leader %s: bio %q", e.esc, b)
		}
	}

	// Stream ops: one connection per escape (too many bad messages close
	// one).
	for _, esc := range badEscapes {
		c := ts.dial()
		for _, op := range []string{`{"op":"auth","token":"` + alice + esc + `"}`, `{"op":"subscribe","channels":["orders` + esc + `"]}`} {
			c.send(op)
			m := c.next()
			if m.Type != "error" || m.Error == nil || m.Error.Code != "invalid_argument" || !strings.Contains(m.Error.Message, "invalid JSON string escape at byte ") {
				t.Errorf("stream %s: %+v %+v, want invalid_argument for the escape", op, m, m.Error)
			}
		}
		c.send(`{"op":"subscribe","channels":["orders"]}`) // not authenticated by the bad auth
		if m := c.next(); m.Type != "error" || m.Error == nil || m.Error.Code == "invalid_argument" {
			t.Errorf("stream: subscribe to orders after a bad auth: %+v %+v", m, m.Error)
		}
	}
	c := ts.dial()
	c.send(`{"op":"auth","token":"` + fmt.Sprintf(`\u%04x`, alice[0]) + alice[1:] + `"}`)
	if m := c.next(); m.Type != "authenticated" {
		t.Errorf("stream: auth with an escaped token: %+v %+v", m, m.Error)
	}
	c.send(`{"op":"subscribe","channels":["\u006frders","trades:BTC\u002dUSDT"]}`)
	for {
		m := c.next()
		if m.Type == "error" {
			t.Fatalf("stream: subscribe with escapes: %+v", m.Error)
		}
		if m.Type == "subscribed" {
			break
		}
	}
}
