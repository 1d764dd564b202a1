package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestPrometheusIntegration runs istd and a real Prometheus (the
// `prometheus` binary on PATH) with the real alert rules: Prometheus must
// scrape every series the alerts and the dashboard use, and fire IstdDown
// once istd is stopped. It takes about 1.5 minutes (IstdDown's `for` is 1m).
func TestPrometheusIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("slow integration test (about 1.5 minutes)")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not on PATH")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	rules, err := filepath.Abs(filepath.Join("prometheus", "alert_rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	start := time.Now()

	// 1. Build and start istd.
	istdBin := filepath.Join(tmp, "istd")
	build := exec.Command(goBin, "build", "-o", istdBin, "./cmd/istd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/istd: %v\n%s", err, out)
	}
	t.Logf("built istd in %v", time.Since(start).Round(time.Millisecond))

	istdPort := freePort(t)
	istdURL := "http://127.0.0.1:" + strconv.Itoa(istdPort)
	istd := startProcess(t, "istd", filepath.Join(tmp, "istd.log"), []string{"IST_LOG_LEVEL=warn"},
		istdBin, "--listen", "127.0.0.1:"+strconv.Itoa(istdPort),
		"--data-dir", filepath.Join(tmp, "data"), "--admin-token", "secret")
	step := time.Now()
	waitHTTP(t, istd, istdURL+"/readyz", 30*time.Second)
	t.Logf("istd ready in %v", time.Since(step).Round(time.Millisecond))

	// 2. Load: a market, two funded accounts, crossing orders.
	step = time.Now()
	call(t, "POST", istdURL+"/v1/admin/markets", "secret", map[string]any{
		"symbol": "BTC-USDT", "base": "BTC", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.0001",
		"min_notional": "1", "maker_fee_bps": 10, "taker_fee_bps": 20,
	}, http.StatusCreated, nil)
	type account struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	var alice, bob account
	call(t, "POST", istdURL+"/v1/accounts", "", map[string]any{"name": "alice"}, http.StatusCreated, &alice)
	call(t, "POST", istdURL+"/v1/accounts", "", map[string]any{"name": "bob"}, http.StatusCreated, &bob)
	call(t, "POST", istdURL+"/v1/admin/deposits", "secret", map[string]any{
		"account_id": alice.ID, "asset": "USDT", "amount": "100000", "ref": "d-alice"}, http.StatusCreated, nil)
	call(t, "POST", istdURL+"/v1/admin/deposits", "secret", map[string]any{
		"account_id": bob.ID, "asset": "BTC", "amount": "100", "ref": "d-bob"}, http.StatusCreated, nil)
	trades := 0
	for i := range 5 {
		price := strconv.Itoa(100 + i)
		call(t, "POST", istdURL+"/v1/orders", bob.Token, map[string]any{
			"market": "BTC-USDT", "side": "sell", "type": "limit", "price": price, "quantity": "1",
			"client_order_id": fmt.Sprintf("s-%d", i)}, http.StatusCreated, nil)
		var res struct {
			Fills []json.RawMessage `json:"fills"`
		}
		call(t, "POST", istdURL+"/v1/orders", alice.Token, map[string]any{
			"market": "BTC-USDT", "side": "buy", "type": "limit", "price": price, "quantity": "1",
			"client_order_id": fmt.Sprintf("b-%d", i)}, http.StatusCreated, &res)
		trades += len(res.Fills)
	}
	if trades == 0 {
		t.Fatal("crossing orders produced no fills")
	}
	t.Logf("load (%d taker fills) in %v", trades, time.Since(step).Round(time.Millisecond))

	// 3. Start Prometheus with the real alert rules.
	promPort := freePort(t)
	promURL := "http://127.0.0.1:" + strconv.Itoa(promPort)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: istd
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:%d"]
`, rules, istdPort)
	cfgPath := filepath.Join(tmp, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := startProcess(t, "prometheus", filepath.Join(tmp, "prometheus.log"), nil,
		promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(tmp, "tsdb"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(promPort))
	step = time.Now()
	waitHTTP(t, prom, promURL+"/-/ready", 30*time.Second)
	t.Logf("prometheus ready in %v", time.Since(step).Round(time.Millisecond))

	// 4. Every series is scraped with a sane value.
	step = time.Now()
	checks := []struct {
		expr string
		ok   func(float64) bool
		want string
	}{
		{`up{job="istd"}`, func(v float64) bool { return v == 1 }, "== 1"},
		{`sum(http_requests_total{job="istd"})`, positive, "> 0"},
		{`sum(orders_total{job="istd"})`, positive, "> 0"},
		{`sum(trades_total{job="istd"})`, positive, "> 0"},
		{`sum(trading_volume_total{job="istd"})`, positive, "> 0"},
		{`sum(user_registrations_total{job="istd"})`, func(v float64) bool { return v >= 2 }, ">= 2"},
		{`sum(engine_commands_total{job="istd"})`, positive, "> 0"},
		{`engine_queue_depth{job="istd"}`, func(v float64) bool { return v >= 0 }, ">= 0"},
		{`engine_queue_capacity{job="istd"}`, func(v float64) bool { return v == 16384 }, "== 16384"},
		// The queue alert's expression evaluates (its comparison matches
		// depth with capacity); it returns nothing on an idle istd.
		{`count(engine_queue_depth{job="istd"} <= on(job, instance) 0.75 * engine_queue_capacity{job="istd"})`, func(v float64) bool { return v == 1 }, "== 1"},
		{`wal_durable_sequence{job="istd"}`, positive, "> 0"},
		{`sum(wal_fsync_duration_seconds_count{job="istd"})`, positive, "> 0"},
		{`go_goroutines{job="istd"}`, positive, "> 0"},
		{`history_segments_bytes{job="istd"} + history_base_bytes{job="istd"}`, func(v float64) bool { return v >= 0 }, ">= 0"},
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range checks {
		for {
			vals, err := promQuery(promURL, c.expr)
			var bad string
			switch {
			case err != nil:
				bad = err.Error()
			case len(vals) == 0:
				bad = "no series"
			default:
				for _, v := range vals {
					if !c.ok(v) {
						bad = fmt.Sprintf("value %v, want %s", v, c.want)
					}
				}
			}
			if bad == "" {
				t.Logf("%s = %v", c.expr, vals)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s", c.expr, bad)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("all series scraped in %v", time.Since(step).Round(time.Millisecond))

	// 5. Stop istd: IstdDown fires after its `for` (1m).
	step = time.Now()
	istd.stop(t, 30*time.Second)
	t.Logf("istd stopped in %v", time.Since(step).Round(time.Millisecond))
	step = time.Now()
	deadline = time.Now().Add(120 * time.Second)
	last := ""
	for {
		state, err := alertState(promURL, "IstdDown")
		if err != nil {
			state = "error: " + err.Error()
		}
		if state != last {
			t.Logf("IstdDown: %q after %v", state, time.Since(step).Round(time.Millisecond))
			last = state
		}
		if state == "firing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IstdDown not firing within 120s of stopping istd (last state %q)", state)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("IstdDown firing %v after istd stopped", time.Since(step).Round(time.Millisecond))
	prom.stop(t, 30*time.Second)
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

func positive(v float64) bool { return v > 0 }

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// child is a started process; done is closed once it has exited.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid after done
}

// startProcess starts bin with args, its output going to logPath. Cleanup
// kills it if it still runs, and logs its output if the test failed.
func startProcess(t *testing.T, name, logPath string, env []string, bin string, args ...string) *child {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", name, tail(out, 4000))
		}
	})
	return c
}

// stop sends SIGTERM and waits for the process to exit.
func (c *child) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.done:
		t.Fatalf("%s had already exited: %v", c.name, c.err)
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", c.name, err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("%s exited with %v", c.name, c.err)
		}
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v of SIGTERM", c.name, timeout)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitHTTP polls u until it answers 200, failing if c exits or timeout passes.
func waitHTTP(t *testing.T, c *child, u string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-c.done:
			t.Fatalf("%s exited (%v) before %s answered", c.name, c.err, u)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within %v: %v", u, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call sends a JSON request and checks the status; out, if not nil,
// receives the decoded answer.
func call(t *testing.T, method, u, token string, body any, want int, out any) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, u, resp.StatusCode, want, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, u, err, got)
		}
	}
}

// promGet fetches a Prometheus API path and decodes its data field.
func promGet(u string, data any) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %s: %v", u, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", u, r.Status, r.Error)
	}
	return json.Unmarshal(r.Data, data)
}

// promQuery evaluates an instant query and returns the sample values.
func promQuery(promURL, expr string) ([]float64, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := promGet(promURL+"/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %q, want vector", data.ResultType)
	}
	var vals []float64
	for _, r := range data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("value %v is not a string", r.Value[1])
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// alertState returns the state of the alert name ("" if not active).
func alertState(promURL, name string) (string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := promGet(promURL+"/api/v1/alerts", &data); err != nil {
		return "", err
	}
	state := ""
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name && (state == "" || a.State == "firing") {
			state = a.State
		}
	}
	return state, nil
}
