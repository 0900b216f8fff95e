//go:build unix

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/services/devstack/stack"
)

// chromium is Debian's Chromium; the browser tests never download a browser.
const chromium = "/usr/bin/chromium"

// TestBrowserSwaggerUI starts the platform and has a person's browser use
// Swagger UI at /docs/: add an item through "Try it out" and fetch it back
// (e2e/browser/swagger.test.mjs, playwright-core driving headless Chromium).
// The script leaves a screenshot in artifacts/swagger-ui.png.
func TestBrowserSwaggerUI(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: the browser tests need Debian's Chromium; install it with "+
			"'apt-get update && apt-get install -y chromium' (.ci/run does)", chromium)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: the browser tests run under Node.js: %v", err)
	}
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "e2e/browser/node_modules/playwright-core/package.json")); err != nil {
		t.Fatalf("playwright-core is not installed in e2e/browser: run 'npm ci --prefix e2e/browser' (scripts/test.sh does)")
	}

	s := startStackWith(t, stack.Config{Workers: 1})
	// The first item also waits for the consumer group's first assignment;
	// wait for that here so that the UI's item is stored within its retries.
	added, err := api(s).AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Name: "warm-up",
		Category: auctionv1.Category_CATEGORY_COLLECTION, PriceCents: 1, State: auctionv1.State_STATE_NEW}))
	if err != nil {
		t.Fatalf("warm-up add: %v", err)
	}
	eventually(t, 30*time.Second, func() error {
		if _, err := getItem(s, added.Msg.GetItemId()); err != nil {
			return fmt.Errorf("warm-up fetch: %w", err)
		}
		return nil
	})
	// /docs without the slash leads to the page.
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.URL() + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/docs/" {
		t.Errorf("GET /docs: %d to %q, want 301 to /docs/", res.StatusCode, res.Header.Get("Location"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/browser/swagger.test.mjs")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "AUCTION_URL="+s.URL(), "AUCTION_TOKEN="+s.APIKey(), "CHROMIUM="+chromium)
	// Chromium is node's child: on a time-out, end the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out: %w", err)
		}
		t.Fatalf("e2e/browser/swagger.test.mjs failed (%v); its output:\n%s", err, out)
	}
	t.Logf("e2e/browser/swagger.test.mjs:\n%s", strings.TrimSpace(string(out)))
}
