package k8scheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifestDir holds the manifests under test.
const manifestDir = "../k8s"

// secretFile is the file that defines the Secret the pods reference.
const secretFile = "secret.example.yaml"

// The HTTP paths istd serves for its probes (cmd/istd).
const (
	readyPath  = "/readyz"
	healthPath = "/healthz"
)

// kinds maps "apiVersion kind" to a constructor of the typed object a
// document of that kind decodes into. A kind missing here fails the test:
// add it (and its checks) when a new kind of manifest is added.
var kinds = map[string]func() any{
	"apps/v1 StatefulSet":           func() any { return new(appsv1.StatefulSet) },
	"v1 Service":                    func() any { return new(corev1.Service) },
	"v1 Secret":                     func() any { return new(corev1.Secret) },
	"policy/v1 PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
}

// manifests are the decoded documents, by kind; where names each object's
// origin ("file.yaml doc N Kind/name") for error messages.
type manifests struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	secrets      []*corev1.Secret
	pdbs         []*policyv1.PodDisruptionBudget
	where        map[any]string
	secretFiles  map[string]string // Secret name -> file it is defined in
}

// loadFiles reads every *.yaml file in dir, by base name.
func loadFiles(dir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.yaml files in %s", dir)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = data
	}
	return files, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs splits a multi-document YAML file on its `---` lines.
func splitDocs(data []byte) []string {
	return docSeparator.Split(string(data), -1)
}

// decodeDoc strictly decodes one YAML document into the typed object of its
// apiVersion and kind. It returns nil, nil for an empty (or comment-only)
// document.
func decodeDoc(doc string) (any, error) {
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, err
	}
	if s := string(bytes.TrimSpace(j)); s == "null" || s == "" {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return nil, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return nil, fmt.Errorf("missing apiVersion or kind (apiVersion %q, kind %q)", tm.APIVersion, tm.Kind)
	}
	newObj, ok := kinds[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q apiVersion %q: add it to kinds in k8scheck_test.go", tm.Kind, tm.APIVersion)
	}
	// Decode as the API server does: YAMLToJSONStrict rejects duplicate
	// keys, and sigs.k8s.io/json's UnmarshalStrict (Kubernetes' fork of
	// encoding/json) matches field names case-sensitively and reports every
	// field the typed object does not have, with its path, at every level.
	// (encoding/json's DisallowUnknownFields would accept "clusterIp" for
	// "clusterIP".)
	j, err = yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	obj := newObj()
	strictErrs, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, errors.Join(strictErrs...))
	}
	return obj, nil
}

// parse decodes every document of every file.
func parse(files map[string][]byte) (*manifests, error) {
	m := &manifests{where: map[any]string{}, secretFiles: map[string]string{}}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		for i, doc := range splitDocs(files[name]) {
			where := fmt.Sprintf("%s doc %d", name, i+1)
			obj, err := decodeDoc(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			if obj == nil {
				continue
			}
			var meta metav1.ObjectMeta
			switch o := obj.(type) {
			case *appsv1.StatefulSet:
				m.statefulSets = append(m.statefulSets, o)
				meta = o.ObjectMeta
				where += " StatefulSet/" + o.Name
			case *corev1.Service:
				m.services = append(m.services, o)
				meta = o.ObjectMeta
				where += " Service/" + o.Name
			case *corev1.Secret:
				m.secrets = append(m.secrets, o)
				meta = o.ObjectMeta
				where += " Secret/" + o.Name
				m.secretFiles[o.Name] = name
			case *policyv1.PodDisruptionBudget:
				m.pdbs = append(m.pdbs, o)
				meta = o.ObjectMeta
				where += " PodDisruptionBudget/" + o.Name
			default:
				errs = append(errs, fmt.Errorf("%s: kind %T has no checks", where, obj))
				continue
			}
			if meta.Name == "" {
				errs = append(errs, fmt.Errorf("%s: metadata.name is empty", where))
			}
			m.where[obj] = where
		}
	}
	return m, errors.Join(errs...)
}

// validate runs every cross-check on the decoded manifests.
func validate(m *manifests) error {
	var errs []error
	add := func(obj any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", m.where[obj], fmt.Sprintf(format, args...)))
	}
	if len(m.statefulSets) == 0 {
		errs = append(errs, errors.New("no StatefulSet in the manifests"))
	}
	if len(m.pdbs) == 0 {
		errs = append(errs, errors.New("no PodDisruptionBudget in the manifests"))
	}
	services := map[string]*corev1.Service{}
	for _, svc := range m.services {
		services[svc.Name] = svc
	}
	secrets := map[string]*corev1.Secret{}
	for _, s := range m.secrets {
		secrets[s.Name] = s
	}

	for _, sts := range m.statefulSets {
		checkStatefulSet(sts, services, secrets, m.secretFiles, func(f string, a ...any) { add(sts, f, a...) })
	}
	for _, svc := range m.services {
		checkService(svc, m.statefulSets, func(f string, a ...any) { add(svc, f, a...) })
	}
	for _, pdb := range m.pdbs {
		checkPDB(pdb, m.statefulSets, func(f string, a ...any) { add(pdb, f, a...) })
	}
	return errors.Join(errs...)
}

// checkStatefulSet checks the StatefulSet and its pod template.
func checkStatefulSet(sts *appsv1.StatefulSet, services map[string]*corev1.Service, secrets map[string]*corev1.Secret, secretFiles map[string]string, fail func(string, ...any)) {
	// Pebble locks the data directory: exactly one writer per directory.
	if sts.Spec.Replicas == nil {
		fail("spec.replicas is unset (defaults to 1, but must be explicit: one writer per data directory)")
	} else if *sts.Spec.Replicas != 1 {
		fail("spec.replicas is %d, want 1 (one writer per data directory)", *sts.Spec.Replicas)
	}
	if sts.Spec.ServiceName == "" {
		fail("spec.serviceName is empty")
	} else if _, ok := services[sts.Spec.ServiceName]; !ok {
		fail("spec.serviceName %q names no Service defined in %s", sts.Spec.ServiceName, manifestDir)
	}
	podLabels := labels.Set(sts.Spec.Template.Labels)
	if sts.Spec.Selector == nil {
		fail("spec.selector is unset")
	} else if sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector); err != nil {
		fail("spec.selector: %v", err)
	} else if sel.Empty() || !sel.Matches(podLabels) {
		fail("spec.selector %s does not match the pod template labels %v", sel, podLabels)
	}

	pod := sts.Spec.Template.Spec
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		volumes[pvc.Name] = true
	}
	if len(pod.Containers) == 0 {
		fail("pod template has no containers")
	}
	containers := append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...)
	for _, c := range containers {
		cfail := func(f string, a ...any) { fail("container %q: %s", c.Name, fmt.Sprintf(f, a...)) }
		checkProbe(c, "readinessProbe", c.ReadinessProbe, readyPath, cfail)
		checkProbe(c, "livenessProbe", c.LivenessProbe, healthPath, cfail)
		checkProbe(c, "startupProbe", c.StartupProbe, "", cfail)
		for _, vm := range c.VolumeMounts {
			if !volumes[vm.Name] {
				cfail("volumeMount %q (%s) names no volume or volumeClaimTemplate", vm.Name, vm.MountPath)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil {
				s, ok := secrets[ref.Name]
				switch {
				case !ok:
					cfail("env %s: secretKeyRef names Secret %q, which no manifest defines (want the one in %s)", e.Name, ref.Name, secretFile)
				case secretFiles[ref.Name] != secretFile:
					cfail("env %s: secretKeyRef names Secret %q, defined in %s, not %s", e.Name, ref.Name, secretFiles[ref.Name], secretFile)
				case !secretHasKey(s, ref.Key):
					cfail("env %s: secretKeyRef key %q is not in Secret %q (keys %v)", e.Name, ref.Key, ref.Name, secretKeys(s))
				}
			}
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
				cfail("env %s: configMapKeyRef %q: no ConfigMap is defined in %s", e.Name, ref.Name, manifestDir)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				if _, ok := secrets[ef.SecretRef.Name]; !ok {
					cfail("envFrom secretRef %q names no Secret defined in %s", ef.SecretRef.Name, manifestDir)
				}
			}
			if ef.ConfigMapRef != nil {
				cfail("envFrom configMapRef %q: no ConfigMap is defined in %s", ef.ConfigMapRef.Name, manifestDir)
			}
		}
		names := make([]string, 0, len(c.Resources.Requests))
		for name := range c.Resources.Requests {
			names = append(names, string(name))
		}
		sort.Strings(names)
		for _, name := range names {
			req := c.Resources.Requests[corev1.ResourceName(name)]
			if lim, ok := c.Resources.Limits[corev1.ResourceName(name)]; ok && req.Cmp(lim) > 0 {
				cfail("resources: %s request %s exceeds its limit %s", name, req.String(), lim.String())
			}
		}
	}
}

// checkProbe checks that probe (if wantPath is set, it must exist) targets a
// port the container declares and, for an HTTP probe with wantPath set,
// that path.
func checkProbe(c corev1.Container, field string, p *corev1.Probe, wantPath string, fail func(string, ...any)) {
	if p == nil {
		if wantPath != "" {
			fail("%s is missing (want an httpGet probe on %s)", field, wantPath)
		}
		return
	}
	switch {
	case p.HTTPGet != nil:
		if !containerHasPort(c, p.HTTPGet.Port) {
			fail("%s httpGet port %s is not a port of the container (ports %v)", field, p.HTTPGet.Port.String(), portList(c))
		}
		if wantPath != "" && p.HTTPGet.Path != wantPath {
			fail("%s httpGet path is %q, want %q", field, p.HTTPGet.Path, wantPath)
		}
		if wantPath == "" && p.HTTPGet.Path != healthPath && p.HTTPGet.Path != readyPath {
			fail("%s httpGet path %q is not one istd serves (%s, %s)", field, p.HTTPGet.Path, healthPath, readyPath)
		}
	case p.TCPSocket != nil:
		if wantPath != "" {
			fail("%s is a tcpSocket probe, want an httpGet probe on %s", field, wantPath)
		}
		if !containerHasPort(c, p.TCPSocket.Port) {
			fail("%s tcpSocket port %s is not a port of the container (ports %v)", field, p.TCPSocket.Port.String(), portList(c))
		}
	default:
		fail("%s has no httpGet or tcpSocket handler", field)
	}
}

// containerHasPort reports whether port (a number or a name) is one of the
// container's ports.
func containerHasPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if port.Type == intstr.String && port.StrVal != "" && cp.Name == port.StrVal {
			return true
		}
		if port.Type == intstr.Int && cp.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

func portList(c corev1.Container) []string {
	var ports []string
	for _, cp := range c.Ports {
		ports = append(ports, fmt.Sprintf("%s=%d", cp.Name, cp.ContainerPort))
	}
	return ports
}

func secretHasKey(s *corev1.Secret, key string) bool {
	if _, ok := s.Data[key]; ok {
		return true
	}
	_, ok := s.StringData[key]
	return ok
}

func secretKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	for k := range s.StringData {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkService checks that the Service selects the pods of a StatefulSet
// and that every targetPort is a port of one of their containers.
func checkService(svc *corev1.Service, sets []*appsv1.StatefulSet, fail func(string, ...any)) {
	if len(svc.Spec.Selector) == 0 {
		fail("spec.selector is empty: the Service would route to no istd pod")
		return
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var selected []*appsv1.StatefulSet
	for _, sts := range sets {
		if sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
			selected = append(selected, sts)
		}
	}
	if len(selected) == 0 {
		fail("spec.selector %s matches the pod labels of no StatefulSet", sel)
		return
	}
	if len(svc.Spec.Ports) == 0 {
		fail("spec.ports is empty")
	}
	for _, sp := range svc.Spec.Ports {
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port) // targetPort defaults to port
		}
		for _, sts := range selected {
			found := false
			for _, c := range sts.Spec.Template.Spec.Containers {
				if containerHasPort(c, target) {
					found = true
				}
			}
			if !found {
				fail("port %q: targetPort %s is not a container port of StatefulSet %q", sp.Name, target.String(), sts.Name)
			}
		}
	}
}

// checkPDB checks that the PodDisruptionBudget selects a StatefulSet's pods.
func checkPDB(pdb *policyv1.PodDisruptionBudget, sets []*appsv1.StatefulSet, fail func(string, ...any)) {
	if pdb.Spec.Selector == nil {
		fail("spec.selector is unset: the budget covers no pod")
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		fail("spec.selector: %v", err)
		return
	}
	for _, sts := range sets {
		if !sel.Empty() && sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
			return
		}
	}
	fail("spec.selector %s matches the pod labels of no StatefulSet", sel)
}

// check decodes and validates files as TestManifests does.
func check(files map[string][]byte) error {
	m, err := parse(files)
	if err != nil {
		return err
	}
	return validate(m)
}

func TestManifests(t *testing.T) {
	files, err := loadFiles(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parse(files)
	if err != nil {
		t.Fatalf("decoding the manifests:\n%v", err)
	}
	for _, want := range []struct {
		kind string
		n    int
	}{
		{"StatefulSet", len(m.statefulSets)},
		{"Service", len(m.services)},
		{"Secret", len(m.secrets)},
		{"PodDisruptionBudget", len(m.pdbs)},
	} {
		if want.n == 0 {
			t.Errorf("no %s decoded from %s", want.kind, manifestDir)
		}
	}
	if err := validate(m); err != nil {
		t.Errorf("manifest checks failed:\n%v", err)
	}
}

// TestChecksFail feeds mutated copies of the manifests to the same checks
// and expects each mutation to be caught, with a message naming it.
func TestChecksFail(t *testing.T) {
	orig, err := loadFiles(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	const (
		sts = "statefulset.yaml"
		svc = "service.yaml"
		pdb = "pdb.yaml"
		sec = secretFile
	)
	cases := []struct {
		name     string
		file     string
		old, new string
		wantErr  string
	}{
		{"unknown top-level spec field", sts, "  serviceName: istd-headless\n", "  serviceName: istd-headless\n  serviceNmae: istd\n", `unknown field "spec.serviceNmae"`},
		{"misspelled container port field", sts, "containerPort: 8080", "containerPrt: 8080", `unknown field "spec.template.spec.containers[0].ports[0].containerPrt"`},
		{"unknown Service field", svc, "  clusterIP: None\n", "  clusterIp: None\n", `unknown field "spec.clusterIp"`},
		{"duplicate key", pdb, "  maxUnavailable: 0\n", "  maxUnavailable: 0\n  maxUnavailable: 1\n", "maxUnavailable"},
		{"wrong type", sts, "replicas: 1", "replicas: one", "replicas"},
		{"unknown kind", pdb, "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", `unknown kind "PodDisruptionBudgets"`},
		{"old apiVersion", pdb, "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", `apiVersion "policy/v1beta1"`},
		{"two replicas", sts, "replicas: 1", "replicas: 2", "spec.replicas is 2, want 1"},
		{"serviceName undefined", sts, "serviceName: istd-headless", "serviceName: istd-hl", `spec.serviceName "istd-hl" names no Service`},
		{"Service targetPort name", svc, "targetPort: http", "targetPort: web", "targetPort web is not a container port"},
		{"Service targetPort number", svc, "targetPort: http", "targetPort: 9090", "targetPort 9090 is not a container port"},
		{"container port renamed", sts, "- name: http\n              containerPort: 8080", "- name: web\n              containerPort: 8080", "targetPort http is not a container port"},
		{"readiness probe port", sts, "path: /readyz\n              port: 8080", "path: /readyz\n              port: 8081", "readinessProbe httpGet port 8081 is not a port of the container"},
		{"readiness probe path", sts, "path: /readyz", "path: /healthz", `readinessProbe httpGet path is "/healthz", want "/readyz"`},
		{"liveness probe path", sts, "livenessProbe:\n            httpGet:\n              path: /healthz", "livenessProbe:\n            httpGet:\n              path: /readyz", `livenessProbe httpGet path is "/readyz", want "/healthz"`},
		{"unknown probe field", sts, "timeoutSeconds: 3", "timeoutSeconds: 3\n            terminationGracePeriodSeconds: 60\n            initialDelay: 5", `unknown field`},
		{"startup probe port name", sts, "path: /healthz\n              port: 8080\n            periodSeconds: 5", "path: /healthz\n              port: admin\n            periodSeconds: 5", "startupProbe httpGet port admin is not a port of the container"},
		{"volumeMount without volume", sts, "- name: data\n              mountPath: /data", "- name: state\n              mountPath: /data", `volumeMount "state" (/data) names no volume`},
		{"secretKeyRef key", sts, "key: IST_ADMIN_TOKEN", "key: ADMIN_TOKEN", `secretKeyRef key "ADMIN_TOKEN" is not in Secret "istd-admin"`},
		{"secretKeyRef name", sts, "name: istd-admin", "name: istd-token", `secretKeyRef names Secret "istd-token", which no manifest defines`},
		{"Secret key renamed", sec, "  IST_ADMIN_TOKEN: change-me", "  ADMIN_TOKEN: change-me", `secretKeyRef key "IST_ADMIN_TOKEN" is not in Secret`},
		{"cpu request above limit", sts, `cpu: "2"`, `cpu: "8"`, "cpu request 8 exceeds its limit 4"},
		{"memory request above limit", sts, "memory: 2Gi", "memory: 5Gi", "memory request 5Gi exceeds its limit 4Gi"},
		{"PDB selector", pdb, "matchLabels:\n      app.kubernetes.io/name: istd", "matchLabels:\n      app.kubernetes.io/name: istd-db", "PodDisruptionBudget/istd: spec.selector app.kubernetes.io/name=istd-db matches the pod labels of no StatefulSet"},
		{"Service selector", svc, "selector:\n    app.kubernetes.io/name: istd\n  ports", "selector:\n    app: istd\n  ports", "Service/istd: spec.selector app=istd matches the pod labels of no StatefulSet"},
		{"pod labels", sts, "      labels:\n        app.kubernetes.io/name: istd\n      annotations", "      labels:\n        app: istd\n      annotations", "does not match the pod template labels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := make(map[string][]byte, len(orig))
			for k, v := range orig {
				files[k] = v
			}
			src := string(files[tc.file])
			if strings.Count(src, tc.old) == 0 {
				t.Fatalf("%s no longer contains %q: update this case", tc.file, tc.old)
			}
			files[tc.file] = []byte(strings.Replace(src, tc.old, tc.new, 1))
			err := check(files)
			if err == nil {
				t.Fatalf("mutation not caught (want an error containing %q)", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error does not mention %q:\n%v", tc.wantErr, err)
			}
			t.Logf("caught: %v", err)
		})
	}
}

func TestSplitDocs(t *testing.T) {
	files := map[string][]byte{
		"a.yaml": []byte("# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  K: v\n---   \n\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: t\n"),
	}
	m, err := parse(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.secrets) != 2 || m.secrets[0].Name != "s" || m.secrets[1].Name != "t" {
		t.Fatalf("decoded %d secrets, want s and t", len(m.secrets))
	}
	if got := m.where[m.secrets[1]]; got != "a.yaml doc 4 Secret/t" {
		t.Errorf("where = %q", got)
	}
}
