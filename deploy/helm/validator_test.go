package helm_test

import (
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

var (
	openAPIOnce sync.Once
	openAPIVal  *openAPI
	openAPIErr  error
)

// needOpenAPI loads the pinned Kubernetes OpenAPI spec once per test binary.
func needOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	path := needSpec(t)
	openAPIOnce.Do(func() { openAPIVal, openAPIErr = loadOpenAPI(path) })
	if openAPIErr != nil {
		t.Fatal(openAPIErr)
	}
	return openAPIVal
}

// validDeployment is a Deployment the schema accepts, which the cases below
// break one way each.
const validDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  labels: {app: demo}
  annotations: null
spec:
  replicas: 2
  selector:
    matchLabels: {app: demo}
  strategy:
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: demo
          image: example.invalid/demo:1
          ports: [{containerPort: 8080, name: http}]
          readinessProbe:
            httpGet: {path: /readyz, port: http}
          livenessProbe:
            httpGet: {path: /healthz, port: 8080}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 1, memory: 0.5Gi}
`

func decodeOne(t *testing.T, text string) map[string]any {
	t.Helper()
	objs, err := splitDocuments([]byte(text))
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v (%d objects)", err, len(objs))
	}
	return objs[0].Doc
}

// edit applies a YAML patch (path → value; "-" deletes) to a copy of the
// valid Deployment.
func edit(t *testing.T, path string, value string) map[string]any {
	t.Helper()
	doc := decodeOne(t, validDeployment)
	steps := strings.Split(path, ".")
	var cur any = doc
	for _, s := range steps[:len(steps)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[s]
		case []any:
			cur = c[0] // "0" is the only index used here
		}
	}
	m := cur.(map[string]any)
	last := steps[len(steps)-1]
	if value == "-" {
		delete(m, last)
		return doc
	}
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		t.Fatal(err)
	}
	j, err := jsonValue(v)
	if err != nil {
		t.Fatal(err)
	}
	m[last] = j
	return doc
}

// TestValidatorRejects proves that the schema check can fail: a valid
// Deployment passes, and each broken copy is rejected with the field named.
func TestValidatorRejects(t *testing.T) {
	spec := needOpenAPI(t)
	if problems, err := spec.validate(decodeOne(t, validDeployment)); err != nil || len(problems) > 0 {
		t.Fatalf("the valid Deployment is rejected: %v %v", err, problems)
	}
	cases := []struct {
		name, path, value string
		want              []string // all in one violation line
	}{
		{"unknown field in the spec", "spec.replica", "3", []string{"/spec", "replica"}},
		{"unknown field in a container", "spec.template.spec.containers.0.imagePullPolicyy", "Always", []string{"/spec/template/spec/containers/0", "imagePullPolicyy"}},
		{"unknown top-level field", "extra", "{}", []string{"extra"}},
		{"wrong type: replicas as a string", "spec.replicas", `"2"`, []string{"/spec/replicas", "string"}},
		{"wrong type: labels as a list", "metadata.labels", "[a]", []string{"/metadata/labels", "array"}},
		{"wrong type: int-or-string given a bool", "spec.strategy.rollingUpdate.maxSurge", "true", []string{"/spec/strategy/rollingUpdate/maxSurge", "boolean"}},
		{"quantity not of its grammar", "spec.template.spec.containers.0.resources.limits.memory", "lots", []string{"/spec/template/spec/containers/0/resources/limits/memory", "lots"}},
		{"missing required: the spec", "spec", "-", []string{"spec"}},
		{"missing required: the pod template's containers", "spec.template.spec.containers", "-", []string{"/spec/template/spec", "containers"}},
		{"missing required: a container's name", "spec.template.spec.containers.0.name", "-", []string{"/spec/template/spec/containers/0", "name"}},
		{"missing required: the selector", "spec.selector", "-", []string{"/spec", "selector"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems, err := spec.validate(edit(t, c.path, c.value))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				hit := true
				for _, w := range c.want {
					hit = hit && strings.Contains(p, w)
				}
				if hit {
					t.Logf("rejected: %s", p)
					return
				}
			}
			t.Errorf("not rejected as expected (want a violation mentioning %q); got %q", c.want, problems)
		})
	}
	t.Run("unknown kind", func(t *testing.T) {
		doc := decodeOne(t, validDeployment)
		doc["apiVersion"] = "extensions/v1beta1"
		if _, err := spec.validate(doc); err == nil {
			t.Error("a Deployment of extensions/v1beta1 (removed in Kubernetes 1.16) is accepted")
		}
	})
}
