// Package config is the feeder's typed configuration, loaded from the
// environment (and the -once flag) and checked as a whole.
package config

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pawnshop/auction/internal/clustername"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/httpserver"
	"github.com/pawnshop/auction/internal/redisclient"
)

// Config is everything the feeder can be told.
type Config struct {
	// Name is the deployment's name (CLUSTER_NAME): the fraud list's Redis
	// keys and channel are under it (fraudlist.KeysFor). The zero Name is
	// the default, "auction".
	Name clustername.Name
	// S3Endpoint is the base URL of an S3-compatible server; empty means
	// AWS S3 itself.
	S3Endpoint     string
	S3Region       string
	S3Bucket       string
	S3Key          string
	RedisURL       envconfig.Secret
	RedisCAFile    string
	FeedInterval   time.Duration
	MaxObjectBytes int64
	// MaxShrinkFraction is the largest fraction of the list in force that a
	// new list may remove; an empty list, or one that removes more, is
	// refused unless it carries the "#! allow-shrink" line
	// (fraudlist.AllowShrinkDirective).
	MaxShrinkFraction float64
	// Once makes the feeder do a single pass and exit: 0 when the pass
	// succeeded (or found the list unchanged), 1 when it failed.
	Once bool
	// MetricsAddr is where the feeder serves /metrics and /healthz while it
	// runs passes (never in a -once run); empty: no listener.
	MetricsAddr string
	// MetricsTLS is the metrics listener's certificate (TLS_CERT_FILE,
	// TLS_KEY_FILE); empty: plain HTTP.
	MetricsTLS httpserver.TLSFiles
}

// Load declares and reads every variable; problems are collected in l.
func Load(l *envconfig.Loader) Config {
	var endpoint string
	if u := l.URL("S3_ENDPOINT", "", []string{"http", "https"}, "S3-compatible server such as MinIO, with path-style addressing; empty means AWS S3"); u != nil {
		endpoint = strings.TrimSuffix(u.String(), "/")
	}
	c := Config{
		Name:           clustername.Load(l),
		S3Endpoint:     endpoint,
		S3Region:       l.String("S3_REGION", "us-east-1", "region of the bucket"),
		S3Bucket:       l.String("S3_BUCKET", "auction", "bucket holding the fraudsters list"),
		S3Key:          l.String("S3_KEY", "fraud/fraudsters.txt", "key of the fraudsters list (one client id per line)"),
		RedisURL:       redisclient.URL(l, "REDIS_URL", "redis://127.0.0.1:6379/0", "Redis receiving the fraud list, redis://[user:password@]host:port/db (rediss:// for TLS)"),
		FeedInterval:   l.Duration("FEED_INTERVAL", 30*time.Second, 100*time.Millisecond, 24*time.Hour, "time between two passes"),
		MaxObjectBytes: l.Bytes("MAX_OBJECT_BYTES", 10<<20, 1, 1<<30, "largest list object accepted; a larger one is refused and the previous list stays"),
		Once:           l.Bool("FEED_ONCE", false, "do one pass and exit, 0 on success and 1 on failure (same as the -once flag)"),
	}
	c.MetricsAddr = l.String("METRICS_ADDR", "127.0.0.1:9102",
		"listen address of /metrics (auction_feeder_lists_refused_total, ...) and /healthz while the feeder runs passes (not with -once); off: no listener")
	if c.MetricsAddr == "off" {
		c.MetricsAddr = ""
	} else if err := envconfig.CheckAddr(c.MetricsAddr); err != nil {
		l.Fail("METRICS_ADDR", "%v (or off)", err)
	}
	c.MetricsTLS = httpserver.LoadTLS(l)
	c.RedisCAFile = redisclient.CAFile(l, c.RedisURL)
	c.MaxShrinkFraction = fraction(l, "MAX_SHRINK_FRACTION", 0.5,
		"largest fraction of the list in force a new list may remove (0 to 1); an empty list, or one that removes more, is refused unless it has the line '#! allow-shrink'")
	return c
}

// fraction reads a number in [0, 1] ("0.5", "0.25").
func fraction(l *envconfig.Loader, name string, def float64, help string) float64 {
	v := l.String(name, strconv.FormatFloat(def, 'g', -1, 64), help)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		l.Fail(name, "%q is not a number", v)
		return def
	}
	if f < 0 || f > 1 {
		l.Fail(name, "%g is out of range [0, 1]", f)
		return def
	}
	return f
}
