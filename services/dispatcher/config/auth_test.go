package config_test

import (
	"strings"
	"testing"

	"github.com/pawnshop/auction/services/dispatcher/config"
)

// authEnv is a configuration that passes every check but the public API's.
func authEnv(kv ...string) map[string]string {
	env := map[string]string{"CLUSTER_TOKEN": token32}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// TestAuthRequiredByDefault: with no credential configured the dispatcher
// does not start, and the error names both ways out and AUTH_MODE=none.
func TestAuthRequiredByDefault(t *testing.T) {
	_, err := load(authEnv())
	if err == nil {
		t.Fatal("started with no authentication configured")
	}
	for _, want := range []string{"AUTH_MODE", "API_KEYS_FILE", "OIDC_ISSUER", "AUTH_MODE=none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestAuthVariables(t *testing.T) {
	c, err := load(authEnv("API_KEYS_FILE", "/keys.json", "OIDC_ISSUER", "https://id.example", "OIDC_AUDIENCE", "auction",
		"OIDC_ALGORITHMS", "ES256, PS256", "OIDC_CLIENT_CLAIM", "client_id", "CLUSTER_TLS_CA_FILE", "ca", "CLUSTER_TLS_CERT_FILE", "c", "CLUSTER_TLS_KEY_FILE", "k"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if a.Mode != config.AuthRequired || a.None() || a.KeysFile != "/keys.json" || a.OIDCIssuer != "https://id.example" || a.OIDCAudience != "auction" ||
		strings.Join(a.OIDCAlgorithms, ",") != "ES256,PS256" || a.OIDCClientClaim != "client_id" {
		t.Errorf("%+v", a)
	}
	c, err = load(authEnv("AUTH_MODE", "none"))
	if err != nil || !c.Auth.None() || strings.Join(c.Auth.OIDCAlgorithms, ",") != "RS256,ES256" || c.Auth.OIDCClientClaim != "sub" {
		t.Fatalf("AUTH_MODE=none: %+v, %v", c.Auth, err)
	}
	for _, bad := range [][]string{
		{"OIDC_ISSUER", "https://id.example"}, // no audience
		{"OIDC_AUDIENCE", "auction", "API_KEYS_FILE", "/k"},
		{"API_KEYS_FILE", "/k", "OIDC_ISSUER", "https://id.example", "OIDC_AUDIENCE", "a", "OIDC_ALGORITHMS", "HS256"},
		{"API_KEYS_FILE", "/k", "OIDC_ISSUER", "https://id.example", "OIDC_AUDIENCE", "a", "OIDC_ALGORITHMS", "none"},
		{"API_KEYS_FILE", "/k", "OIDC_ISSUER", "id.example", "OIDC_AUDIENCE", "a"},
		{"AUTH_MODE", "off"},
	} {
		if _, err := load(authEnv(append(bad, "AUTH_MODE", "none")...)); err == nil && bad[0] != "AUTH_MODE" {
			t.Errorf("%v accepted", bad)
		}
		if _, err := load(authEnv(bad...)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
