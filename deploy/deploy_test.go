package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// istdEnv are the environment variables istd reads: every quoted IST_
// name in cmd/istd's source (its tests left out).
var istdEnv = func() map[string]bool {
	files, _ := filepath.Glob("../cmd/istd/*.go")
	env := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		for _, m := range regexp.MustCompile(`"(IST_[A-Z0-9_]+)"`).FindAllSubmatch(b, -1) {
			env[string(m[1])] = true
		}
	}
	return env
}()

// TestDocsEnvVars checks the environment variables of README.md and
// docs/operations.md against istd: each one they name is read by istd
// (IST_HISTORY_* stands for several), and each one istd reads is named.
func TestDocsEnvVars(t *testing.T) {
	if len(istdEnv) < 5 || !istdEnv["IST_ADMIN_TOKEN"] {
		t.Fatalf("environment variables read from cmd/istd: %v", istdEnv)
	}
	named := map[string]bool{}
	for _, f := range []string{"../README.md", "../docs/operations.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`IST_[A-Z0-9_]+\*?`).FindAll(b, -1) {
			v := string(m)
			if prefix, ok := strings.CutSuffix(v, "*"); ok {
				n := 0
				for k := range istdEnv {
					if strings.HasPrefix(k, prefix) {
						named[k] = true
						n++
					}
				}
				if n == 0 {
					t.Errorf("%s names %s: istd reads no such variable", f, v)
				}
				continue
			}
			named[v] = true
			if !istdEnv[v] {
				t.Errorf("%s names %s: istd does not read it", f, v)
			}
		}
	}
	var missing []string
	for k := range istdEnv {
		if !named[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("istd reads %v, named in neither README.md nor docs/operations.md", missing)
	}
}

const istdPort = 8080

// yamlFiles returns every YAML file under the package directory.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// decodeAll decodes every document of the YAML file path.
func decodeAll(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// get walks m along the keys (map keys or list indexes as ints).
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestYAMLParses(t *testing.T) {
	files := yamlFiles(t)
	if len(files) < 8 {
		t.Fatalf("found only %d YAML files: %v", len(files), files)
	}
	for _, f := range files {
		if docs := decodeAll(t, f); len(docs) == 0 {
			t.Errorf("%s: no documents", f)
		}
	}
}

func TestDashboardJSON(t *testing.T) {
	data, err := os.ReadFile("grafana/dashboards/ist.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var exprs strings.Builder
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	for _, m := range []string{"http_requests_total", "http_request_duration_seconds_bucket", "orders_total",
		"trades_total", "engine_queue_depth", "wal_durable_sequence", "wal_disk_fsync_duration_seconds_bucket", "go_goroutines", "copy_mirrored_fills_total", "copy_skipped_total",
		"history_base_bytes", "history_segments_bytes", "engine_snapshot_pause_seconds", "engine_snapshot_sequence", "engine_snapshot_failures_total"} {
		if !strings.Contains(exprs.String(), m) {
			t.Errorf("dashboard has no panel on %s", m)
		}
	}
}

func TestCompose(t *testing.T) {
	docs := decodeAll(t, "docker-compose.yml")
	c := docs[0]
	services, _ := c["services"].(map[string]any)
	for _, name := range []string{"istd", "prometheus", "grafana"} {
		if services[name] == nil {
			t.Errorf("compose: no service %s", name)
		}
	}
	// Every bind mount, env file and build file exists under deploy/.
	for name, s := range services {
		for _, v := range asList(get(s, "volumes")) {
			src, _, _ := strings.Cut(v.(string), ":")
			if strings.HasPrefix(src, ".") {
				checkUnderDeploy(t, name, src)
			}
		}
		for _, f := range asList(get(s, "env_file")) {
			f := f.(string)
			if f == ".env" { // the operator's copy of .env.example
				f = ".env.example"
			}
			checkUnderDeploy(t, name, f)
		}
		if b := get(s, "build"); b != nil {
			ctx, _ := get(b, "context").(string)
			df, _ := get(b, "dockerfile").(string)
			if _, err := os.Stat(filepath.Join(ctx, df)); err != nil {
				t.Errorf("compose %s: build file: %v", name, err)
			}
		}
	}
	istd := services["istd"]
	for k, v := range asMap(get(istd, "environment")) {
		if strings.HasPrefix(k, "IST_") && !istdEnv[k] {
			t.Errorf("compose istd: istd does not read %s", k)
		}
		if k == "IST_LISTEN" && v != "0.0.0.0:8080" {
			t.Errorf("compose istd: IST_LISTEN = %v", v)
		}
		if k == "IST_ADMIN_TOKEN" {
			t.Errorf("compose istd: admin token hard-coded; use the env file")
		}
	}
	ports := asList(get(istd, "ports"))
	if len(ports) != 1 || !strings.HasSuffix(ports[0].(string), ":8080") {
		t.Errorf("compose istd: ports %v, want one mapping to container port 8080", ports)
	}
	// The env file only sets variables istd or Grafana read.
	env, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(k, "IST_") && !istdEnv[k] {
			t.Errorf(".env.example: istd does not read %s", k)
		}
	}
	// The Dockerfile agrees.
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IST_LISTEN=0.0.0.0:8080", "EXPOSE 8080", "/healthz", "CGO_ENABLED=0", "USER "} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestDockerignore: the Dockerfile's build stage copies the whole
// context (COPY . .), so .dockerignore keeps out deploy/.env (the admin
// token, Grafana's password) and ./data, the data directory `go run
// ./cmd/istd` makes in the repository, locked by a running istd.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{"deploy/.env", "data", ".git"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(df, []byte("COPY go.mod go.sum ./")) || !bytes.Contains(df, []byte("./cmd/istd")) {
		t.Errorf("Dockerfile: the build no longer copies go.mod and builds ./cmd/istd: check .dockerignore against it")
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func checkUnderDeploy(t *testing.T, service, p string) {
	t.Helper()
	clean := filepath.Clean(p)
	if strings.HasPrefix(clean, "..") {
		t.Errorf("compose %s: %s is outside deploy/", service, p)
		return
	}
	if _, err := os.Stat(clean); err != nil {
		t.Errorf("compose %s: %v", service, err)
	}
}

func TestKubernetes(t *testing.T) {
	kinds := map[string]map[string]any{}
	for _, f := range yamlFiles(t) {
		if !strings.HasPrefix(f, "k8s"+string(filepath.Separator)) {
			continue
		}
		for _, d := range decodeAll(t, f) {
			kind, _ := d["kind"].(string)
			if kinds[kind] == nil {
				kinds[kind] = d
			}
		}
	}
	for _, k := range []string{"StatefulSet", "Service", "PodDisruptionBudget", "Secret"} {
		if kinds[k] == nil {
			t.Errorf("k8s: no %s", k)
		}
	}
	ss := kinds["StatefulSet"]
	if ss == nil {
		return
	}
	if r := get(ss, "spec", "replicas"); r != 1 {
		t.Errorf("StatefulSet replicas = %v, want 1 (one writer per data dir)", r)
	}
	if get(ss, "spec", "volumeClaimTemplates", 0) == nil {
		t.Error("StatefulSet: no volumeClaimTemplates")
	}
	ann := asMap(get(ss, "spec", "template", "metadata", "annotations"))
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8080" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("StatefulSet: scrape annotations %v", ann)
	}
	c := get(ss, "spec", "template", "spec", "containers", 0)
	if get(c, "ports", 0, "containerPort") != istdPort {
		t.Errorf("container port = %v", get(c, "ports", 0, "containerPort"))
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
		if got := get(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
		if got := get(c, probe, "httpGet", "port"); got != istdPort && got != "http" {
			t.Errorf("%s port = %v, want %d", probe, got, istdPort)
		}
	}
	var mountsData bool
	for _, m := range asList(get(c, "volumeMounts")) {
		mountsData = mountsData || get(m, "mountPath") == "/data"
	}
	if !mountsData {
		t.Error("container does not mount /data")
	}
	if get(c, "resources", "requests") == nil || get(c, "resources", "limits") == nil {
		t.Error("container has no resource requests or limits")
	}
	env := map[string]any{}
	for _, e := range asList(get(c, "env")) {
		name, _ := get(e, "name").(string)
		if !istdEnv[name] {
			t.Errorf("container env %s: istd does not read it", name)
		}
		env[name] = e
	}
	if get(env["IST_LISTEN"], "value") != "0.0.0.0:8080" {
		t.Errorf("IST_LISTEN = %v", get(env["IST_LISTEN"], "value"))
	}
	if get(env["IST_ADMIN_TOKEN"], "valueFrom", "secretKeyRef", "name") != get(kinds["Secret"], "metadata", "name") {
		t.Error("IST_ADMIN_TOKEN does not come from the example Secret")
	}
	if get(env["IST_ADMIN_TOKEN"], "value") != nil {
		t.Error("IST_ADMIN_TOKEN hard-coded")
	}
	svc := kinds["Service"]
	if tp := get(svc, "spec", "ports", 0, "targetPort"); tp != "http" && tp != istdPort {
		t.Errorf("Service targetPort = %v", tp)
	}
}

// TestAlertRules checks that every alert has a severity, a summary and a
// description, a promtool test that fires it, and a runbook section.
func TestAlertRules(t *testing.T) {
	rules := decodeAll(t, "prometheus/alert_rules.yml")[0]
	tests := decodeAll(t, "prometheus/alert_rules_test.yml")[0]
	tested := map[string]bool{}
	for _, tc := range asList(tests["tests"]) {
		for _, a := range asList(get(tc, "alert_rule_test")) {
			if len(asList(get(a, "exp_alerts"))) > 0 {
				tested[get(a, "alertname").(string)] = true
			}
		}
	}
	var n int
	for _, g := range asList(rules["groups"]) {
		for _, r := range asList(get(g, "rules")) {
			name, ok := get(r, "alert").(string)
			if !ok {
				continue
			}
			n++
			for _, k := range []string{"summary", "description"} {
				if s, _ := get(r, "annotations", k).(string); strings.TrimSpace(s) == "" {
					t.Errorf("alert %s: no %s annotation", name, k)
				}
			}
			if get(r, "labels", "severity") == nil {
				t.Errorf("alert %s: no severity label", name)
			}
			if !tested[name] {
				t.Errorf("alert %s: no promtool test expecting it to fire", name)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d alerts", n)
	}
	// The runbook explains every alert.
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range tested {
		if !regexp.MustCompile(`(?m)^#+ ` + name + `\b`).Match(doc) {
			t.Errorf("docs/operations.md: no section for %s", name)
		}
	}
}

func TestPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alert_rules.yml"},
		{"test", "rules", "alert_rules_test.yml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Errorf("promtool %s: %v", strings.Join(args, " "), err)
		}
	}
}
