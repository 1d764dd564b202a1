package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Admin endpoints answer a made-up or revoked token as user endpoints
// do, 401 unauthenticated; a live user token is 403 forbidden. Error
// messages do not carry the server's sentinel prefixes.
func TestAdminAuthCodes(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	out := ts.must(201, "POST", "/v1/tokens", alice, "")
	gone := out["token"].(string)
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(out["id"].(float64))), alice, "")
	for _, path := range []string{"/v1/admin/accounts", "/v1/admin/fees"} {
		for _, c := range []struct {
			token, who string
			code       int
			errCode    string
		}{
			{"", "no token", 401, "unauthenticated"},
			{"made-up", "a made-up token", 401, "unauthenticated"},
			{gone, "a revoked token", 401, "unauthenticated"},
			{alice, "a user token", 403, "forbidden"},
		} {
			code, body := ts.req("GET", path, c.token, "")
			e, _ := body["error"].(map[string]any)
			if code != c.code || e["code"] != c.errCode {
				t.Errorf("GET %s with %s: %d %v, want %d %s", path, c.who, code, body, c.code, c.errCode)
			}
			if msg, _ := e["message"].(string); strings.HasPrefix(msg, "server:") || msg == "" {
				t.Errorf("GET %s with %s: message %q", path, c.who, msg)
			}
			// The same as a user endpoint answers the same token.
			if c.token != alice {
				if uc, ec := ts.errCode("GET", "/v1/account", c.token, ""); uc != code || ec != e["code"] {
					t.Errorf("%s: admin %d %v, user %d %s", c.who, code, e["code"], uc, ec)
				}
			}
		}
	}
	for _, c := range []struct{ method, path, token, body, want string }{
		{"GET", "/v1/admin/accounts", alice, "", "admin token required"},
		{"GET", "/v1/account", adminTok, "", "the admin token is not a user token"},
	} {
		_, body := ts.req(c.method, c.path, c.token, c.body)
		if msg := body["error"].(map[string]any)["message"]; msg != c.want {
			t.Errorf("%s %s: message %q, want %q", c.method, c.path, msg, c.want)
		}
	}
}

// The messages of wrapped errors lose the sentinel's text, which the code
// says already.
func TestErrorMessagePrefixes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: admin token required", errForbidden), "admin token required"},
		{fmt.Errorf("%w: details", errUnauth), "details"},
		{fmt.Errorf("%w: the account holds 3", errTooManyTokens), "the account holds 3"},
		{fmt.Errorf("%w: token 3 is the last", errLastToken), "token 3 is the last"},
		{fmt.Errorf("%w: bad", errInvalid), "bad"},
		{errUnauth, "missing or invalid token"},
		{errRateLimited, "rate limit exceeded; retry later"},
		// A sentinel of ours inside a message: a decimal's error.
		{fmt.Errorf("%w: amount %q: %w", errInvalid, "1.123456789", ErrDecimalPlaces), `amount "1.123456789": too many decimal places`},
		{fmt.Errorf("%w: price %q: %w", errInvalid, "1e3", ErrDecimalSyntax), `price "1e3": not a decimal number`},
	} {
		b := appendErrorObject(nil, c.err)
		if want := `"message":` + string(appendString(nil, c.want)); !strings.Contains(string(b), want) {
			t.Errorf("%v: %s, want %s", c.err, b, want)
		}
	}
}

// The token follows "Bearer" after one or more spaces (RFC 9110 11.4:
// auth-scheme 1*SP token68), the scheme in any case; no token after it
// is no token.
func TestBearerSpaces(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	for _, h := range []string{"Bearer " + alice, "Bearer  " + alice, "bearer   " + alice, "BEARER " + alice} {
		r, _ := http.NewRequest("GET", ts.base+"/v1/account", nil)
		r.Header.Set("Authorization", h)
		resp, err := ts.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("Authorization %q: %d, want 200", strings.Replace(h, alice, "TOKEN", 1), resp.StatusCode)
		}
	}
	for _, h := range []string{"Bearer   ", "Bearer", alice, "Basic " + alice} {
		r, _ := http.NewRequest("GET", ts.base+"/v1/account", nil)
		r.Header.Set("Authorization", h)
		resp, err := ts.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", strings.Replace(h, alice, "TOKEN", 1), resp.StatusCode)
		}
	}
}
