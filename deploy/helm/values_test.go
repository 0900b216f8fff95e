package helm_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// chartValues is the chart's values.yaml with vc's file merged over it, as
// helm merges them (maps deeply, anything else replaced; null deletes).
func chartValues(t *testing.T, vc valuesCase) map[string]any {
	t.Helper()
	chart := chartDir(t)
	values := readValues(t, filepath.Join(chart, "values.yaml"))
	if vc.file != "" {
		values = mergeValues(values, readValues(t, filepath.Join(chart, vc.file)))
	}
	return values
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	j, err := jsonValue(v)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m, _ := j.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func mergeValues(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = mergeValues(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

// enabledInValues reports whether some map named key in values has
// enabled: true (serviceMonitor.enabled, metrics.serviceMonitor.enabled...).
func enabledInValues(values map[string]any, key string) bool {
	found := false
	walkValues(values, func(k string, v any) {
		if m, ok := v.(map[string]any); ok && k == key && m["enabled"] == true {
			found = true
		}
	})
	return found
}

// valuesMention reports whether s is one of the string values of values
// (an existingSecret's name, a key listed for it).
func valuesMention(values map[string]any, s string) bool {
	found := false
	walkValues(values, func(_ string, v any) {
		if v == s {
			found = true
		}
	})
	return found
}

// walkValues calls fn for every key/value pair (list items under their
// list's key).
func walkValues(v any, fn func(key string, v any)) {
	var walk func(string, any)
	walk = func(k string, v any) {
		fn(k, v)
		switch v := v.(type) {
		case map[string]any:
			for ck, cv := range v {
				walk(ck, cv)
			}
		case []any:
			for _, e := range v {
				walk(k, e)
			}
		}
	}
	walk("", v)
}
