package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/dispatcher/config"
)

func load(env map[string]string) (config.Config, error) {
	l := envconfig.New(envconfig.FromMap(env))
	c := config.Load(l)
	return c, l.Err()
}

func TestEdgeDefaults(t *testing.T) {
	c, err := load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": token32})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInflightReads != 8 || c.AdmissionQueueReads != 8 || c.MaxInflightWrites != 128 || c.AdmissionQueueWrites != 128 ||
		c.AdmissionQueueWait != 5*time.Millisecond || c.RateLimitPerClient != 0 || c.BodyReadTimeout != 10*time.Second ||
		c.MaxConnections != 4096 || len(c.CORSAllowedOrigins) != 0 || c.WorkerResponseMaxBytes != 32<<20 || c.ClientIPHeader != "" {
		t.Errorf("edge defaults %+v", c)
	}
}

func TestEdgeVariables(t *testing.T) {
	c, err := load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": token32, "CORS_ALLOWED_ORIGINS": "https://shop.example, http://localhost:5173/",
		"RATE_LIMIT_PER_CLIENT": "50", "CLIENT_IP_HEADER": "X-Forwarded-For", "BODY_READ_TIMEOUT": "15s"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.CORSAllowedOrigins, " ") != "https://shop.example http://localhost:5173" || c.RateLimitPerClient != 50 || c.BodyReadTimeout != 15*time.Second {
		t.Errorf("%+v", c)
	}
	for k, v := range map[string]string{
		"CORS_ALLOWED_ORIGINS":      "https://shop.example/path",
		"CLIENT_IP_HEADER":          "X Forwarded",
		"BODY_READ_TIMEOUT":         "16s",
		"MAX_INFLIGHT_READS":        "0",
		"WORKER_RESPONSE_MAX_BYTES": "2GiB",
		"ADMISSION_QUEUE_WAIT":      "20s",
	} {
		if _, err := load(map[string]string{"AUTH_MODE": "none", "CLUSTER_TOKEN": token32, k: v}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming it", k, v, err)
		}
	}
}

// token32 is a cluster token of the least length allowed.
var token32 = strings.Repeat("t", 32)
