package service

import (
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
)

type testConfig struct {
	Once     bool
	Interval time.Duration
	Addr     string
}

func loadTest(l *envconfig.Loader) testConfig {
	return testConfig{
		Once:     l.Bool("FEED_ONCE", false, "one pass"),
		Interval: l.Duration("FEED_INTERVAL", time.Second, 100*time.Millisecond, time.Hour, "period"),
		Addr:     l.Addr("HTTP_ADDR", "127.0.0.1:8080", "listen address"),
	}
}

var testFlags = []Flag{
	{Name: "once", Var: "FEED_ONCE", Usage: "one pass", Bool: true},
	{Name: "feed-interval", Var: "FEED_INTERVAL", Usage: "period"},
	{Name: "http-addr", Var: "HTTP_ADDR", Usage: "listen address"},
}

func configure(args []string, env map[string]string) (testConfig, int, bool, string) {
	var stderr strings.Builder
	c, _, code, ok := Configure("svc", "a test service", args, &stderr, envconfig.FromMap(env), loadTest, testFlags...)
	return c, code, ok, stderr.String()
}

func TestFlagsSetVariablesAndWinOverTheEnvironment(t *testing.T) {
	c, _, ok, out := configure([]string{"-once", "-feed-interval", "250ms"}, map[string]string{"FEED_INTERVAL": "5s", "HTTP_ADDR": "127.0.0.1:0"})
	if !ok || !c.Once || c.Interval != 250*time.Millisecond || c.Addr != "127.0.0.1:0" {
		t.Fatalf("%+v ok=%v %s", c, ok, out)
	}
}

func TestFlagValuesAreCheckedLikeTheEnvironmentsAndListedTogether(t *testing.T) {
	_, code, ok, out := configure([]string{"-feed-interval", "1ms", "-http-addr", "nowhere"}, map[string]string{"LOG_LEVEL": "loud"})
	if ok || code != 2 {
		t.Fatalf("ok=%v code=%d", ok, code)
	}
	for _, want := range []string{"FEED_INTERVAL: 1ms is out of range", `HTTP_ADDR: "nowhere" is not host:port`, "LOG_LEVEL:"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpListsFlagsAndVariables(t *testing.T) {
	_, code, ok, out := configure([]string{"-help"}, nil)
	if ok || code != 0 {
		t.Fatalf("ok=%v code=%d", ok, code)
	}
	for _, want := range []string{"-once", "(sets FEED_ONCE=true)", "-feed-interval", "FEED_INTERVAL", "(default 1s)", "LOG_LEVEL"} {
		if !strings.Contains(out, want) {
			t.Errorf("-help lacks %q:\n%s", want, out)
		}
	}
	if _, code, ok, _ := configure([]string{"-nope"}, nil); ok || code != 2 {
		t.Errorf("unknown flag: ok=%v code=%d, want 2", ok, code)
	}
}

func TestConfigurationProblemsAreBulletsWithTheRightPlural(t *testing.T) {
	_, code, ok, out := configure([]string{"-http-addr", "nowhere"}, nil)
	if ok || code != 2 {
		t.Fatalf("ok=%v code=%d", ok, code)
	}
	want := "svc: invalid configuration (1 problem):\n  - HTTP_ADDR: \"nowhere\" is not host:port\n(run svc -help for every variable)\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	_, _, _, out = configure([]string{"-http-addr", "nowhere", "-feed-interval", "1ms"}, nil)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "svc: invalid configuration (2 problems):" || !strings.HasPrefix(lines[1], "  - ") || !strings.HasPrefix(lines[2], "  - ") {
		t.Errorf("want a header, 2 bullets and the hint, got:\n%s", out)
	}
}
