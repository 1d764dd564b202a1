package bench

import (
	"testing"

	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/wal"
)

// TestStreamRecords checks that the raw loop's records are log records of
// the benchmark flow: each decodes, in sequence, to a place or a cancel.
func TestStreamRecords(t *testing.T) {
	recs := StreamRecords(2000)
	if len(recs) != 2000 {
		t.Fatalf("%d records", len(recs))
	}
	cmds, err := wal.DecodeBlockRecords(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[engine.CommandKind]int{}
	for _, c := range cmds {
		kinds[c.Kind]++
	}
	if kinds[engine.CmdPlace] == 0 || kinds[engine.CmdCancel] == 0 || len(kinds) != 2 {
		t.Fatalf("kinds %v, want places and cancels", kinds)
	}
	rate, err := RawAppendRecords(t.TempDir(), 5000, 1000, recs)
	if err != nil || rate <= 0 {
		t.Fatalf("raw append: %v, %v", rate, err)
	}
}
