package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/services/devstack/stack"
)

// TestWorkerKilledMidIngest is fault scenario 2: a worker process is killed
// (SIGKILL: no leave, no drain, no commit) while it ingests; the other
// worker takes over its partitions and every acknowledged write is stored
// exactly once.
func TestWorkerKilledMidIngest(t *testing.T) {
	s := startStackWith(t, stack.Config{Workers: 1})
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, "github.com/pawnshop/auction/services/worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	env, err := s.WorkerEnv("process-worker") // the cluster listener, a certificate naming it, the backends
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(append(os.Environ(), env...), "LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	eventually(t, 30*time.Second, func() error {
		_, body := call(t, s, "GET", "/readyz", "")
		if ws, _ := body["workers"].([]any); len(ws) != 2 {
			return fmt.Errorf("process worker has not joined: %v", body["workers"])
		}
		return nil
	})
	time.Sleep(2 * time.Second) // let the group hand it partitions

	const writes = 1000
	client := api(s)
	var acked atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > writes {
					return
				}
				_, err := client.AddItem(context.Background(), connect.NewRequest(&auctionv1.AddItemRequest{Id: fmt.Sprintf("kill-%04d", i),
					Name: "kill", Category: auctionv1.Category_CATEGORY_ELECTRONICS, PriceCents: 1, State: auctionv1.State_STATE_NEW}))
				if err == nil {
					acked.Add(1)
				} else {
					t.Errorf("write %d: %v", i, err)
				}
			}
		}()
	}
	eventually(t, 60*time.Second, func() error {
		if n := mongoCount(t, s, "items"); n < writes/5 {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	t.Logf("killed the process worker with %d items stored", mongoCount(t, s, "items"))
	wg.Wait()

	eventually(t, 90*time.Second, func() error {
		if n := mongoCount(t, s, "items"); n != acked.Load() {
			return fmt.Errorf("stored %d of %d acknowledged items", n, acked.Load())
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if n := mongoCount(t, s, "items"); n != acked.Load() || n != writes {
		t.Fatalf("stored %d items, acknowledged %d, sent %d", n, acked.Load(), writes)
	}
	for i := 1; i <= 20; i++ {
		if _, err := getItem(s, fmt.Sprintf("kill-%04d", i)); err != nil {
			t.Fatalf("read after the kill: %v", err)
		}
	}
}
