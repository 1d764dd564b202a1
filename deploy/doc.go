// Package deploy holds istd's operations kit: the container image
// (Dockerfile), a Docker Compose stack with Prometheus and Grafana,
// Kubernetes manifests (k8s/), Prometheus alert rules with their promtool
// unit tests (prometheus/), the Grafana dashboard (grafana/) and a Filebeat
// configuration for the JSON log. The runbook is docs/operations.md.
//
// The package has no code: its tests check the files against each other and
// against istd (paths, ports, environment variables, probes, alerts), and
// run promtool on the Prometheus files when promtool is on PATH. The
// Kubernetes manifests are also decoded strictly into the k8s.io/api types
// by the nested module deploy/k8scheck (run by scripts/test.sh).
package deploy
