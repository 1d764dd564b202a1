package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain runs the maker's main instead of the tests when the test
// binary is started as the maker's process (by startMaker), its flags on
// the command line.
func TestMain(m *testing.M) {
	if os.Getenv("MARKETMAKER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startMaker starts the maker as a process of its own with the given
// flags, writing its output to out; the test kills it at the latest when
// it ends.
func startMaker(t *testing.T, out *syncBuffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MARKETMAKER_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// apiSwitch is an armed dead man's switch as GET
// /v1/orders/cancel-all-after lists it.
type apiSwitch struct {
	Market    *string   `json:"market"`
	TimeoutMs int64     `json:"timeout_ms"`
	CancelAt  time.Time `json:"cancel_at"`
}

// switches returns the armed switches of c's account, as "MM-USDT 1500"
// (market and timeout), and the cancel_at of the first.
func switches(t *testing.T, c *client) (string, time.Time) {
	t.Helper()
	var res struct {
		Switches []apiSwitch `json:"switches"`
	}
	call(t, c, "GET", "/v1/orders/cancel-all-after", "", &res)
	var parts []string
	for _, s := range res.Switches {
		m := "all"
		if s.Market != nil {
			m = *s.Market
		}
		parts = append(parts, fmt.Sprintf("%s %d", m, s.TimeoutMs))
	}
	if len(res.Switches) == 0 {
		return "", time.Time{}
	}
	return strings.Join(parts, ", "), res.Switches[0].CancelAt
}

// metric returns the value of a counter of istd's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// orderIDs returns the ids of orders.
func orderIDs(orders []apiOrder) map[uint64]bool {
	ids := map[uint64]bool{}
	for _, o := range orders {
		ids[o.ID] = true
	}
	return ids
}

// testLadder is the ladder of testConfig alone in the book.
const testLadder = "99.9×1 99.8×1 99.7×1 | 100.1×1 100.2×1 100.3×1"

// While the maker runs, its switch for its market is armed with its
// timeout and renewed: past the first deadline its orders are still the
// same. After a normal exit the switch is disarmed.
func TestDeadmanSwitch(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	createMarket(t, base)
	_, acct := newAccount(t, base, "mm-switch", "MM:20", "USDT:5000")

	out := &syncBuffer{}
	cfg := testConfig(base)
	cfg.Token = acct.token
	cfg.CancelAfter = 1500 * time.Millisecond
	stop := runMaker(t, cfg, out)

	waitBook(t, pub, testLadder)
	got, first := switches(t, acct)
	if got != "MM-USDT 1500" {
		t.Fatalf("switches while the maker runs: %q; want MM-USDT 1500\n%s", got, out.String())
	}
	quotes := orderIDs(openOrders(t, acct))
	// Renewed past the first deadline: nothing fired.
	waitFor(t, "a renewal after the first deadline", func() (bool, string) {
		got, at := switches(t, acct)
		return time.Now().After(first) && at.After(first.Add(cfg.CancelAfter)), fmt.Sprintf("%s, cancel at %v (first %v)", got, at, first)
	})
	if now := orderIDs(openOrders(t, acct)); fmt.Sprint(now) != fmt.Sprint(quotes) {
		t.Errorf("the orders changed past the first deadline: %v, then %v\n%s", quotes, now, out.String())
	}
	if n := metric(t, base, "cancel_all_after_fired_total"); n != 0 {
		t.Errorf("%v switches fired", n)
	}

	s := stop()
	if got, _ := switches(t, acct); got != "" {
		t.Errorf("switches after the run: %q; want none", got)
	}
	for _, want := range []string{
		"dead man's switch armed: istd cancels the orders in MM-USDT unless renewed within 1.5s (renewed every 500ms)",
		"cancelled 6 open orders in MM-USDT\ndead man's switch disarmed\nsummary: orders placed 6, amended 0, cancelled 6",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if strings.Contains(s, "warning") {
		t.Errorf("warnings in the output")
	}
}

// A maker killed (SIGKILL: no exit of its own), without cancel on
// disconnect, leaves its orders on the book until its switch runs out;
// then istd cancels them.
func TestDeadmanSwitchAfterKill(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	createMarket(t, base)
	_, acct := newAccount(t, base, "mm-killed", "MM:20", "USDT:5000")

	const cancelAfter = 3 * time.Second
	out := &syncBuffer{}
	cmd := startMaker(t, out, "--addr", base, "--token", acct.token, "--market", "MM-USDT", "--max-inventory", "5",
		"--refresh", "50ms", "--cancel-after", cancelAfter.String(), "--cancel-on-disconnect=false")
	waitFor(t, "the ladder and the switch armed", func() (bool, string) {
		b := bookString(t, pub)
		return b == testLadder && strings.Contains(out.String(), "dead man's switch armed"), b + "\n" + out.String()
	})
	if got, _ := switches(t, acct); got != "MM-USDT 3000" {
		t.Fatalf("switches: %q; want MM-USDT 3000", got)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	t.Log(out.String())
	// The connections' end cancelled nothing: the switch was renewed at
	// most a third of its timeout ago.
	quotes := openOrders(t, acct)
	if len(quotes) != 6 {
		t.Fatalf("%d orders open just after the kill; want 6", len(quotes))
	}
	waitFor(t, "istd to cancel the orders", func() (bool, string) {
		open := openOrders(t, acct)
		return len(open) == 0, fmt.Sprintf("%d open", len(open))
	})
	if d := time.Since(killed); d > cancelAfter+5*time.Second {
		t.Errorf("the orders were cancelled %v after the kill; the switch's timeout is %v", d, cancelAfter)
	}
	waitBook(t, pub, "- | -")
	for _, o := range quotes {
		var got apiOrder
		call(t, acct, "GET", fmt.Sprintf("/v1/orders/%d", o.ID), "", &got)
		if got.Status != "cancelled" {
			t.Errorf("order %d: %s", o.ID, got.Status)
		}
	}
	if n, m := metric(t, base, "cancel_all_after_fired_total"), metric(t, base, "stream_cancel_on_disconnect_total"); n != 1 || m != 0 {
		t.Errorf("%v switches fired, %v streams cancelled on disconnect; want 1, 0", n, m)
	}
	if got, _ := switches(t, acct); got != "" {
		t.Errorf("switches after firing: %q", got)
	}
}

// A renewal that fails is printed once while it repeats, tried again,
// and its recovery printed.
func TestDeadmanRenewFailing(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":{"code":"internal","message":"boom"}}`)
			return
		}
		fmt.Fprintf(w, `{"market":"MM-USDT","timeout_ms":1500,"cancel_at":%q}`, time.Now().Add(1500*time.Millisecond).Format(time.RFC3339Nano))
	}))
	defer srv.Close()
	out := &syncBuffer{}
	d := newDeadman(newClient(srv.URL, "t"), "MM-USDT", 1500*time.Millisecond, out)
	if d.armed(time.Now()) {
		t.Fatal("armed before arm")
	}
	ctx, cancel := context.WithCancel(context.Background())
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		d.renew(ctx)
	}()
	waitFor(t, "the renewal to recover", func() (bool, string) {
		s := out.String()
		return strings.Contains(s, "dead man's switch renewed again"), s
	})
	cancel()
	<-renewed
	s := out.String()
	if n := strings.Count(s, "warning: renewing the dead man's switch: POST /v1/orders/cancel-all-after: 500 internal: boom; retrying"); n != 1 {
		t.Errorf("the failure printed %d times; want once:\n%s", n, s)
	}
	if !d.armed(time.Now()) {
		t.Error("not armed after a renewal")
	}
}

// While its switch is not surely armed the maker places nothing.
func TestMakerPlacesOnlyArmed(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	createMarket(t, base)
	_, acct := newAccount(t, base, "mm-gate", "MM:20", "USDT:5000")
	ctx := context.Background()
	mkt, err := loadMarket(ctx, acct, nil, "MM-USDT", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(base)
	spec, mid, err := cfg.spec(&mkt)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	m := newMaker(acct, mkt, spec, mid, out)
	m.deadman = newDeadman(acct, "MM-USDT", 2*time.Second, out)
	if err := m.start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.requote(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(openOrders(t, acct)); n != 0 || m.placed != 0 {
		t.Fatalf("%d orders placed with the switch not armed", n)
	}
	if s := out.String(); !strings.Contains(s, "warning: the dead man's switch was not renewed in time: placing nothing until it is") {
		t.Errorf("no warning:\n%s", s)
	}
	if _, err := m.deadman.arm(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.requote(ctx); err != nil {
		t.Fatal(err)
	}
	waitBook(t, pub, testLadder)
	if err := m.cancelAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.deadman.disarm(ctx); err != nil {
		t.Fatal(err)
	}
}
