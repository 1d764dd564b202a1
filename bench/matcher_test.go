package bench

import (
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// BenchmarkStateStream applies the closed loop's four producer streams,
// interleaved in runs of 64 commands as the ring mixes them, to one State
// on one goroutine: the matcher's share of istbench engine without the
// pipeline, steadier than the pipeline's figures on a shared machine.
func BenchmarkStateStream(b *testing.B) {
	const producers, accounts, per, run = 4, 100, 250_000, 64
	streams := make([][]streamOp, producers)
	for p := range streams {
		streams[p] = ProducerStream(1, p, producers, accounts, per)
	}
	cmds := make([]engine.Command, 0, producers*per)
	for i := 0; i < per; i += run {
		for p := range streams {
			for _, op := range streams[p][i:min(i+run, per)] {
				var c engine.Command
				op.command(&c, uint32(p+1))
				cmds = append(cmds, c)
			}
		}
	}
	events := make([]engine.Event, 4*8192)
	var st *engine.State
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(cmds)
		if k == 0 {
			b.StopTimer()
			st = engine.NewState()
			var evs []engine.Event
			for _, c := range GenesisMarkets(producers, accounts) {
				_, evs = st.Apply(&c, evs[:0])
			}
			b.StartTimer()
		}
		c := cmds[k] // the ring's copy
		j := (i & 8191) * 4
		if out, _ := st.Apply(&c, events[j:j:j+4]); out.Err != nil && c.Kind == engine.CmdPlace {
			b.Fatalf("command %d: %v", k, out.Err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}
