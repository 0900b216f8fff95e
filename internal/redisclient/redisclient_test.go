package redisclient_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/redisclient"
)

func load(env map[string]string) (envconfig.Secret, error) {
	l := envconfig.New(envconfig.FromMap(env))
	u := redisclient.URL(l, "REDIS_URL", "redis://127.0.0.1:6379/0", "help")
	return u, l.Err()
}

func TestURLListsAMalformedURLWithoutItsPassword(t *testing.T) {
	for _, v := range []string{"http://:hunter2@host:6379/0", "redis://:hunter2@host:6379/notanumber", "redis://:hunter2@host:port with space/0"} {
		_, err := load(map[string]string{"REDIS_URL": v})
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL:") {
			t.Errorf("%q: want an error naming REDIS_URL, got %v", v, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error leaks the password: %v", v, err)
		}
	}
	u, err := load(nil)
	if err != nil || u.Reveal() != "redis://127.0.0.1:6379/0" {
		t.Fatalf("default: %q, %v", u.Reveal(), err)
	}
}

func TestNewHasThePlatformTimeoutsAndTalks(t *testing.T) {
	r, err := embedded.StartRedis(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	c, err := redisclient.New(envconfig.Secret(r.URL()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	o := c.Options()
	if o.DialTimeout != redisclient.DialTimeout || o.ReadTimeout != redisclient.ReadTimeout || o.WriteTimeout != redisclient.WriteTimeout || o.MaxRetries != redisclient.MaxRetries {
		t.Errorf("options %+v", o)
	}
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Miniredis().Get("k"); got != "v" {
		t.Errorf("k = %q", got)
	}
	if _, err := redisclient.New("http://nope", slog.Default()); err == nil {
		t.Error("New accepted a non-Redis URL")
	}
}
