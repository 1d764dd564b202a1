package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestLogLevel: --log-level and IST_LOG_LEVEL take debug, info, warn or
// error, and any other value stops istd at start with an error naming both
// and the four levels, before it creates anything. zerolog's parser read
// an empty IST_LOG_LEVEL as "no level", which left istd running with no
// log at all (its errors included), and it refused "verbose" with
// "defaulting to NoLevel" although istd stopped.
func TestLogLevel(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		env  *string
		args []string
	}{
		{ptr(""), nil},
		{ptr("verbose"), nil},
		{ptr("disabled"), nil},
		{ptr("trace"), nil},
		{nil, []string{"--log-level", ""}},
		{nil, []string{"--log-level", "Warning"}},
	} {
		os.Unsetenv("IST_LOG_LEVEL")
		if c.env != nil {
			t.Setenv("IST_LOG_LEVEL", *c.env)
		}
		data := filepath.Join(dir, fmt.Sprint("bad", i))
		env := "unset"
		if c.env != nil {
			env = fmt.Sprintf("%q", *c.env)
		}
		err := runRefused(t, append([]string{"--data-dir", data, "--listen", "127.0.0.1:0"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), "--log-level (IST_LOG_LEVEL)") ||
			!strings.Contains(err.Error(), "want debug, info, warn or error") {
			t.Errorf("IST_LOG_LEVEL %s args %q: %v, want an error naming --log-level (IST_LOG_LEVEL) and the levels", env, c.args, err)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("IST_LOG_LEVEL %s args %q: istd created %s (%v)", env, c.args, data, err)
		}
	}
	os.Unsetenv("IST_LOG_LEVEL")
	for _, c := range []struct {
		s    string
		want zerolog.Level
	}{{"debug", zerolog.DebugLevel}, {"info", zerolog.InfoLevel}, {"warn", zerolog.WarnLevel}, {"error", zerolog.ErrorLevel}} {
		if got, err := logLevel(c.s); err != nil || got != c.want {
			t.Errorf("logLevel(%q) = %v, %v, want %v", c.s, got, err, c.want)
		}
	}
}

func ptr(s string) *string { return &s }
