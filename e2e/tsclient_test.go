//go:build unix

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTSClient runs the TypeScript client's own test suite (clients/ts,
// `npm test`: tsc, then node --test) against an in-process platform, so the
// generated Connect-ES code is exercised the way a TypeScript program uses it.
func TestTSClient(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "clients", "ts")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("clients/ts/node_modules is missing: run `npm ci --prefix clients/ts` once "+
			"(bash scripts/test.sh does it) and run the test again (%v)", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not on PATH; the TypeScript client needs Node.js 20 or later with npm: %v", err)
	}
	s := startStack(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "test", "--prefix", dir)
	cmd.Env = append(os.Environ(), "AUCTION_URL="+s.URL(), "AUCTION_TOKEN="+s.APIKey(), "NO_COLOR=1")
	// npm starts tsc and node, which starts one process per test file: on
	// timeout the whole process group goes, not only npm.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("npm test --prefix clients/ts did not finish within 50s:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("npm test --prefix clients/ts failed (%v); if dependencies changed, run `npm ci --prefix clients/ts`:\n%s", err, out.String())
	}
	// The closing counts of node's test runner (TAP "# pass 5" or spec "ℹ pass 5").
	if !regexp.MustCompile(`(?m)^(#|ℹ) pass [1-9]`).MatchString(out.String()) {
		t.Fatalf("npm test --prefix clients/ts passed without a test summary:\n%s", out.String())
	}
	t.Logf("npm test --prefix clients/ts passed in %s:\n%s", time.Since(start).Round(time.Millisecond), summary(out.String()))
}

// closing matches the node test runner's per-test results and counts, in
// its TAP and spec formats.
var closing = regexp.MustCompile(`^(ok |not ok |[✔✖] |(#|ℹ) (tests|pass|fail) )`)

// summary keeps the node test runner's results and closing counts.
func summary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if closing.MatchString(l) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
