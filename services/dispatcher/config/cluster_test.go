package config_test

import (
	"strings"
	"testing"
)

// TestClusterTrust: the cluster TLS files are required unless AUTH_MODE=none
// and go together; CLUSTER_TOKEN, optional under mutual TLS, is refused
// shorter than 32 bytes, and required without TLS; joins are rate-limited
// and link-local addresses refused by default.
func TestClusterTrust(t *testing.T) {
	tls := map[string]string{"AUTH_MODE": "none", "CLUSTER_TLS_CA_FILE": "ca.pem", "CLUSTER_TLS_CERT_FILE": "d.pem", "CLUSTER_TLS_KEY_FILE": "d-key.pem"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range tls {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := load(tls)
	if err != nil || !c.Cluster.MutualTLS() || c.Cluster.Token != "" || c.Cluster.Addr != "127.0.0.1:8081" ||
		c.Cluster.JoinRate != 5 || c.Cluster.JoinBurst != 10 || c.Cluster.AllowLinkLocal {
		t.Errorf("defaults under mutual TLS: %+v, %v", c.Cluster, err)
	}
	if c, err := load(with("CLUSTER_TOKEN", strings.Repeat("k", 32))); err != nil || c.Cluster.Token.Reveal() != strings.Repeat("k", 32) {
		t.Errorf("a 32-byte token: %v", err)
	}
	for name, env := range map[string]map[string]string{
		"short token":         with("CLUSTER_TOKEN", strings.Repeat("k", 31)),
		"two of three files":  with("CLUSTER_TLS_CERT_FILE", ""),
		"no TLS and no token": {"AUTH_MODE": "none"},
		"join rate 0":         with("JOIN_RATE_LIMIT", "0"),
	} {
		if _, err := load(env); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	_, err = load(map[string]string{"AUTH_MODE": "required", "API_KEYS_FILE": "keys.json"})
	if err == nil || !strings.Contains(err.Error(), "CLUSTER_TLS_CA_FILE") {
		t.Errorf("AUTH_MODE=required without cluster TLS: %v, want CLUSTER_TLS_CA_FILE listed", err)
	}
	if err != nil && strings.Contains(err.Error(), strings.Repeat("k", 31)) {
		t.Error("the error shows the token")
	}
}
