package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/server"
)

// --rate-limit and --anon-rate-limit (and their variables) must be
// finite numbers: NaN passed "not negative" and then refused every
// request after a client's first; ±Inf is no rate. The error names the
// flag.
func TestRateLimitNotFinite(t *testing.T) {
	for _, c := range []struct {
		env      map[string]string
		args     []string
		wantFlag string
	}{
		{nil, []string{"--rate-limit", "NaN"}, "--rate-limit"},
		{nil, []string{"--anon-rate-limit", "nan"}, "--anon-rate-limit"},
		{nil, []string{"--rate-limit", "+Inf"}, "--rate-limit"},
		{nil, []string{"--anon-rate-limit", "inf"}, "--anon-rate-limit"},
		{map[string]string{"IST_RATE_LIMIT": "nan"}, nil, "IST_RATE_LIMIT"},
		{map[string]string{"IST_ANON_RATE_LIMIT": "NaN"}, nil, "IST_ANON_RATE_LIMIT"},
		{map[string]string{"IST_ANON_RATE_LIMIT": "Infinity"}, nil, "IST_ANON_RATE_LIMIT"},
	} {
		for _, k := range []string{"IST_RATE_LIMIT", "IST_ANON_RATE_LIMIT"} {
			t.Setenv(k, c.env[k])
			if _, ok := c.env[k]; !ok {
				os.Unsetenv(k)
			}
		}
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		tun := addTuning(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		var o server.Options
		err := tun.apply(fs, &o)
		if err == nil || !strings.Contains(err.Error(), c.wantFlag) || !strings.Contains(err.Error(), "finite") {
			t.Errorf("env %v args %v: %v (options %+v), want an error naming %s", c.env, c.args, err, o, c.wantFlag)
		}
	}
}

// A setting that must be positive says so when it is 0 ("--book-depth
// must be positive", not "--book-depth (must be positive) must not be
// negative"), and an environment variable that does not parse is one
// error naming it, its flag keeping its default.
func TestPositiveSettings(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--book-depth", "0"}, "--book-depth must be positive"},
		{nil, []string{"--max-body", "-1"}, "--max-body must be positive"},
		{nil, []string{"--snapshot-interval", "0s"}, "--snapshot-interval must be positive"},
		{nil, []string{"--max-tokens", "-1"}, "--max-tokens must not be negative"},
		{map[string]string{"IST_BOOK_DEPTH": "abc"}, nil, `IST_BOOK_DEPTH: strconv.Atoi: parsing "abc": invalid syntax`},
		{map[string]string{"IST_REQUEST_TIMEOUT": "soon"}, nil, `IST_REQUEST_TIMEOUT: time: invalid duration "soon"`},
	} {
		for _, k := range []string{"IST_BOOK_DEPTH", "IST_REQUEST_TIMEOUT"} {
			t.Setenv(k, c.env[k])
			if _, ok := c.env[k]; !ok {
				os.Unsetenv(k)
			}
		}
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		tun := addTuning(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if err := tun.apply(fs, &server.Options{}); err == nil || err.Error() != c.want {
			t.Errorf("env %v args %v: %v, want the one error %q", c.env, c.args, err, c.want)
		}
	}
}
