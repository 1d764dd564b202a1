package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"time"

	"github.com/instant-social-trading/ist/bench"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/wal"
)

// runEngine drives the pipeline with the in-memory journal: a closed loop
// with several producers for throughput, then an open loop at a fixed
// offered rate for latency.
func runEngine(args []string) int {
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	producers := fs.Int("producers", 4, "closed-loop producer goroutines")
	n := fs.Int("n", 4_000_000, "closed-loop commands")
	rate := fs.Float64("rate", 1e6, "open-loop offered commands per second")
	openN := fs.Int("open-n", 3_000_000, "open-loop commands")
	accounts := fs.Int("accounts", 100, "trading accounts")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the first closed loop to `file`")
	traceOut := fs.String("trace", "", "write an execution trace of the first closed loop to `file`")
	rounds := fs.Int("rounds", 3, "closed-loop rounds; the median is reported")
	ringSize := fs.Int("ring-size", 0, "the engine's ingress ring slots, a power of two (0: engine.DefaultRingSize)")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "istbench engine: --rounds must be at least 1")
		return 2
	}
	cfg := bench.EngineConfig{Producers: *producers, Commands: *n, Accounts: *accounts, Seed: 1, RingSize: *ringSize}
	stop, err := startProfile(*cpuProf, *traceOut)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench engine:", err)
		return 1
	}
	// The machine's speed drifts over seconds: the closed loop runs in
	// rounds and its median is the figure.
	var rates []float64
	for r := 1; r <= *rounds; r++ {
		closed, err := bench.EngineClosedLoop(cfg)
		if r == 1 {
			stop()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench engine:", err)
			return 1
		}
		fmt.Printf("closed round %d: producers=%d commands=%d elapsed_ms=%d cmds_per_sec=%.0f trades=%d rejected=%d resting=%d cpu_cores=%.2f\n",
			r, cfg.Producers, closed.Commands, closed.Elapsed.Milliseconds(), closed.CmdsPerSec, closed.Trades, closed.Rejected, closed.Resting, closed.CPUCores)
		rates = append(rates, closed.CmdsPerSec)
	}
	fmt.Printf("closed over %d rounds: cmds_per_sec min=%.0f median=%.0f max=%.0f\n",
		*rounds, slices.Min(rates), median(rates), slices.Max(rates))
	cfg.Commands, cfg.Rate = *openN, *rate
	open, err := bench.EngineOpenLoop(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench engine:", err)
		return 1
	}
	fmt.Printf("open: offered=%.0f achieved=%.0f p50_ns=%d p99_ns=%d p999_ns=%d p9999_ns=%d max_ns=%d\n",
		*rate, open.Achieved, open.P50, open.P99, open.P999, open.P9999, open.Max)
	base := bench.ChannelOpenLoop(*rate, *openN)
	fmt.Printf("baseline (same generator, one Go channel hop): p50_ns=%d p99_ns=%d p999_ns=%d p9999_ns=%d max_ns=%d\n",
		base.P50, base.P99, base.P999, base.P9999, base.Max)
	spin := bench.SpinOpenLoop(*rate, *openN)
	fmt.Printf("baseline (same generator, a consumer that spins, never parks or yields): p50_ns=%d p99_ns=%d p999_ns=%d p9999_ns=%d max_ns=%d\n",
		spin.P50, spin.P99, spin.P999, spin.P9999, spin.Max)
	floor := bench.FloorOpenLoop(*rate, *openN)
	fmt.Printf("floor (same generator, nothing to send: its own lateness): p50_ns=%d p99_ns=%d p999_ns=%d p9999_ns=%d max_ns=%d\n",
		floor.P50, floor.P99, floor.P999, floor.P9999, floor.Max)
	fmt.Printf("cmds_per_sec=%.0f offered_per_sec=%.0f p50_ns=%d p99_ns=%d p9999_ns=%d baseline_p99_ns=%d baseline_p9999_ns=%d floor_p99_ns=%d floor_p9999_ns=%d\n",
		median(rates), *rate, open.P50, open.P99, open.P9999, base.P99, base.P9999, floor.P99, floor.P9999)
	return 0
}

// runDurable measures the engine with the real Pebble log next to a raw
// Pebble append loop with the same record size and batch size.
func runDurable(args []string) int {
	fs := flag.NewFlagSet("durable", flag.ContinueOnError)
	producers := fs.Int("producers", 4, "closed-loop producer goroutines")
	n := fs.Int("n", 2_000_000, "closed-loop commands")
	rate := fs.Float64("rate", 100_000, "open-loop offered commands per second")
	openN := fs.Int("open-n", 1_000_000, "open-loop commands")
	dirFlag := fs.String("dir", "", "directory for the logs (default: a temporary one, removed)")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the first durable closed loop to `file`")
	traceOut := fs.String("trace", "", "write an execution trace of the first durable closed loop to `file`")
	rounds := fs.Int("rounds", 3, "closed-loop rounds (a durable loop, then the raw loops); the medians are reported")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "istbench durable: --rounds must be at least 1")
		return 2
	}
	dir, cleanup, err := scratch(*dirFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench durable:", err)
		return 1
	}
	defer cleanup()
	stop, err := startProfile(*cpuProf, *traceOut)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench durable:", err)
		return 1
	}

	var syncs wal.SyncStats // of the last measure's log
	measure := func(name string, run func(cfg bench.EngineConfig) (bench.EngineResult, error), commands int, rate float64) (bench.EngineResult, *bench.CountingJournal, error) {
		l, err := bench.OpenLog(bench.Sub(dir, name))
		if err != nil {
			return bench.EngineResult{}, nil, err
		}
		defer l.Close()
		j := &bench.CountingJournal{Journal: l}
		res, err := run(bench.EngineConfig{Producers: *producers, Commands: commands, Accounts: 100, Seed: 1,
			Rate: rate, Journal: j})
		if err == nil {
			syncs, err = l.SyncStats()
		}
		return res, j, err
	}
	// The closed loops run in rounds, each a durable loop and the raw loop
	// right after it, so that the machine's drift over seconds (large on
	// a shared VM) hits both sides of a round alike; the figures are the
	// medians over the rounds, the ratio the median of the rounds' ratios.
	records := bench.StreamRecords(1 << 16)
	size := 0
	for _, r := range records {
		size += len(r)
	}
	size /= len(records)
	var durables, raws, ratios, blocks, blockRatios []float64
	batch := 0
	for r := 1; r <= *rounds; r++ {
		closed, j, err := measure(fmt.Sprint("closed", r), bench.EngineClosedLoop, *n, 0)
		if r == 1 {
			stop()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench durable:", err)
			return 1
		}
		batch = int(j.Records.Load() / max(j.Commits.Load(), 1))
		fmt.Printf("durable round %d: commands=%d elapsed_ms=%d cmds_per_sec=%.0f commits=%d avg_batch=%d cpu_cores=%.2f\n",
			r, closed.Commands, closed.Elapsed.Milliseconds(), closed.CmdsPerSec, j.Commits.Load(), batch, closed.CPUCores)
		printSyncs("closed", syncs)
		// The raw loop writes the log's own record bytes (real commands
		// of the same flow), so that compression and table sizes match.
		raw, err := bench.RawAppendRecords(bench.Sub(dir, fmt.Sprint("raw", r)), *n, max(batch, 1), records)
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench durable:", err)
			return 1
		}
		// The log stores each journal batch under one key (a block); a
		// raw loop that does the same is the floor for its own overhead.
		rawBlocks, err := bench.RawAppendBlocks(bench.Sub(dir, fmt.Sprint("raw-blocks", r)), *n, max(batch, 1), records)
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench durable:", err)
			return 1
		}
		fmt.Printf("raw round %d: record_bytes=%d batch=%d records_per_sec=%.0f one_key_per_batch_records_per_sec=%.0f ratio=%.2f blocks_ratio=%.2f\n",
			r, size, batch, raw, rawBlocks, closed.CmdsPerSec/raw, closed.CmdsPerSec/rawBlocks)
		durables, raws, blocks = append(durables, closed.CmdsPerSec), append(raws, raw), append(blocks, rawBlocks)
		ratios, blockRatios = append(ratios, closed.CmdsPerSec/raw), append(blockRatios, closed.CmdsPerSec/rawBlocks)
		// Each round's directories are removed, so that the disk holds
		// no more than one round's logs.
		for _, d := range []string{fmt.Sprint("closed", r), fmt.Sprint("raw", r), fmt.Sprint("raw-blocks", r)} {
			_ = os.RemoveAll(bench.Sub(dir, d))
		}
	}
	// For reference, once: zero-filled records (they compress to almost
	// nothing) and the 4096-record batches.
	rawZeros, err := bench.RawAppend(bench.Sub(dir, "raw-zeros"), *n, max(batch, 1), size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench durable:", err)
		return 1
	}
	raw4096, err := bench.RawAppendRecords(bench.Sub(dir, "raw4096"), *n, 4096, records)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench durable:", err)
		return 1
	}
	fmt.Printf("raw reference: zero_filled_records_per_sec=%.0f batch4096_records_per_sec=%.0f\n", rawZeros, raw4096)
	fmt.Printf("closed loops over %d rounds: durable_cmds_per_sec min=%.0f median=%.0f max=%.0f raw_records_per_sec min=%.0f median=%.0f max=%.0f ratio min=%.2f median=%.2f max=%.2f\n",
		*rounds, slices.Min(durables), median(durables), slices.Max(durables), slices.Min(raws), median(raws), slices.Max(raws),
		slices.Min(ratios), median(ratios), slices.Max(ratios))
	open, _, err := measure("open", bench.EngineOpenLoop, *openN, *rate)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench durable:", err)
		return 1
	}
	fmt.Printf("open: offered=%.0f achieved=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n",
		*rate, open.Achieved, us(open.P50), us(open.P99), us(open.P999), us(open.Max))
	// The disk's own fsyncs in the open loop, to tell its stalls from ours.
	printSyncs("open", syncs)
	fmt.Printf("durable_cmds_per_sec=%.0f raw_records_per_sec=%.0f ratio=%.2f p50_ack_us=%.1f p99_ack_us=%.1f raw_blocks_records_per_sec=%.0f blocks_ratio=%.2f\n",
		median(durables), median(raws), median(ratios), us(open.P50), us(open.P99), median(blocks), median(blockRatios))
	return 0
}

// printSyncs prints the disk's own fsyncs of a phase's log.
func printSyncs(phase string, s wal.SyncStats) {
	fmt.Printf("%s disk fsyncs: count=%d avg_us=%.1f p99_us=%.0f p999_us=%.0f max_us=%.0f (bucket bounds)\n",
		phase, s.Count, us(int64(s.Sum)/int64(max(s.Count, 1))), syncQuantile(s, 0.99), syncQuantile(s, 0.999), syncQuantile(s, 1))
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// runRecovery measures replay speed and cold start with and without a
// snapshot, and the matcher's pause to encode a snapshot.
func runRecovery(args []string) int {
	fs := flag.NewFlagSet("recovery", flag.ContinueOnError)
	n := fs.Int("n", 10_000_000, "commands in the log")
	dirFlag := fs.String("dir", "", "directory for the log (default: a temporary one, removed)")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the replay without a snapshot to `file`")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	dir, cleanup, err := scratch(*dirFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench recovery:", err)
		return 1
	}
	defer cleanup()
	t0 := time.Now()
	last, err := bench.WriteLog(dir, *n, 100)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench recovery:", err)
		return 1
	}
	fmt.Printf("log: commands=%d write_ms=%d\n", last, time.Since(t0).Milliseconds())

	recover := func() (*engine.State, wal.RecoveryStats, time.Duration, error) {
		runtime.GC()
		t := time.Now()
		l, err := bench.OpenLog(dir)
		if err != nil {
			return nil, wal.RecoveryStats{}, 0, err
		}
		defer l.Close()
		s, st, err := l.Recover()
		return s, st, time.Since(t), err
	}
	stop, err := startProfile(*cpuProf, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench recovery:", err)
		return 1
	}
	s, st, cold, err := recover()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench recovery:", err)
		return 1
	}
	replayRate := float64(st.Replayed) / st.ReplayTime.Seconds()
	fmt.Printf("no_snapshot: cold_start_ms=%d replayed=%d replay_cmds_per_sec=%.0f\n", cold.Milliseconds(), st.Replayed, replayRate)

	// Snapshot the recovered state through an engine, as istd does, and
	// start again. The matcher's pause is measured twice: the first
	// snapshot encodes into new memory, the next into the last's.
	resting := 0
	if mv, err := s.MarketView(1, 0); err == nil {
		resting = mv.Resting
	}
	size := len(s.AppendSnapshot(nil))
	var pauses [2]time.Duration
	l, err := bench.OpenLog(dir)
	if err == nil {
		var e *engine.Engine
		e, err = engine.Open(&engine.Options{Journal: l, State: s, Snapshots: l})
		for i := 0; i < len(pauses) && err == nil; i++ {
			if _, err = e.Snapshot(context.Background()); err == nil {
				_, pauses[i] = e.SnapshotStats()
			}
		}
		if e != nil {
			e.Close()
		}
		l.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench recovery:", err)
		return 1
	}
	_, st2, warm, err := recover()
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench recovery:", err)
		return 1
	}
	fmt.Printf("snapshot: bytes=%d resting_orders=%d first_pause_ms=%.1f pause_ms=%.1f (istbench snapshot: per million resting orders)\n",
		size, resting, float64(pauses[0])/1e6, float64(pauses[1])/1e6)
	fmt.Printf("with_snapshot: cold_start_ms=%d snapshot_load_ms=%d replayed=%d\n", warm.Milliseconds(), st2.SnapshotTime.Milliseconds(), st2.Replayed)
	fmt.Printf("commands=%d replay_cmds_per_sec=%.0f cold_start_ms=%d cold_start_snapshot_ms=%d snapshot_pause_ms=%.1f\n",
		last, replayRate, cold.Milliseconds(), warm.Milliseconds(), float64(pauses[1])/1e6)
	return 0
}

// startProfile starts a CPU profile into the file named prof and an
// execution trace into the file named tr, each if its name is not empty.
func startProfile(prof, tr string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
		stops = nil
	}
	if prof != "" {
		fh, err := os.Create(prof)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			fh.Close()
			return nil, err
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); fh.Close() })
	}
	if tr != "" {
		fh, err := os.Create(tr)
		if err == nil {
			if err = trace.Start(fh); err != nil {
				fh.Close()
			}
		}
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, func() { trace.Stop(); fh.Close() })
	}
	return stop, nil
}

// scratch returns dir, or a new temporary directory and its cleanup.
func scratch(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	return bench.TempDir("istbench-")
}

// runCopy measures copy-trading mirroring in the matcher.
func runCopy(args []string) int {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	followers := fs.Int("followers", 1000, "relations on the leader")
	rounds := fs.Int("rounds", 200, "leader round trips (one buy fill and one sell fill each)")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	res, err := bench.CopyBench(bench.CopyConfig{Followers: *followers, Rounds: *rounds})
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench copy:", err)
		return 1
	}
	fmt.Printf("leader_fills=%d mirrored_fills=%d elapsed_ms=%d baseline_ms=%d ns_per_leader_fill=%.0f\n",
		res.LeaderFills, res.MirroredFills, res.Elapsed.Milliseconds(), res.Baseline.Milliseconds(), res.NsPerFill)
	fmt.Printf("followers=%d ns_per_follower=%.0f us_per_fill=%.1f\n", res.Followers, res.NsPerFollower, res.NsPerFill/1000)
	return 0
}

// syncQuantile returns the upper bound, in µs, of the bucket of st that
// holds quantile q of its syncs (0 if there were none; the last bound if
// the quantile lies beyond it).
func syncQuantile(st wal.SyncStats, q float64) float64 {
	need := uint64(math.Ceil(q * float64(st.Count)))
	if need == 0 || len(st.Buckets) == 0 {
		return 0
	}
	for _, b := range st.Buckets {
		if b.Count >= need {
			return float64(b.Le) / 1e3
		}
	}
	return float64(st.Buckets[len(st.Buckets)-1].Le) / 1e3
}

// median returns the median of xs (the mean of the middle two for an even
// count); xs is not modified. It panics on an empty slice.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// runSnapshot measures the matcher's pause to snapshot a state with many
// resting orders, through an engine with the Pebble log.
func runSnapshot(args []string) int {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	orders := fs.Int("orders", 1_000_000, "resting orders")
	rounds := fs.Int("rounds", 3, "snapshots taken one after another")
	clientIDs := fs.Bool("client-ids", true, "give every order a client order id")
	dirFlag := fs.String("dir", "", "directory for the log (default: a temporary one, removed)")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *orders < 1 || *rounds < 2 {
		fmt.Fprintln(os.Stderr, "istbench snapshot: --orders must be at least 1 and --rounds at least 2")
		return 2
	}
	dir, cleanup, err := scratch(*dirFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench snapshot:", err)
		return 1
	}
	defer cleanup()
	res, err := bench.SnapshotPause(dir, *orders, *rounds, *clientIDs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench snapshot:", err)
		return 1
	}
	perMillion := func(d time.Duration) float64 { return float64(d) / 1e6 * 1e6 / float64(*orders) }
	for i, p := range res.Pauses {
		fmt.Printf("snapshot %d: pause_ms=%.1f\n", i+1, float64(p)/1e6)
	}
	steady := slices.Clone(res.Pauses[1:])
	slices.Sort(steady)
	med := steady[len(steady)/2]
	fmt.Printf("orders=%d client_ids=%t bytes=%d first_pause_ms=%.1f pause_ms=%.1f pause_ms_per_million_orders=%.1f restore_ms=%.0f\n",
		*orders, *clientIDs, res.Bytes, float64(res.Pauses[0])/1e6, float64(med)/1e6, perMillion(med), float64(res.Restore)/1e6)
	return 0
}
