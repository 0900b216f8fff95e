package config_test

import (
	"slices"
	"strings"
	"testing"
)

// TestDispatcherURLs: DISPATCHER_URL is one URL or a comma-separated list of
// the dispatchers' cluster listeners, each with the cluster's scheme.
func TestDispatcherURLs(t *testing.T) {
	base := map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": strings.Repeat("t", 32)}
	env := func(v string) map[string]string {
		m := map[string]string{"DISPATCHER_URL": v}
		for k, x := range base {
			m[k] = x
		}
		return m
	}
	c, err := load(env(" http://d1:8081 , http://d2:8081,http://10.0.0.3:8081 "))
	if err != nil || !slices.Equal(c.DispatcherURLs, []string{"http://d1:8081", "http://d2:8081", "http://10.0.0.3:8081"}) {
		t.Fatalf("list: %q %v", c.DispatcherURLs, err)
	}
	for v, want := range map[string]string{
		"http://d1:8081,":                                "empty entry",
		"http://d1:8081,,http://d2:8081":                 "empty entry",
		"https://d1:8081":                                "must use http",
		"http://d1:8081,d2:8081":                         "not an absolute http:// URL",
		"http://u:p@d1:8081":                             "not an absolute http:// URL",
		"http://d1:8081,http://d1:8081":                  "twice",
		strings.Repeat("http://d:1,", 16) + "http://e:1": "twice",
	} {
		_, err := load(env(v))
		if err == nil || !strings.Contains(err.Error(), "DISPATCHER_URL") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want DISPATCHER_URL %s", v, err, want)
		}
	}
	var many []string
	for i := range 17 {
		many = append(many, "http://d"+strings.Repeat("x", i)+":8081")
	}
	if _, err := load(env(strings.Join(many, ","))); err == nil || !strings.Contains(err.Error(), "at most 16") {
		t.Errorf("17 URLs: %v", err)
	}
}
