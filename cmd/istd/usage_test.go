package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestHelpExitsZero checks that -h and --help, of istd and of istd backup,
// print the usage and exit 0 (they reported "flag: help requested" and
// exited 1), while a bad flag still exits 1 with the error.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"backup", "-h"}} {
		err := run(args, io.Discard)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v: %v, want flag.ErrHelp", args, err)
		}
		var stderr bytes.Buffer
		if code := exitCode(err, &stderr); code != 0 || stderr.Len() != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := exitCode(run([]string{"--no-such-flag"}, io.Discard), &stderr); code != 1 ||
		!strings.HasPrefix(stderr.String(), "istd: ") {
		t.Fatalf("bad flag: exit %d, stderr %q", code, stderr.String())
	}
	if code := exitCode(nil, &stderr); code != 0 {
		t.Fatalf("no error: exit %d", code)
	}
}
