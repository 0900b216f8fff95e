package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/services/devstack/stack"
	"github.com/pawnshop/auction/services/devstack/stack/stacktest"
)

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs auctionctl with args, as a person would type them.
func ctl(args ...string) result {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// json decodes the printed response.
func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("stdout is not JSON (%v): %q, stderr %q", err, r.stdout, r.stderr)
	}
	return m
}

// startStack runs the platform in-process on random ports.
func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	return stacktest.Start(t, stack.Config{Workers: 1})
}

func TestRunHelp(t *testing.T) {
	r := ctl("-help")
	if r.code != 0 {
		t.Fatalf("-help: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"-addr", "-protocol", "-timeout", "add", "buy", "sell", "pawn", "get", "list",
		"-name", "-category", "-price-cents", "-state", "-id", "-age-months", "-client", "-item", "-date",
		"-profit-cents", "-tax-cents", "-limit-days", "-limit", "-page-token", "DECORATION", "GOOD"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-help does not mention %s", want)
		}
	}
	for _, cmd := range []string{"add", "buy", "sell", "pawn", "get", "list"} {
		if r := ctl(cmd, "-help"); r.code != 0 || !strings.Contains(r.stdout, "auctionctl [global flags] "+cmd) {
			t.Errorf("%s -help: exit %d, stdout %q", cmd, r.code, r.stdout)
		}
	}
	if r := ctl("help", "list"); r.code != 0 || !strings.Contains(r.stdout, "-page-token") {
		t.Errorf("help list: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"-protocol", "carrier-pigeon", "get", "x"},
		{"-addr", "127.0.0.1:8080", "get", "x"},
		{"add", "-category", "FURNITURE"},
		{"add", "-undefined"},
		{"buy", "-date", "yesterday"},
		{"get"},
		{"get", "a", "b"},
		{"list"},
		{"list", "-name", "x", "-state", "GOOD"},
	} {
		r := ctl(args...)
		if r.code != 2 || !strings.Contains(r.stderr, "-help") || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and a pointer to -help", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestRunEndToEnd(t *testing.T) {
	s := startStack(t)
	addr := []string{"-addr", s.URL()}
	id := fmt.Sprintf("lamp-%d", time.Now().UnixNano())
	// The stack runs with authentication on: every call carries its key,
	// as a person's shell would after pasting the banner's export line.
	env := map[string]string{tokenEnv: s.APIKey()}
	ctl := func(args ...string) result { return ctlEnv(env, args...) }

	t.Run("without a credential", func(t *testing.T) {
		for _, protocol := range []string{"connect", "grpc", "grpcweb"} {
			r := ctlEnv(nil, append(addr, "-protocol", protocol, "get", "any-item")...)
			if r.code != exitCall || !strings.Contains(r.stderr, "unauthenticated") || !strings.Contains(r.stderr, "export AUCTION_TOKEN=") {
				t.Errorf("%s: exit %d, stderr %q; want unauthenticated and how to set AUCTION_TOKEN", protocol, r.code, r.stderr)
			}
		}
		r := ctlEnv(map[string]string{tokenEnv: "ak_not-the-stacks-key-0000000000"}, append(addr, "get", "any-item")...)
		if r.code != exitCall || !strings.Contains(r.stderr, "unauthenticated") || !strings.Contains(r.stderr, "did not accept") {
			t.Errorf("a wrong key: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	r := ctl(append(addr, "add", "-id", id, "-name", "Brass lamp", "-category", "decoration",
		"-price-cents", "1999", "-state", "STATE_GOOD", "-age-months", "120")...)
	if r.code != 0 {
		t.Fatalf("add: exit %d, stderr %q", r.code, r.stderr)
	}
	if added := r.json(t); added["itemId"] != id || added["eventId"] == "" || added["writeStatus"] != "WRITE_STATUS_PUBLISHED" {
		t.Fatalf("add printed %v", added)
	}

	// Each protocol in turn, through the same generated client.
	for i, protocol := range []string{"connect", "grpc", "grpcweb"} {
		r := ctl(append(addr, "-protocol", protocol, "buy", "-client", "alice", "-item", id,
			"-price-cents", fmt.Sprint(1500+i), "-date", fmt.Sprintf("2026-11-0%dT10:00:00Z", i+1))...)
		if r.code != 0 || r.json(t)["eventId"] == "" {
			t.Fatalf("buy over %s: exit %d, stdout %q, stderr %q", protocol, r.code, r.stdout, r.stderr)
		}
	}

	// Stored asynchronously: the first read also waits for the consumer
	// group's first assignment, so poll, but within a bound.
	var item map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = ctl(append(addr, "-protocol", "grpc", "get", id)...)
		if r.code == 0 {
			item, _ = r.json(t)["item"].(map[string]any)
			if buys, _ := item["buys"].([]any); len(buys) == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("get %s: the item with its 3 buys did not show within 30s: exit %d, stdout %q, stderr %q", id, r.code, r.stdout, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if it, _ := item["item"].(map[string]any); it["name"] != "Brass lamp" || it["category"] != "CATEGORY_DECORATION" || it["priceCents"] != "1999" {
		t.Errorf("get printed item %v", it)
	}
	if buy := item["buys"].([]any)[0].(map[string]any); buy["clientId"] != "alice" || buy["priceCents"] != "1500" || buy["date"] != "2026-11-01T10:00:00Z" {
		t.Errorf("get printed buy %v", buy)
	}

	r = ctl(append(addr, "list", "-category", "CATEGORY_DECORATION", "-limit", "100")...)
	if r.code != 0 {
		t.Fatalf("list: exit %d, stderr %q", r.code, r.stderr)
	}
	found := false
	for _, x := range r.json(t)["items"].([]any) {
		if x.(map[string]any)["item"].(map[string]any)["id"] == id {
			found = true
		}
	}
	if !found {
		t.Errorf("list -category CATEGORY_DECORATION does not show %s: %s", id, r.stdout)
	}

	t.Run("validation error", func(t *testing.T) {
		for _, protocol := range []string{"connect", "grpc"} {
			r := ctl(append(addr, "-protocol", protocol, "add", "-name", "", "-category", "MOTOR", "-state", "new", "-price-cents", "-1")...)
			if r.code != 1 || r.stdout != "" {
				t.Fatalf("%s: exit %d, stdout %q; want exit 1 and nothing on stdout", protocol, r.code, r.stdout)
			}
			for _, want := range []string{"invalid_argument", "  - name: ", "  - priceCents: ", "(int64.gt_lte)"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s: stderr lacks %q:\n%s", protocol, want, r.stderr)
				}
			}
			t.Logf("%s:\n%s", protocol, r.stderr)
		}
	})

	t.Run("not found", func(t *testing.T) {
		r := ctl(append(addr, "get", "no-such-item")...)
		if r.code != 1 || !strings.Contains(r.stderr, "not_found") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
