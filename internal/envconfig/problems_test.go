package envconfig_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
)

func TestProblemsAreOneBulletEachWithTheRightPlural(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"ONE_ADDR": "nohost"}))
	l.Addr("ONE_ADDR", "", "")
	err := l.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	if want := "invalid configuration (1 problem):\n  - ONE_ADDR: \"nohost\" is not host:port"; err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}

	l = envconfig.New(envconfig.FromMap(map[string]string{"TWO_ADDR": "nohost", "TWO_INT": "x"}))
	l.Addr("TWO_ADDR", "", "")
	l.Int("TWO_INT", 1, 0, 2, "")
	l.Fail("TWO_MULTI", "first line\nsecond line")
	lines := strings.Split(l.Err().Error(), "\n")
	if len(lines) != 4 || lines[0] != "invalid configuration (3 problems):" {
		t.Fatalf("want a header and 3 lines, got %q", lines)
	}
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, "  - ") {
			t.Errorf("line %q is not a bullet", line)
		}
	}
	if lines[3] != "  - TWO_MULTI: first line second line" {
		t.Errorf("a multi-line problem is not one line: %q", lines[3])
	}
	var one *envconfig.Error
	if !errors.As(l.Err(), &one) || one.Var != "TWO_ADDR" {
		t.Errorf("errors.As(*Error): %v", one)
	}
}

func TestUsageShowsDefaultsOnce(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(nil))
	l.Secret("DB_URI", "mongodb://admin:hunter2@127.0.0.1:27017", "database")
	l.Secret("TOKEN", "t0ps3cret-built-in", "token")
	l.String("EMPTY", "", "nothing by default")
	if got := l.Derived("ADVERTISE", "http://HTTP_ADDR", "URL to advertise"); got != "" {
		t.Errorf("unset derived: %q", got)
	}
	var sb strings.Builder
	l.Usage(&sb)
	out := sb.String()
	for _, bad := range []string{"hunter2", "t0ps3cret", "(set)", `""`} {
		if strings.Contains(out, bad) {
			t.Errorf("usage shows %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"(default mongodb://admin:xxxxx@127.0.0.1:27017)", "(default built in, not shown)", "URL to advertise (default http://HTTP_ADDR)\n", "nothing by default\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "default"); n != 4 {
		t.Errorf("want 4 defaults shown (one per line with a default, plus the EMPTY help text's word), got %d:\n%s", n, out)
	}
}

func TestDerivedReadsTheValue(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"ADVERTISE": " https://w1:9101 "}))
	if got := l.Derived("ADVERTISE", "https://HTTP_ADDR", ""); got != "https://w1:9101" {
		t.Errorf("got %q", got)
	}
}
