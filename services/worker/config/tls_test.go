package config_test

import (
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/worker/config"
)

// mongoProblem loads a configuration with MONGO_URI set to uri and returns
// what is reported about MONGO_URI ("" when nothing).
func mongoProblem(uri string) string {
	l := envconfig.New(envconfig.FromMap(map[string]string{"MONGO_URI": uri}))
	config.Load(l)
	err := l.Err()
	if err == nil {
		return ""
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, "MONGO_URI") {
			return line
		}
	}
	return ""
}

func TestMongoURITLS(t *testing.T) {
	for _, ok := range []string{
		"mongodb://mongo.example:27017/?tls=true",
		"mongodb://u:pw@mongo.example:27017/?tls=true&tlsCAFile=/etc/ca.pem",
		"mongodb://mongo.example:27017/?tls=true&tlsCertificateKeyFile=/etc/client.pem",
		"mongodb://mongo.example:27017/?tls=true&tlsInsecure=false",
	} {
		if p := mongoProblem(ok); p != "" {
			t.Errorf("%s: %s", ok, p)
		}
	}
	for _, bad := range []string{
		"mongodb://u:hunter2@mongo.example:27017/?tls=true&tlsInsecure=true",
		"mongodb://mongo.example:27017/?ssl=true&sslInsecure=true",
	} {
		p := mongoProblem(bad)
		if !strings.Contains(p, "tlsInsecure=true turns off") {
			t.Errorf("%s: reported %q, want the insecure option refused", bad, p)
		}
		if strings.Contains(p, "hunter2") {
			t.Errorf("the problem shows the password: %s", p)
		}
	}
}
