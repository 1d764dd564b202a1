package pebbledb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// damageLog writes n records, in synced batches, to a fresh database in dir, closes
// it and flips a byte in the middle of its newest log file.
func damageLog(t *testing.T, dir string, n int) {
	t.Helper()
	db, err := Open(dir, &pebble.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 20 { // synced batches of 20 records
		b := db.NewBatch()
		for j := i; j < i+20; j++ {
			b.Set(fmt.Appendf(nil, "k%06d", j), []byte("value"), nil)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatal("no log file")
	}
	path := logs[len(logs)-1]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Damage in the middle of the log of a database Open created (its first
// log file) is refused, and the error says where, naming the last key
// read intact as describe names it, or counting the intact records. The
// log spans several 32-KiB blocks: Pebble confirms damage by reading on
// to the next block, so damage in the last one still reads as the end.
func TestOpenRefusesDamagedLog(t *testing.T) {
	for _, named := range []bool{false, true} {
		dir := t.TempDir()
		damageLog(t, dir, 3000)
		var describe func([]byte) (string, bool)
		want := " intact records (what follows cannot be read)"
		if named {
			describe = func(k []byte) (string, bool) { return "key " + string(k), true }
			want = ", after key k0"
		}
		db, err := Open(dir, &pebble.Options{}, describe)
		if err == nil {
			db.Close()
			t.Fatal("a database with a damaged log opened")
		}
		if !pebble.IsCorruptionError(err) || !strings.Contains(err.Error(), "is damaged at offset") || !strings.Contains(err.Error(), want) {
			t.Fatalf("named=%v: %v: want a corruption error with %q", named, err, want)
		}
	}
}

// Open creates a database in the newest format.
func TestOpenNewestFormat(t *testing.T) {
	db, err := Open(t.TempDir(), &pebble.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.FormatMajorVersion(); got != pebble.FormatNewest {
		t.Fatalf("format %v, want %v", got, pebble.FormatNewest)
	}
}
