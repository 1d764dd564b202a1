// Package k8scheck validates the Kubernetes manifests in ../k8s against the
// official Kubernetes Go types (k8s.io/api), as a kubeconform-style schema
// check that needs no network: kubeconform cannot download its JSON schemas
// in CI, so the test decodes every manifest strictly into its typed object
// (an unknown or misspelled field, a wrong type or an unknown kind fails)
// and then cross-checks the objects: ports, probes, volumes, Secret
// references, resources, selectors and the single-replica StatefulSet.
//
// It is a separate Go module so that the main module's go.mod does not
// carry the large k8s.io dependency tree; the root `go test ./...` skips
// nested modules, so scripts/test.sh runs this one explicitly:
//
//	cd deploy/k8scheck && go vet ./... && go test -count=1 ./...
//
// The package has no code; everything is in its test. The YAML-level checks
// of the whole kit (compose file, Dockerfile, Prometheus, environment
// variables) stay in ../deploy_test.go.
package k8scheck
