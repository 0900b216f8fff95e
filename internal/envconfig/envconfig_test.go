package envconfig_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
)

func TestReportsEveryProblemAtOnce(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{
		"A_ADDR":     "nohost",
		"A_TIMEOUT":  "soon",
		"A_WORKERS":  "0",
		"A_BODY":     "lots",
		"A_FLAG":     "maybe",
		"A_BROKERS":  "k1:9092, bad",
		"A_ENDPOINT": "ftp://x",
	}))
	l.Addr("A_ADDR", "127.0.0.1:1", "listen address")
	l.Duration("A_TIMEOUT", time.Second, time.Millisecond, time.Minute, "timeout")
	l.Int("A_WORKERS", 2, 1, 64, "workers")
	l.Bytes("A_BODY", 1<<20, 1, 1<<30, "body cap")
	l.Bool("A_FLAG", false, "flag")
	l.Addrs("A_BROKERS", "", "brokers")
	l.URL("A_ENDPOINT", "", []string{"http", "https"}, "endpoint")
	l.Required("A_TOKEN", "token")
	err := l.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"A_ADDR", "A_TIMEOUT", "A_WORKERS", "A_BODY", "A_FLAG", "A_BROKERS", "A_ENDPOINT", "A_TOKEN"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	var one *envconfig.Error
	if !errors.As(err, &one) {
		t.Errorf("errors.As(*Error) failed on %v", err)
	}
}

func TestDefaultsAndParsing(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"B_BODY": "2MiB", "B_TIMEOUT": "250ms", "B_BROKERS": "a:1,b:2"}))
	if got := l.Bytes("B_BODY", 1<<20, 1, 1<<30, ""); got != 2<<20 {
		t.Errorf("bytes: %d", got)
	}
	if got := l.Duration("B_TIMEOUT", time.Second, 0, time.Hour, ""); got != 250*time.Millisecond {
		t.Errorf("duration: %v", got)
	}
	if got := l.Int("B_UNSET", 7, 0, 10, ""); got != 7 {
		t.Errorf("default int: %d", got)
	}
	if got := l.Addrs("B_BROKERS", "", ""); len(got) != 2 || got[1] != "b:2" {
		t.Errorf("addrs: %v", got)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	l.Usage(&sb)
	if !strings.Contains(sb.String(), "B_UNSET") || !strings.Contains(sb.String(), "(default 7)") {
		t.Errorf("usage misses a variable or its default:\n%s", sb.String())
	}
}

func TestSecretIsMasked(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"TOKEN": "hunter2"}))
	s := l.Secret("TOKEN", "", "")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprint(struct{ T envconfig.Secret }{s})} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal lost the value")
	}
}

func TestOptionalAddrs(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"SET": "a:1, b:2", "EMPTY": " ", "BAD": "nope"}))
	if got := l.OptionalAddrs("SET", ""); len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("SET: %q", got)
	}
	if got := l.OptionalAddrs("EMPTY", ""); got != nil {
		t.Errorf("EMPTY: %q", got)
	}
	if got := l.OptionalAddrs("UNSET", ""); got != nil {
		t.Errorf("UNSET: %q", got)
	}
	l.OptionalAddrs("BAD", "")
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "BAD:") || strings.Contains(err.Error(), "SET:") {
		t.Errorf("errors: %v", err)
	}
}
