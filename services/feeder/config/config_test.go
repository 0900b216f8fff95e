package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/feeder/config"
)

func TestDefaults(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(nil))
	c := config.Load(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		S3Region: "us-east-1", S3Bucket: "auction", S3Key: "fraud/fraudsters.txt",
		RedisURL: "redis://127.0.0.1:6379/0", FeedInterval: 30 * time.Second, MaxObjectBytes: 10 << 20,
		MaxShrinkFraction: 0.5, MetricsAddr: "127.0.0.1:9102",
	}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	var usage strings.Builder
	l.Usage(&usage)
	for _, v := range []string{"S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_KEY", "REDIS_URL", "FEED_INTERVAL", "MAX_OBJECT_BYTES", "MAX_SHRINK_FRACTION", "FEED_ONCE", "METRICS_ADDR"} {
		if !strings.Contains(usage.String(), v) {
			t.Errorf("-help does not list %s", v)
		}
	}
}

func TestParsesAndTrimsTheEndpoint(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{
		"S3_ENDPOINT": "http://127.0.0.1:9000/", "REDIS_URL": "redis://:hunter2@10.0.0.1:6380/3", "MAX_OBJECT_BYTES": "1MiB", "FEED_INTERVAL": "250ms",
	}))
	c := config.Load(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if c.S3Endpoint != "http://127.0.0.1:9000" || c.MaxObjectBytes != 1<<20 || c.FeedInterval != 250*time.Millisecond {
		t.Fatalf("%+v", c)
	}
	if c.RedisURL.Reveal() != "redis://:hunter2@10.0.0.1:6380/3" {
		t.Fatalf("REDIS_URL %q", c.RedisURL.Reveal())
	}
	// service.Run logs the configuration this way.
	if logged := fmt.Sprintf("%+v", c); strings.Contains(logged, "hunter2") {
		t.Fatalf("the Redis password shows in the logged config: %s", logged)
	}
}

func TestReportsEveryProblemAtOnceWithoutLeakingThePassword(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{
		"S3_ENDPOINT":         "ftp://host",
		"REDIS_URL":           "redis://:hunter2@host:6379/notanumber",
		"FEED_INTERVAL":       "often",
		"MAX_OBJECT_BYTES":    "huge",
		"FEED_ONCE":           "maybe",
		"MAX_SHRINK_FRACTION": "half",
	}))
	config.Load(l)
	err := l.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, v := range []string{"S3_ENDPOINT:", "REDIS_URL:", "FEED_INTERVAL:", "MAX_OBJECT_BYTES:", "FEED_ONCE:", "MAX_SHRINK_FRACTION:"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("the error does not name %s: %v", v, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error leaks the password: %v", err)
	}

	// A URL that does not even parse must not leak it either.
	l = envconfig.New(envconfig.FromMap(map[string]string{"REDIS_URL": "redis://:hunter2@host:port with space/0"}))
	config.Load(l)
	if err := l.Err(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("want an error without the password, got %v", err)
	}
}

func TestMaxShrinkFraction(t *testing.T) {
	for v, want := range map[string]float64{"0": 0, "0.25": 0.25, "1": 1, " 0.9 ": 0.9} {
		l := envconfig.New(envconfig.FromMap(map[string]string{"MAX_SHRINK_FRACTION": v}))
		if c := config.Load(l); l.Err() != nil || c.MaxShrinkFraction != want {
			t.Errorf("%q: %g, %v; want %g", v, c.MaxShrinkFraction, l.Err(), want)
		}
	}
	for _, v := range []string{"-0.1", "1.5", "NaN", "50%", "half"} {
		l := envconfig.New(envconfig.FromMap(map[string]string{"MAX_SHRINK_FRACTION": v}))
		if config.Load(l); l.Err() == nil || !strings.Contains(l.Err().Error(), "MAX_SHRINK_FRACTION") {
			t.Errorf("%q: want an error naming MAX_SHRINK_FRACTION, got %v", v, l.Err())
		}
	}
}

func TestMetricsAddr(t *testing.T) {
	for _, tt := range []struct{ v, want, problem string }{
		{"off", "", ""},
		{"0.0.0.0:9102", "0.0.0.0:9102", ""},
		{"nowhere", "", "METRICS_ADDR"},
	} {
		l := envconfig.New(envconfig.FromMap(map[string]string{"METRICS_ADDR": tt.v}))
		c := config.Load(l)
		err := l.Err()
		if tt.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("METRICS_ADDR=%q: err %v, want a problem with %s", tt.v, err, tt.problem)
			}
			continue
		}
		if err != nil || c.MetricsAddr != tt.want {
			t.Errorf("METRICS_ADDR=%q: %q, %v; want %q", tt.v, c.MetricsAddr, err, tt.want)
		}
	}
}
