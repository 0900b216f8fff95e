package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// drainKey is the API key the dev stack processes of TestDevstackCtrlCLosesNoWrite accept.
const drainKey = "ak_drain0123456789abcdef0123456789"

// TestDevstackCtrlCLosesNoWrite runs the dev stack binary, sends SIGINT
// (Ctrl-C) in the middle of a burst of writes, and checks that it exits 0
// after its drain, and that after a restart on the same data directory every
// write answered 202 is fetched, the workers re-ingest nothing (the consumer
// offsets persisted), and a fraud list PUT before the stop is still there
// (the S3 objects persisted, the sample not seeded over it).
func TestDevstackCtrlCLosesNoWrite(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devstack")
	build := exec.Command("go", "build", "-o", bin, "github.com/pawnshop/auction/services/devstack")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build devstack: %v\n%s", err, out)
	}
	dataDir := t.TempDir()

	first := startDevstack(t, bin, dataDir)
	fraudList := "# changed before the stop\ntrudy-drain\n"
	if code := s3Put(t, first.s3+"/auction/fraud/fraudsters.txt", fraudList); code != http.StatusOK {
		t.Fatalf("PUT fraud list: %d", code)
	}

	const writes = 1000
	var (
		mu      sync.Mutex
		acked   []string
		refused atomic.Int64
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > writes {
					return
				}
				id := fmt.Sprintf("drain-%04d", i)
				body := fmt.Sprintf(`{"id":%q,"name":"drain","category":"CATEGORY_ELECTRONICS","priceCents":1,"state":"STATE_NEW"}`, id)
				code, err := devstackCall(client, http.MethodPost, first.url+"/item/add", body)
				if err == nil && code == http.StatusAccepted {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	// SIGINT once a fair share is acknowledged, while the rest is sent.
	eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < writes/4 {
			return fmt.Errorf("%d acknowledged", len(acked))
		}
		return nil
	})
	if err := first.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := first.wait(t, 60*time.Second)
	wg.Wait()
	t.Logf("sent %d writes: %d answered 202, %d refused or failed (after the SIGINT)", writes, len(acked), refused.Load())
	drained := regexp.MustCompile(`drained: \d+ events stored while stopping, none left`).FindString(first.stderr())
	t.Logf("first run: exit status %d, %q", code, drained)
	if code != 0 {
		t.Errorf("exit status after SIGINT: %d, want 0; stderr tail:\n%s", code, tail(first.stderr(), 20))
	}
	if drained == "" {
		t.Errorf("no complete drain logged; stderr tail:\n%s", tail(first.stderr(), 20))
	}
	if len(acked) < writes/4 || refused.Load() == 0 {
		t.Fatalf("the SIGINT did not land in the burst: %d acknowledged, %d refused", len(acked), refused.Load())
	}

	second := startDevstack(t, bin, dataDir)
	var missing []string
	eventually(t, 60*time.Second, func() error {
		missing = missing[:0]
		for _, id := range acked {
			code, err := devstackCall(client, http.MethodGet, second.url+"/item/fetch/"+id, "")
			if err != nil || code != http.StatusOK {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d acknowledged writes not fetched after the restart, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
		}
		return nil
	})
	t.Logf("after the restart: all %d acknowledged writes fetched", len(acked))
	if n := committedRecords(t, client, second.url); drained != "" && n != 0 {
		t.Errorf("the restarted workers ingested %d records again: the consumer offsets were not kept", n)
	}
	res, err := http.Get(second.s3 + "/auction/fraud/fraudsters.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(got) != fraudList {
		t.Errorf("fraud list after the restart: %q, want the one PUT before the stop %q", got, fraudList)
	}
	if err := second.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := second.wait(t, 60*time.Second); code != 0 {
		t.Errorf("second run: exit status after SIGINT: %d, want 0", code)
	}
}

// devstackProc is a dev stack process of the test.
type devstackProc struct {
	cmd  *exec.Cmd
	url  string // the API
	s3   string // the embedded S3
	errs *syncBuffer
	done chan struct{}
}

func (p *devstackProc) stderr() string { return p.errs.String() }

// wait waits for the process to exit within d and returns its exit status.
func (p *devstackProc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("the dev stack did not exit within %s after SIGINT; stderr tail:\n%s", d, tail(p.stderr(), 20))
	}
	return p.cmd.ProcessState.ExitCode()
}

// startDevstack runs bin on free loopback ports and dataDir with the test's
// API key, and waits until it is ready.
func startDevstack(t testing.TB, bin, dataDir string) *devstackProc {
	t.Helper()
	httpAddr, s3Addr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "-http-addr", httpAddr, "-kafka-addr", freeAddr(t), "-mongo-addr", freeAddr(t), "-s3-addr", s3Addr,
		"-data-dir", dataDir, "-api-key", drainKey, "-workers", "2")
	cmd.Env = os.Environ()
	p := &devstackProc{cmd: cmd, url: "http://" + httpAddr, s3: "http://" + s3Addr, errs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, p.errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("dev stack stderr tail:\n%s", tail(p.stderr(), 40))
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, 2*time.Minute, func() error {
		select {
		case <-p.done:
			t.Fatalf("the dev stack exited at start (%v); stderr tail:\n%s", cmd.ProcessState, tail(p.stderr(), 20))
		default:
		}
		code, err := devstackCall(client, http.MethodGet, p.url+"/readyz", "")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("readyz: %d", code)
		}
		return nil
	})
	return p
}

// devstackCall sends one API call with the test's key and returns the status.
func devstackCall(c *http.Client, method, url, body string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+drainKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// committedRecords sums the workers' auction_worker_records_committed_total
// series of the stack's /metrics.
func committedRecords(t testing.TB, c *http.Client, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+drainKey)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "auction_worker_records_committed_total{") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			n += int(v)
		}
	}
	return n
}

// s3Put puts body at url unsigned, as the README's curl does.
func s3Put(t testing.TB, url, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
