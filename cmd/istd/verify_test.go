package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// istd verify checks a backup of a running istd: its log replays to its
// snapshots. The directory the istd runs on is refused with the way out,
// and one without istd's data is refused as such.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	data, bk := filepath.Join(dir, "data"), filepath.Join(dir, "bk")
	addr := freeAddr(t)
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr
	out := startRun(t, []string{"--data-dir", data, "--listen", addr, "--admin-token", "secret", "--log-level", "error", "--demo"}, c, base)
	for i := 0; !strings.Contains(out.String(), "demo account demo-bob"); i++ {
		if i == 400 {
			t.Fatalf("no demo accounts (%q)", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if code, body := call(t, c, "POST", base+"/v1/admin/accounts", "secret", `{"name":"carol"}`); code != 201 {
		t.Fatalf("%d %s", code, body)
	}
	if err := run([]string{"backup", "--data-dir", data, "--to", bk, "--listen", addr, "--admin-token", "secret"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	var v bytes.Buffer
	if err := run([]string{"verify", "--data-dir", bk}, &v); err != nil || !strings.HasSuffix(v.String(), "verify: ok\n") {
		t.Fatalf("verify the backup: %v\n%s", err, v.String())
	}
	// The demo's commands and carol's sign-up, at least, were replayed.
	m := regexp.MustCompile(`replayed (\d+) commands`).FindStringSubmatch(v.String())
	if m == nil || len(m[1]) < 2 {
		t.Fatalf("verify output %q", v.String())
	}
	err := run([]string{"verify", "--data-dir", data}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "verify a backup") {
		t.Fatalf("verify the directory istd runs on: %v", err)
	}
	err = run([]string{"verify", "--data-dir", filepath.Join(dir, "nothing")}, io.Discard)
	if !errors.Is(err, errNoData) {
		t.Fatalf("verify a directory without data: %v", err)
	}
}
