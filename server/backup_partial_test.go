package server

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A backup cut short after the metadata store was copied and before the
// log was: the backup directory does not exist yet, and a failure there
// leaves nothing behind. (Before, the copy was written in place: a crash
// at that point left DIR/server alone, and a server started from DIR
// recovered an empty engine under the old tokens and order history,
// with only a warning: the old tokens then reached the accounts that new
// sign-ups were given, and new orders took the history's ids.)
func TestBackupAppearsOnlyWhole(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok})
	alice, _ := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	parent := t.TempDir()
	bdir := filepath.Join(parent, "b")
	cut := errors.New("cut short")
	hooked := false
	backupPartialHook = func(partial string) error {
		hooked = true
		if _, err := os.Stat(filepath.Join(partial, "server")); err != nil {
			t.Errorf("the metadata store is not in the partial backup: %v", err)
		}
		if _, err := os.Stat(bdir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists before the backup is complete (stat: %v)", bdir, err)
		}
		return cut
	}
	defer func() { backupPartialHook = nil }()
	if _, err := ts.s.backupTo(bdir); !errors.Is(err, cut) || !hooked {
		t.Fatalf("backup cut short: error %v, hook called %v", err, hooked)
	}
	backupPartialHook = nil
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("a failed backup left %v in %s", left, parent)
	}

	if _, err := ts.s.backupTo(bdir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 1 || left[0].Name() != "b" {
		t.Fatalf("after a backup, %s holds %v, want b alone", parent, left)
	}
	if fi, err := os.Stat(bdir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("backup directory: %v, %v", fi, err)
	}
	ts2 := start(t, bdir, &Options{AdminToken: adminTok})
	if o := ts2.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["status"] != "open" {
		t.Fatalf("alice's sell in the backup: %v", o)
	}
}

// A data directory istd creates, and a backup, are its user's alone.
func TestDataDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ts := start(t, dir, &Options{AdminToken: adminTok})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v", fi, err)
	}
	bdir := filepath.Join(t.TempDir(), "backup")
	if _, err := ts.s.backupTo(bdir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bdir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("backup directory: %v, %v", fi, err)
	}
}

// A short admin token given to Open is taken, with a warning: its hash
// in the data directory could be guessed offline.
func TestShortAdminTokenWarns(t *testing.T) {
	for _, tok := range []string{"adm", strings.Repeat("k", minAdminToken)} {
		var logs syncBuffer
		lg := zerolog.New(&logs)
		ts := start(t, t.TempDir(), &Options{AdminToken: tok, Logger: &lg})
		ts.must(200, "GET", "/v1/admin/accounts", tok, "")
		if warned := strings.Contains(logs.String(), "the admin token is short"); warned != (len(tok) < minAdminToken) {
			t.Errorf("token of %d characters: warned %v", len(tok), warned)
		}
	}
}
