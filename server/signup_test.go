package server

import (
	"fmt"
	"strings"
	"testing"
)

// Sign-up is charged to the client IP's bucket whatever bearer token it
// carries: a live user token buys no sign-ups past the per-IP limit.
func TestSignupLimitBypass(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, AnonRateLimit: 0.001, AnonRateBurst: 1})
	_, tok := ts.signup("u0")
	if code, c := ts.errCode("POST", "/v1/accounts", "", `{"name":"u1"}`); code != 429 {
		t.Fatalf("second anonymous sign-up: %d %s", code, c)
	}
	n := 0
	for i := range 50 {
		if c, _ := ts.req("POST", "/v1/accounts", tok, fmt.Sprintf(`{"name":"bot%d"}`, i)); c == 201 {
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d of 50 sign-ups past the per-IP limit accepted with a user token as bearer", n)
	}
	for _, bearer := range []string{adminTok, "made-up"} {
		if code, c := ts.errCode("POST", "/v1/accounts", bearer, `{"name":"x"}`); code != 429 || c != "rate_limited" {
			t.Errorf("sign-up with %q past the per-IP limit: %d %s", bearer, code, c)
		}
	}
	// The token's own bucket is untouched by sign-ups.
	ts.must(200, "GET", "/v1/account", tok, "")
}

// Account names are shown to other users: invalid UTF-8, control and
// format characters (bidi overrides), line separators, blank names and
// white space at either end are refused (400 invalid_argument); other
// Unicode is taken as sent, and names need not be unique.
func TestSignupNames(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, AnonRateLimit: -1})
	for _, name := range []string{
		"\"\xff\"", "\"a\xffb\"", "\"\xed\xa0\x80\"", `"\ud800"`, `"a\udc00b"`, `"\ud800\u0041"`, `"\ud83d"`,
		`"a\nb"`, `"\u0007"`, `"a\u0000b"`, `"\u007f"`, `"\u0085"`,
		`"\u202eecila"`, `"a\u200bb"`, `"\ufeffbob"`, `"a\u2028b"`, `"a\u2029b"`, `"\u2066x\u2069"`,
		`""`, `" "`, `"   "`, `"\u3000"`, `"\u00a0"`, `"\t"`,
		`" alice"`, `"alice "`, `"\u00a0alice"`, `"alice\u3000"`,
		`"` + strings.Repeat("x", 25) + `"`, `"` + strings.Repeat("é", 13) + `"`,
	} {
		code, out := ts.req("POST", "/v1/accounts", "", `{"name":`+name+`}`)
		e, _ := out["error"].(map[string]any)
		if code != 400 || e["code"] != "invalid_argument" {
			t.Errorf("name %s: %d %v, want 400 invalid_argument", name, code, out)
			continue
		}
		if msg, _ := e["message"].(string); !strings.HasPrefix(msg, "name ") {
			t.Errorf("name %s: message %q does not say what is wrong with the name", name, msg)
		}
	}
	for _, c := range []struct{ json, want string }{
		{`"alice"`, "alice"}, {`"alice"`, "alice"}, {`"Zoë"`, "Zoë"}, {`"李雷"`, "李雷"},
		{`"a b"`, "a b"}, {`"\ud83d\ude00 x"`, "😀 x"}, {`"\\ud800"`, `\ud800`},
		{`"` + strings.Repeat("x", 24) + `"`, strings.Repeat("x", 24)}, {`"שלום"`, "שלום"},
	} {
		out := ts.must(201, "POST", "/v1/accounts", "", `{"name":`+c.json+`}`)
		if out["name"] != c.want {
			t.Errorf("name %s: signed up as %q, want %q", c.json, out["name"], c.want)
		}
		if got := ts.must(200, "GET", "/v1/account", out["token"].(string), "")["name"]; got != c.want {
			t.Errorf("name %s: account shows %q", c.json, got)
		}
	}
}

// A leader's display_name, shown on the leaderboard, is checked as an
// account's name is (empty still means the account's name).
func TestLeaderDisplayNameChecked(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, tok := ts.signup("lea")
	for _, dn := range []string{`"\u202eecila"`, `"a\nb"`, `" "`, `"lea "`, `"\u200b"`, "\"\xff\""} {
		if code, c := ts.errCode("PUT", "/v1/social/leader", tok, `{"display_name":`+dn+`}`); code != 400 || c != "invalid_argument" {
			t.Errorf("display_name %s: %d %s", dn, code, c)
		}
	}
	if p := ts.must(200, "PUT", "/v1/social/leader", tok, `{"display_name":""}`); p["display_name"] != "lea" {
		t.Errorf("empty display_name: %v", p["display_name"])
	}
	long := strings.Repeat("ü", 32) // 64 bytes, the most
	if p := ts.must(200, "PUT", "/v1/social/leader", tok, `{"display_name":"`+long+`"}`); p["display_name"] != long {
		t.Errorf("display_name %v", p["display_name"])
	}
}

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"a b", true}, {"Zoë", true}, {"\u05e9", true}, {"x\u0301", true},
		{"", false}, {"\xff", false}, {"\xed\xa0\x80", false}, {"a\x00", false}, {"a\tb", false},
		{"\u202e", false}, {"\u00ad", false}, {"\u2028", false}, {" a", false}, {"a\u2003", false},
		{"\u2003\u2003", false}, {"abcde", false}, // longer than 4
	} {
		if err := checkName("name", []byte(c.name), 4); (err == nil) != c.ok {
			t.Errorf("%q: %v, want ok %v", c.name, err, c.ok)
		}
	}
}

// Open sign-up is limited per client address (SignupRate, SignupBurst) on
// top of the anonymous rate: past the burst, a valid sign-up is 429 and
// opens nothing, while an invalid one is still told what is wrong. The
// admin opens accounts with POST /v1/admin/accounts, not charged to that
// limit and open whether or not sign-up is.
func TestSignupRateAndAdminAccounts(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, SignupRate: 0.001, SignupBurst: 2, DisableSignup: disabled})
		accounts := func() int {
			return len(ts.must(200, "GET", "/v1/admin/accounts?limit=1000", adminTok, "")["accounts"].([]any))
		}
		if !disabled {
			ts.signup("a0")
			ts.signup("a1")
			before := accounts()
			code, out := ts.req("POST", "/v1/accounts", "", `{"name":"a2"}`)
			e, _ := out["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if code != 429 || e["code"] != "rate_limited" || !strings.Contains(msg, "sign-up: at most 0.001 a second from one address, bursts of 2") ||
				!strings.Contains(msg, "POST /v1/admin/accounts") {
				t.Fatalf("third sign-up: %d %v", code, out)
			}
			if n := accounts(); n != before {
				t.Fatalf("a refused sign-up opened an account: %d accounts, %d before", n, before)
			}
			if code, c := ts.errCode("POST", "/v1/accounts", "", `{"name":" x"}`); code != 400 || c != "invalid_argument" {
				t.Fatalf("invalid name past the sign-up limit: %d %s", code, c)
			}
		} else if code, c := ts.errCode("POST", "/v1/accounts", "", `{"name":"a0"}`); code != 403 {
			t.Fatalf("sign-up disabled: %d %s", code, c)
		}
		for i := range 5 {
			out := ts.must(201, "POST", "/v1/admin/accounts", adminTok, fmt.Sprintf(`{"name":"user%d"}`, i))
			tok, _ := out["token"].(string)
			if got := ts.must(200, "GET", "/v1/account", tok, ""); got["name"] != fmt.Sprintf("user%d", i) || got["id"] != out["id"] {
				t.Fatalf("account opened by the admin: %v, its token shows %v", out, got)
			}
		}
		_, user := ts.signupAdmin("u")
		for _, c := range []struct {
			bearer string
			code   int
		}{{"", 401}, {user, 403}, {"made-up", 401}} {
			if code, e := ts.errCode("POST", "/v1/admin/accounts", c.bearer, `{"name":"x"}`); code != c.code {
				t.Errorf("admin account with bearer %q: %d %s, want %d", c.bearer, code, e, c.code)
			}
		}
		if code, c := ts.errCode("POST", "/v1/admin/accounts", adminTok, `{"name":" x"}`); code != 400 || c != "invalid_argument" {
			t.Errorf("admin account, invalid name: %d %s", code, c)
		}
	}
}

// signupAdmin opens an account with the admin token and returns its id
// and token.
func (ts *testServer) signupAdmin(name string) (uint64, string) {
	ts.t.Helper()
	out := ts.must(201, "POST", "/v1/admin/accounts", adminTok, fmt.Sprintf(`{"name":%q}`, name))
	return uint64(out["id"].(float64)), out["token"].(string)
}
