// Package helm_test checks the Helm chart in deploy/helm/auction offline:
// no Kubernetes runs where the tests run. helm (pinned, built by
// scripts/k8stools.sh) lints and renders the chart with its default values
// and with ci/production-values.yaml; every rendered object is validated
// strictly against the OpenAPI schema of the pinned Kubernetes release
// (k8s.io/kubernetes api/openapi-spec, openapi_test.go); the environment of
// each of our containers is loaded by its service's own config package
// (env_test.go), as docker/compose_test.go does for compose; and what the
// platform relies on in a cluster is checked to be there (checks_test.go).
// That the pods start and serve is NOT checked here.
//
// Without helm or the spec the tests fail, saying to run
// scripts/k8stools.sh (scripts/test.sh runs it first).
package helm_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// crdKinds are the objects of operators' CustomResourceDefinitions the chart
// may render, with the values key that turns each on; the OpenAPI spec has
// no schema for them, so they are listed as not validated.
var crdKinds = map[gvk]string{
	{"monitoring.coreos.com", "v1", "ServiceMonitor"}: "serviceMonitor",
	{"monitoring.coreos.com", "v1", "PodMonitor"}:     "podMonitor",
	{"monitoring.coreos.com", "v1", "PrometheusRule"}: "prometheusRule",
}

var (
	renderMu sync.Mutex
	renders  = map[string]rendering{}
)

// renderings renders the chart once per values case for the whole test
// binary (helm runs take seconds).
func renderings(t *testing.T) []rendering {
	t.Helper()
	tl := needHelm(t)
	chart := chartDir(t)
	renderMu.Lock()
	defer renderMu.Unlock()
	var out []rendering
	for _, vc := range valuesCases() {
		r, ok := renders[vc.name]
		if !ok {
			r = render(t, tl, chart, vc)
			renders[vc.name] = r
		}
		out = append(out, r)
	}
	return out
}

// TestChartLints runs helm lint --strict (warnings are failures) for each
// values case.
func TestChartLints(t *testing.T) {
	tl := needHelm(t)
	chart := chartDir(t)
	for _, vc := range valuesCases() {
		t.Run(vc.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chart, "--namespace", namespace, "--kube-version", tl.kubeVersion}, vc.helmArgs(chart)...)
			out, err := runHelm(tl, args...)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", out)
		})
	}
}

// TestChartRenders renders each values case and checks that every object
// is one Kubernetes serves and valid against its schema; objects of CRDs are
// allowed only when their values key is enabled, never with the defaults.
func TestChartRenders(t *testing.T) {
	spec := needOpenAPI(t)
	for _, r := range renderings(t) {
		t.Run(r.values.name, func(t *testing.T) {
			seen := map[string]string{}
			var unvalidated []string
			for _, o := range r.objects {
				id := o.Kind() + "/" + o.Name()
				if prev, dup := seen[id]; dup {
					t.Errorf("%s rendered twice (%s and %s)", id, prev, o.Source)
				}
				seen[id] = o.Source
				if ns := str(o.Doc, "metadata", "namespace"); ns != "" && ns != namespace {
					t.Errorf("%s: namespace %q, want the release's (%s) or none", o, ns, namespace)
				}
				problems, err := spec.validate(o.Doc)
				switch {
				case errors.Is(err, errUnknownKind):
					key, isCRD := crdKinds[gvkOf(o.APIVersion(), o.Kind())]
					switch {
					case !isCRD:
						t.Errorf("%s: %v (a removed or misspelt apiVersion?)", o, err)
					case !r.values.production:
						t.Errorf("%s: the default values render a %s, which needs an operator's CRD; default values must render only core kinds", o, o.Kind())
					case !enabledInValues(r.settings, key):
						t.Errorf("%s: rendered although %s.enabled is not true in %s", o, key, r.values.file)
					default:
						unvalidated = append(unvalidated, fmt.Sprintf("%s %s (%s.enabled)", o.APIVersion(), id, key))
					}
				case err != nil:
					t.Errorf("%s: %v", o, err)
				case len(problems) > 0:
					t.Errorf("%s does not validate against Kubernetes %s:\n  %s", o, needHelm(t).kubeVersion, strings.Join(problems, "\n  "))
				}
			}
			slices.Sort(unvalidated)
			t.Logf("%d objects rendered; not validated (CRDs not in the Kubernetes spec): %v", len(r.objects), unvalidated)
		})
	}
}
