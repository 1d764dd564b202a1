// Command istbench measures ist's components. Each subcommand prints
// informational lines and ends with one line of space-separated key=value
// pairs, meant for scripts.
//
//	istbench book [--ops FILE] [--gen N] [--seed S] [--seed-orders N]
//	              [--gen-out FILE] [--cpuprofile FILE] [--memprofile FILE]
//	istbench book --mem N [--levels L]
//	istbench book-mem [--n N] [--levels L]
//
// book replays an order stream in the lobgen format (--ops) or, without
// --ops, one made by ist's own generator (bench.GenerateBook; --gen ops).
// The #seed section is applied untimed; the #replay section is timed in
// one pass (ops_per_sec, ns_per_op, allocs_per_op), then replayed on a
// fresh book timing each operation (p50_ns, p99_ns, p999_ns; timer_ns is
// the cost of the timer itself, included in those). stalls_per_sec and
// stall_median_ns are the machine's floor for that tail (bench.Stalls):
// how often a thread reading the clock loses the CPU for over 1 µs, and
// for how long. Both passes check the end state against the stream's #end
// lines; a mismatch is printed to stderr and the exit status is 1.
//
// book --mem N (or book-mem) instead rests N non-crossing orders in a fresh
// book and reports the growth of the process's resident set per order
// (rss_bytes_per_order). Run it as its own process.
//
//	istbench soak --istd BIN [--duration D] [--sample S] [--restarts N] [--kills N]
//
// soak runs an istd binary on a fresh data directory under a steady mixed
// load and prints, every --sample, its memory, threads, open files,
// goroutines and data directory by part, restarting it (SIGINT, SIGKILL)
// mid-run and checking that balances and open orders come back; the last
// line is the growth figures (soak.go).
//
// Exit status: 0 on success, 1 on a failed check or error, 2 on a usage
// error (including an unknown subcommand).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/instant-social-trading/ist/bench"
	"github.com/instant-social-trading/ist/book"
)

// command is one subcommand.
type command struct {
	name    string
	args    string
	summary string
	run     func(args []string) int
}

// commands lists the subcommands.
var commands = []command{
	{"book", "[--ops FILE] [--gen N] [--mem N]", "replay an order stream on one order book", runBook},
	{"book-mem", "[--n N] [--levels L]", "resident memory per resting order (same as book --mem)", runBookMem},
	{"engine", "[--producers P] [--n N] [--rounds K] [--rate R]", "pipeline throughput (closed loop, median of K rounds) and latency (open loop), in-memory journal", runEngine},
	{"durable", "[--n N] [--rounds K] [--rate R] [--dir D]", "engine with the Pebble log next to a raw Pebble append loop (medians of K paired rounds)", runDurable},
	{"recovery", "[--n N] [--dir D]", "replay speed and cold start with and without a snapshot", runRecovery},
	{"snapshot", "[--orders N] [--rounds K] [--client-ids=false] [--dir D]", "the matcher's pause to snapshot a state with N resting orders (median of the snapshots after the first)", runSnapshot},
	{"http", "[--duration D] [--conns C] [--rate R]", "istd's POST /v1/orders (durable) over loopback next to a bare fasthttp handler", runHTTP},
	{"copy", "[--followers F] [--rounds R]", "copy-trading: mirroring one leader fill to F followers in the matcher", runCopy},
	{"soak", "--istd BIN [--duration D] [--sample S] [--restarts N] [--kills N]", "run an istd binary under a steady mixed load and sample its memory, goroutines, fds and disk for growth", runSoak},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: istbench <subcommand> [flags]")
	fmt.Fprintln(w, "\nsubcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n            %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'istbench <subcommand> -h' for its flags.")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "istbench: unknown subcommand %q\n\n", args[0])
	usage(os.Stderr)
	return 2
}

// parseFlags parses args with fs and rejects positional arguments. It
// returns an exit status, or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "istbench %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return 2
	}
	return -1
}

func runBook(args []string) int {
	fs := flag.NewFlagSet("book", flag.ContinueOnError)
	ops := fs.String("ops", "", "lobgen-format stream `file` to replay (default: generate one)")
	gen := fs.Int("gen", 1_000_000, "replay operations to generate when --ops is absent")
	seed := fs.Int64("seed", 1, "generator seed")
	seedOrders := fs.Int("seed-orders", 10_000, "generated seed orders")
	genOut := fs.String("gen-out", "", "also write the generated stream to `file`")
	mem := fs.Int("mem", 0, "instead of replaying, rest `N` orders and report RSS per order")
	levels := fs.Int("levels", 1000, "price levels per side for --mem")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the timed passes to `file`")
	memProf := fs.String("memprofile", "", "write an allocation profile (every allocation sampled) to `file`")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	if *memProf != "" {
		runtime.MemProfileRate = 1
		defer func() {
			if err := writeHeapProfile(*memProf); err != nil {
				fmt.Fprintln(os.Stderr, "istbench book:", err)
			}
		}()
	}
	if *cpuProf != "" {
		fh, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench book:", err)
			return 1
		}
		defer fh.Close()
		if err := pprof.StartCPUProfile(fh); err != nil {
			fmt.Fprintln(os.Stderr, "istbench book:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *mem > 0 {
		return memBench(*mem, *levels)
	}
	if *mem < 0 || *gen < 0 || *seedOrders < 0 {
		fmt.Fprintln(os.Stderr, "istbench book: negative count")
		return 2
	}

	var f *bench.LOBFile
	t0 := time.Now()
	source := *ops
	if *ops != "" {
		fh, err := os.Open(*ops)
		if err != nil {
			fmt.Fprintln(os.Stderr, "istbench book:", err)
			return 1
		}
		f, err = bench.ParseLOB(fh)
		fh.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "istbench book: %s: %v\n", *ops, err)
			return 1
		}
	} else {
		f = bench.GenerateBook(*seed, *seedOrders, *gen)
		source = fmt.Sprintf("generated(seed=%d)", *seed)
		if *genOut != "" {
			if err := writeFile(*genOut, f); err != nil {
				fmt.Fprintln(os.Stderr, "istbench book:", err)
				return 1
			}
		}
	}
	loadDur := time.Since(t0)
	return replay(source, f, loadDur)
}

func writeHeapProfile(name string) error {
	fh, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(fh, 0); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func writeFile(name string, f *bench.LOBFile) error {
	fh, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.WriteTo(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// pass is the outcome of replaying a stream once.
type pass struct {
	counter  bench.Counter
	errs     int
	firstErr string
	end      bench.End
}

func (p *pass) note(i int, op *bench.Op, err error) {
	p.errs++
	if p.firstErr == "" {
		p.firstErr = fmt.Sprintf("replay op %d (%s id=%d): %v", i, op.Kind, op.ID, err)
	}
}

// seedBook returns a fresh book sized for f with its seed section applied.
func seedBook(f *bench.LOBFile, p *pass, evs []book.Event) (*book.Book, []book.Event, error) {
	b, err := book.New(book.Rules{}, nil) // grows to its working size: an oversized id table costs cache misses
	if err != nil {
		return nil, evs, err
	}
	for i := range f.Seed {
		evs, err = bench.Apply(b, evs[:0], &f.Seed[i])
		p.counter.Add(evs)
		if err != nil {
			p.errs++
			if p.firstErr == "" {
				p.firstErr = fmt.Sprintf("seed op %d (id=%d): %v", i, f.Seed[i].ID, err)
			}
		}
	}
	return b, evs, nil
}

func replay(source string, f *bench.LOBFile, loadDur time.Duration) int {
	n := len(f.Replay)
	var kinds [4]int
	for i := range f.Replay {
		kinds[f.Replay[i].Kind]++
	}
	fmt.Printf("stream: %s seed_ops=%d replay_ops=%d limit=%d market=%d cancel=%d max_live<=%d load_ms=%d\n",
		source, len(f.Seed), n, kinds[bench.OpLimit], kinds[bench.OpMarket], kinds[bench.OpCancel],
		f.MaxLive(), loadDur.Milliseconds())
	if n == 0 {
		fmt.Fprintln(os.Stderr, "istbench book: empty #replay section")
		return 1
	}
	evs := make([]book.Event, 0, 4096)
	ok := true

	// Pass 1: throughput and allocations over the whole replay.
	var p1 pass
	b, evs, err := seedBook(f, &p1, evs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench book:", err)
		return 1
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := bench.Nanotime()
	for i := range f.Replay {
		op := &f.Replay[i]
		evs, err = bench.Apply(b, evs[:0], op)
		if err != nil {
			p1.note(i, op, err)
		}
		p1.counter.Add(evs)
	}
	elapsed := bench.Nanotime() - start
	runtime.ReadMemStats(&m1)
	p1.end = bench.Measure(b, &p1.counter)
	ok = check("pass 1", f, &p1) && ok
	nsPerOp := float64(elapsed) / float64(n)
	opsPerSec := float64(n) / (float64(elapsed) / 1e9)
	allocsPerOp := float64(m1.Mallocs-m0.Mallocs) / float64(n)
	fmt.Printf("pass1: elapsed_ms=%.1f ns_per_op=%.1f ops_per_sec=%.0f allocs=%d bytes=%d gc=%d\n",
		float64(elapsed)/1e6, nsPerOp, opsPerSec, m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc, m1.NumGC-m0.NumGC)
	b = nil

	// Pass 2: per-operation latency on a fresh book.
	var p2 pass
	lat := make([]int64, n)
	b, evs, err = seedBook(f, &p2, evs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench book:", err)
		return 1
	}
	runtime.GC()
	for i := range f.Replay {
		op := &f.Replay[i]
		t0 := bench.Nanotime()
		evs, err = bench.Apply(b, evs[:0], op)
		lat[i] = bench.Nanotime() - t0
		if err != nil {
			p2.note(i, op, err)
		}
		p2.counter.Add(evs)
	}
	p2.end = bench.Measure(b, &p2.counter)
	ok = check("pass 2", f, &p2) && ok
	if p1.end.String() != p2.end.String() {
		fmt.Fprintf(os.Stderr, "istbench book: passes disagree:\n  pass 1: %s\n  pass 2: %s\n", p1.end, p2.end)
		ok = false
	}
	sum := bench.Summarize(lat)
	timer := bench.TimerOverhead(200_000)
	fmt.Printf("latency_ns: min=%d p50=%d p90=%d p99=%d p999=%d p9999=%d max=%d mean=%.1f timer=%d\n",
		sum.Min, sum.P50, sum.P90, sum.P99, sum.P999, sum.P9999, sum.Max, sum.Mean, timer)
	// The machine's own floor for the tail: how often this thread loses the
	// CPU, and the share of operations that is expected to hit.
	stalls, stallMed := bench.Stalls(200*time.Millisecond, 1000)
	fmt.Printf("stalls (a loop reading the clock, gaps over 1 µs): per_sec=%.0f median_ns=%d expected_share_of_ops_hit=%.4f%%\n",
		stalls, stallMed, 100*stalls*(sum.Mean+float64(timer))/1e9)
	fmt.Printf("end: %s\n", p1.end)
	if len(f.End) == 0 {
		fmt.Println("end: stream has no #end expectations; not verified")
	} else if ok {
		fmt.Println("end: matches #end")
	}

	e := p1.end
	fmt.Printf("ops_per_sec=%.0f ns_per_op=%.1f allocs_per_op=%.4f p50_ns=%d p99_ns=%d p999_ns=%d timer_ns=%d trades=%d traded_qty=%d resting_orders=%d best_bid=%d best_ask=%d stalls_per_sec=%.0f stall_median_ns=%d\n",
		opsPerSec, nsPerOp, allocsPerOp, sum.P50, sum.P99, sum.P999, timer,
		e["trades"], e["traded_qty"], e["resting_orders"], e["best_bid"], e["best_ask"], stalls, stallMed)
	if !ok {
		return 1
	}
	return 0
}

// check reports a pass's rejected operations and end-state mismatches to
// stderr and says whether there were none.
func check(name string, f *bench.LOBFile, p *pass) bool {
	ok := true
	if p.errs > 0 {
		fmt.Fprintf(os.Stderr, "istbench book: %s: %d operations rejected; first: %s\n", name, p.errs, p.firstErr)
		ok = false
	}
	if p.counter.Rejects > 0 && p.errs == 0 {
		fmt.Fprintf(os.Stderr, "istbench book: %s: %d rejection events\n", name, p.counter.Rejects)
		ok = false
	}
	for _, m := range f.End.Compare(p.end) {
		fmt.Fprintf(os.Stderr, "istbench book: %s: end state mismatch: %s\n", name, m)
		ok = false
	}
	return ok
}

func runBookMem(args []string) int {
	fs := flag.NewFlagSet("book-mem", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "resting orders")
	levels := fs.Int("levels", 1000, "price levels per side")
	if st := parseFlags(fs, args); st >= 0 {
		return st
	}
	return memBench(*n, *levels)
}

// memBench rests n non-crossing orders (bids below 100,000, asks above,
// spread over levels prices a side) in a fresh book and reports the
// resident set growth per order.
func memBench(n, levels int) int {
	if n <= 0 || levels <= 0 {
		fmt.Fprintln(os.Stderr, "istbench book: --mem and --levels must be positive")
		return 2
	}
	evs := make([]book.Event, 0, 16)
	debug.FreeOSMemory()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	rss0, err := vmRSS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench book:", err)
		return 1
	}
	t0 := time.Now()
	b, err := book.New(book.Rules{}, &book.Options{Capacity: n})
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench book:", err)
		return 1
	}
	const mid = 100_000
	var o book.Order
	for i := range n {
		k := int64(i/2%levels) + 1
		o = book.Order{ID: uint64(i + 1), Owner: uint64(i + 1), Side: book.Buy, Price: mid - k, Qty: int64(1 + i%100)}
		if i%2 == 1 {
			o.Side, o.Price = book.Sell, mid+k
		}
		if evs, err = b.Place(evs[:0], &o); err != nil {
			fmt.Fprintf(os.Stderr, "istbench book: order %d: %v\n", i+1, err)
			return 1
		}
	}
	build := time.Since(t0)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m1)
	rss1, err := vmRSS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "istbench book:", err)
		return 1
	}
	if b.Len() != n {
		fmt.Fprintf(os.Stderr, "istbench book: %d orders resting, want %d\n", b.Len(), n)
		return 1
	}
	runtime.KeepAlive(b)
	rssDelta := rss1 - rss0
	perOrder := float64(rssDelta) / float64(n)
	heapPer := float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / float64(n)
	verdict := "ok"
	if perOrder > 128 {
		verdict = "over"
	}
	fmt.Printf("mem: orders=%d levels_per_side=%d build_ms=%d rss_before=%d rss_after=%d heap_inuse_delta=%d target<=128:%s\n",
		n, levels, build.Milliseconds(), rss0, rss1, int64(m1.HeapInuse)-int64(m0.HeapInuse), verdict)
	fmt.Printf("orders=%d rss_delta_bytes=%d rss_bytes_per_order=%.1f heap_bytes_per_order=%.1f\n",
		n, rssDelta, perOrder, heapPer)
	return 0
}

// vmRSS returns the process's resident set size in bytes, from
// /proc/self/status (Linux only).
func vmRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("reading RSS: no VmRSS line in /proc/self/status")
}
