package bench

import "testing"

func TestSnapshotPause(t *testing.T) {
	for _, ids := range []bool{false, true} {
		res, err := SnapshotPause(t.TempDir(), 2000, 2, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Pauses) != 2 || res.Pauses[0] <= 0 || res.Pauses[1] <= 0 || res.Restore <= 0 {
			t.Fatalf("client ids %t: %+v", ids, res)
		}
		if min := 2000 * 163; res.Bytes < min {
			t.Fatalf("client ids %t: %d bytes for 2000 orders, want at least %d", ids, res.Bytes, min)
		}
	}
}
