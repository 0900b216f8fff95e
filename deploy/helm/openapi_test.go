package helm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaURL is the name the converted spec is known by in the compiler.
const schemaURL = "https://kubernetes.invalid/openapi-v2-strict.json"

// quantityPattern is resource.Quantity's string form (k8s.io/apimachinery
// pkg/api/resource): a signed decimal with a binary SI, decimal SI or
// exponent suffix.
const quantityPattern = `^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$`

// openAPI validates Kubernetes objects against the OpenAPI v2 definitions of
// one Kubernetes version, strictly, as kubeconform -strict does with the
// schemas openapi2jsonschema --strict generates:
//   - the definition is chosen by x-kubernetes-group-version-kind;
//   - an object schema that lists properties admits no others;
//   - required properties are enforced and types checked;
//   - format int-or-string admits a string or an integer, and a
//     resource.Quantity a number or a string of its grammar;
//   - a null value stands for an absent field (as the API server reads it).
type openAPI struct {
	compiler *jsonschema.Compiler
	byGVK    map[gvk]string // definition name by group/version/kind

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

type gvk struct{ group, version, kind string }

// gvkOf splits apiVersion ("apps/v1", or "v1" for the core group).
func gvkOf(apiVersion, kind string) gvk {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "", apiVersion
	}
	return gvk{group, version, kind}
}

// loadOpenAPI reads a swagger.json (api/openapi-spec of k8s.io/kubernetes).
func loadOpenAPI(path string) (*openAPI, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read OpenAPI spec: %w", err)
	}
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("decode OpenAPI spec %s: %w", path, err)
	}
	if len(spec.Definitions) == 0 {
		return nil, fmt.Errorf("OpenAPI spec %s has no definitions", path)
	}
	return newOpenAPI(spec.Definitions)
}

// newOpenAPI converts OpenAPI v2 definitions into one draft-07 JSON Schema
// document whose "#/definitions/<name>" are what objects are checked against.
func newOpenAPI(defs map[string]map[string]any) (*openAPI, error) {
	o := &openAPI{byGVK: map[gvk]string{}, compiled: map[string]*jsonschema.Schema{}}
	converted := map[string]any{}
	for name, def := range defs {
		if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
			converted[name] = map[string]any{
				"description": def["description"],
				"type":        []any{"string", "number"},
				"pattern":     quantityPattern,
			}
		} else {
			converted[name] = strictSchema(def)
		}
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			o.byGVK[gvk{group, version, kind}] = name
		}
	}
	doc := map[string]any{
		"$schema":     "http://json-schema.org/draft-07/schema#",
		"definitions": converted,
	}
	// Round-trip through JSON so that numbers are what the compiler expects.
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	parsed, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	o.compiler = jsonschema.NewCompiler()
	if err := o.compiler.AddResource(schemaURL, parsed); err != nil {
		return nil, fmt.Errorf("add converted OpenAPI schema: %w", err)
	}
	return o, nil
}

// strictSchema rewrites one OpenAPI v2 schema (recursively) for strict
// validation.
func strictSchema(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			switch {
			case strings.HasPrefix(k, "x-"):
				continue // vendor extensions: annotations only
			case k == "properties":
				props := map[string]any{}
				for name, p := range e.(map[string]any) {
					props[name] = strictSchema(p)
				}
				out[k] = props
			default:
				out[k] = strictSchema(e)
			}
		}
		if out["format"] == "int-or-string" {
			delete(out, "format")
			out["type"] = []any{"string", "integer"}
		}
		if _, hasProps := out["properties"]; hasProps {
			if _, set := out["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = strictSchema(e)
		}
		return out
	default:
		return v
	}
}

// errUnknownKind is returned for an apiVersion/kind the spec does not define
// (a CustomResourceDefinition's, or one Kubernetes removed).
var errUnknownKind = errors.New("kind not in the Kubernetes OpenAPI spec")

// schemaFor compiles (once) the definition of apiVersion/kind.
func (o *openAPI) schemaFor(apiVersion, kind string) (*jsonschema.Schema, error) {
	name, ok := o.byGVK[gvkOf(apiVersion, kind)]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", apiVersion, kind, errUnknownKind)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.compiled[name]; ok {
		return s, nil
	}
	s, err := o.compiler.Compile(schemaURL + "#/definitions/" + name)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	o.compiled[name] = s
	return s, nil
}

// validate checks doc (decoded as JSON decodes) against the definition its
// apiVersion and kind name; it returns one line per violation.
func (o *openAPI) validate(doc map[string]any) ([]string, error) {
	apiVersion, _ := doc["apiVersion"].(string)
	kind, _ := doc["kind"].(string)
	s, err := o.schemaFor(apiVersion, kind)
	if err != nil {
		return nil, err
	}
	err = s.Validate(withoutNulls(doc))
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	return violations(ve), nil
}

// violations lists the leaves of a validation error as "/path: problem".
func violations(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/")+": "+leafMessage(e))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// leafMessage is the problem of one leaf error, without its location.
func leafMessage(e *jsonschema.ValidationError) string {
	out := e.BasicOutput()
	if out.Error != nil {
		return out.Error.String()
	}
	for _, u := range out.Errors {
		if u.Error != nil {
			return u.Error.String()
		}
	}
	return fmt.Sprint(e.ErrorKind)
}

// withoutNulls copies v without the map entries whose value is null: the
// API server treats `field: null` as an absent field.
func withoutNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e != nil {
				out[k] = withoutNulls(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = withoutNulls(e)
		}
		return out
	default:
		return v
	}
}
