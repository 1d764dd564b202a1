package server

import (
	"errors"
	"testing"

	"github.com/rs/zerolog"
)

// A data directory serves one Server at a time: a second Open fails with
// ErrDataDirInUse until the first is closed.
func TestOpenDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop}); !errors.Is(err, ErrDataDirInUse) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second Open: %v, want ErrDataDirInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
