package helm_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// chartEnv names another chart directory to check (a scratch chart while
// developing the checks); by default the project's chart.
const chartEnv = "AUCTION_CHART"

// releaseName and namespace are those the chart is rendered with.
const (
	releaseName = "auction"
	namespace   = "auction"
)

// extraAPIVersions are announced to helm as served by the cluster, so that
// the templates that test .Capabilities for the Prometheus operator's CRDs
// render them when their values ask for them.
var extraAPIVersions = []string{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"}

// chartDir is the chart under test.
func chartDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(chartEnv)
	if dir == "" {
		dir = "auction"
	}
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		t.Fatalf("no chart at %s: %v", dir, err)
	}
	return dir
}

// valuesCase is one values file the chart is checked with.
type valuesCase struct {
	name string
	file string // relative to the chart; "" for the chart's own values.yaml only
	// production values may enable objects of the operators' CRDs.
	production bool
}

func valuesCases() []valuesCase {
	return []valuesCase{
		{name: "default"},
		{name: "production", file: filepath.Join("ci", "production-values.yaml"), production: true},
	}
}

// helmArgs are the arguments that select the values of vc.
func (vc valuesCase) helmArgs(chart string) []string {
	if vc.file == "" {
		return nil
	}
	return []string{"--values", filepath.Join(chart, vc.file)}
}

// runHelm runs helm with args and returns its standard output; a failure
// carries helm's standard error.
func runHelm(tl tools, args ...string) ([]byte, error) {
	cmd := exec.Command(tl.helm, args...)
	// No user configuration, plugins or repositories leak into the run.
	home, err := os.MkdirTemp("", "helm-home")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home, "KUBECONFIG="+filepath.Join(home, "none"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), out)
	}
	return out, nil
}

// object is one rendered Kubernetes object.
type object struct {
	Source string         // template that rendered it (helm's "# Source:" line)
	Doc    map[string]any // the object as YAML/JSON decodes it
}

func (o object) APIVersion() string { s, _ := o.Doc["apiVersion"].(string); return s }
func (o object) Kind() string       { s, _ := o.Doc["kind"].(string); return s }
func (o object) Name() string       { return str(o.Doc, "metadata", "name") }

// String names o in messages: Kind/name (template).
func (o object) String() string {
	return fmt.Sprintf("%s/%s (%s)", o.Kind(), o.Name(), o.Source)
}

// rendering is what helm template gave for one values case.
type rendering struct {
	values   valuesCase
	settings map[string]any // the values the chart was rendered with
	objects  []object
}

// render runs helm template for vc and decodes every document.
func render(t *testing.T, tl tools, chart string, vc valuesCase) rendering {
	t.Helper()
	args := []string{"template", releaseName, chart, "--namespace", namespace, "--kube-version", tl.kubeVersion}
	for _, v := range extraAPIVersions {
		args = append(args, "--api-versions", v)
	}
	out, err := runHelm(tl, append(args, vc.helmArgs(chart)...)...)
	if err != nil {
		t.Fatalf("%s values: %v", vc.name, err)
	}
	objs, err := splitDocuments(out)
	if err != nil {
		t.Fatalf("%s values: %v", vc.name, err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s values: helm template rendered no object", vc.name)
	}
	return rendering{values: vc, settings: chartValues(t, vc), objects: objs}
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.*)$`)
)

// splitDocuments decodes a multi-document YAML stream as helm template
// prints it. Empty documents are dropped; a document that does not decode
// (duplicate keys included) or lacks apiVersion, kind or metadata.name is
// an error.
func splitDocuments(stream []byte) ([]object, error) {
	var objs []object
	for i, part := range docSeparator.Split(string(stream), -1) {
		source := fmt.Sprintf("document %d", i)
		if m := sourceLine.FindStringSubmatch(part); m != nil {
			source = m[1]
		}
		var doc any
		if err := yaml.Unmarshal([]byte(part), &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if doc == nil {
			continue
		}
		m, err := jsonValue(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		obj, ok := m.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a mapping but %T", source, m)
		}
		o := object{Source: source, Doc: obj}
		if o.APIVersion() == "" || o.Kind() == "" || o.Name() == "" {
			return nil, fmt.Errorf("%s: apiVersion, kind or metadata.name missing", source)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// jsonValue turns a decoded YAML value into the types JSON decodes to
// (string-keyed maps, []any, string, bool, int64/float64, nil).
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = j
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("key %v is a %T, not a string", k, k)
			}
			j, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ks, err)
			}
			out[ks] = j
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = j
		}
		return out, nil
	case int:
		return int64(v), nil
	case string, bool, int64, uint64, float64, nil:
		return v, nil
	default:
		return nil, fmt.Errorf("value %v of YAML type %T has no JSON form", v, v)
	}
}

// Accessors of decoded documents: a missing or mistyped step gives the zero value.

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

func mapAt(v any, path ...string) map[string]any {
	m, _ := get(v, path...).(map[string]any)
	return m
}

func list(v any, path ...string) []any { l, _ := get(v, path...).([]any); return l }

// number reads an integer field; ok is false when it is absent or not a number.
func number(v any, path ...string) (int64, bool) {
	switch n := get(v, path...).(type) {
	case int64:
		return n, true
	case uint64:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}
