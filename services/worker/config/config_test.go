package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/worker/config"
)

func load(env map[string]string) (config.Config, error) {
	l := envconfig.New(envconfig.FromMap(env))
	c := config.Load(l)
	return c, l.Err()
}

func TestMongoURIIsParsedWhenTheConfigurationLoads(t *testing.T) {
	for _, v := range []string{
		"mongodb://127.0.0.1:27017",
		"mongodb://user:p%40ss@db-1:27017,db-2:27017/auction?replicaSet=rs0&w=majority",
		"mongodb+srv://user:pw@cluster0.example.com/?srvMaxHosts=2&retryWrites=true",
	} {
		if c, err := load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": strings.Repeat("t", 32), "MONGO_URI": v}); err != nil || c.MongoURI.Reveal() != v {
			t.Errorf("%q: %q, %v", v, c.MongoURI.Reveal(), err)
		}
	}
	for _, v := range []string{
		"mongo://hunter2host",
		"mongodb://user:hunter2@",
		"mongodb://user:hunter2@db:99999",
		"mongodb://user:hun%zzter2@db",
		"mongodb://user:hunter2@db/?journal=maybe",
		"mongodb+srv://user:hunter2@cluster0.example.com:27017",
		"mongodb+srv://user:hunter2@a.example.com,b.example.com",
	} {
		// CLUSTER_TOKEN is missing too: both problems are listed at once.
		_, err := load(map[string]string{"AUTH_MODE": "none", "MONGO_URI": v})
		if err == nil || !strings.Contains(err.Error(), "MONGO_URI: not a MongoDB connection string") || !strings.Contains(err.Error(), "CLUSTER_TOKEN:") {
			t.Errorf("%q: want MONGO_URI listed with CLUSTER_TOKEN, got %v", v, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun%zzter2") {
			t.Errorf("%q: the error leaks the password: %v", v, err)
		}
	}
}

// TestClusterTrust: the cluster TLS files are required unless AUTH_MODE=none
// and go together; a token shorter than 32 bytes is refused; without TLS a
// token is required and the URLs are http.
func TestClusterTrust(t *testing.T) {
	tls := map[string]string{"CLUSTER_TLS_CA_FILE": "ca.pem", "CLUSTER_TLS_CERT_FILE": "w.pem", "CLUSTER_TLS_KEY_FILE": "w-key.pem"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := load(tls)
	if err != nil || !c.MutualTLS() || !slices.Equal(c.DispatcherURLs, []string{"https://127.0.0.1:8081"}) {
		t.Errorf("TLS files alone: %+v, %v", c, err)
	}
	for name, env := range map[string]map[string]string{
		"no TLS files":           {},
		"two of three":           with(tls, "CLUSTER_TLS_KEY_FILE", ""),
		"short token":            with(tls, "CLUSTER_TOKEN", "0123456789abcdef"),
		"none without token":     {"AUTH_MODE": "none"},
		"http dispatcher in TLS": with(tls, "DISPATCHER_URL", "http://127.0.0.1:8081"),
		"http advertised in TLS": with(tls, "ADVERTISE_URL", "http://10.0.0.1:9101"),
	} {
		if _, err := load(env); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	c, err = load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": strings.Repeat("x", 32)})
	if err != nil || c.MutualTLS() || !slices.Equal(c.DispatcherURLs, []string{"http://127.0.0.1:8081"}) {
		t.Errorf("AUTH_MODE=none with a token: %+v, %v", c, err)
	}
}

// TestUsageShowsEachDefaultOnce: -help lists ADVERTISE_URL with its derived
// default once, and MONGO_URI's default without "(set)".
func TestUsageShowsEachDefaultOnce(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(nil))
	config.Load(l)
	var sb strings.Builder
	l.Usage(&sb)
	for _, line := range strings.Split(sb.String(), "\n") {
		if strings.Count(line, "(default") > 1 || strings.Contains(line, "(set)") || strings.Contains(line, `(default "")`) {
			t.Errorf("line shows its default badly: %q", line)
		}
		if strings.Contains(line, "ADVERTISE_URL") && !strings.Contains(line, "(default https://HTTP_ADDR") {
			t.Errorf("ADVERTISE_URL without its derived default: %q", line)
		}
		if strings.Contains(line, "MONGO_URI") && !strings.Contains(line, "(default mongodb://127.0.0.1:27017)") {
			t.Errorf("MONGO_URI without its default: %q", line)
		}
	}
}

func TestCheckMongoURIRecordsTheProblemWithoutThePassword(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(nil))
	config.CheckMongoURI(l, "MONGO_URI", "mongodb://127.0.0.1:27017")
	if err := l.Err(); err != nil {
		t.Fatalf("a good URI: %v", err)
	}
	config.CheckMongoURI(l, "MONGO_URI", "mongodb://user:hunter2@db:99999")
	err := l.Err()
	if err == nil || !strings.Contains(err.Error(), "MONGO_URI: not a MongoDB connection string") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v", err)
	}
}
