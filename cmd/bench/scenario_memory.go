package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// scenarioMemory measures the peak resident memory of a dispatcher and of a
// worker as separate processes: in the dev stack they share this process
// with the brokers, the database and the load generator, whose peak (also
// reported, phase by phase) says nothing about either service alone. Both
// are built from ./services/dispatcher and ./services/worker, run on the dev
// stack's backends (the worker on a fresh database) and driven with writes
// and reads of the written items for twice the run duration; their VmHWM is
// read from /proc/<pid>/status.
func (b *bench) scenarioMemory(ctx context.Context) error {
	b.res.Memory.Note = "In-process rows: the whole bench process (embedded Kafka keeps every topic in memory, FerretDB, miniredis, " +
		"the dispatcher, the workers, the baselines and the load generator); VmHWM never goes down, so each row is the peak so far."
	if !b.o.Processes {
		b.res.Memory.Note += " The separate dispatcher and worker processes were not measured (-processes=false; off in quick mode)."
		return nil
	}
	b.res.Memory.Note += " Process rows: a dispatcher and a worker built from ./services/dispatcher and ./services/worker, run as " +
		"their own processes on the same backends, under the load shown."
	dir, err := os.MkdirTemp("", "auction-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, svc := range []string{"dispatcher", "worker"} {
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, svc), "github.com/pawnshop/auction/services/"+svc)
		if out, err := build.CombinedOutput(); err != nil {
			b.res.Memory.Note += fmt.Sprintf(" Not measured: building the %s failed: %v: %s", svc, err, strings.TrimSpace(string(out)))
			return nil
		}
	}
	url, disp, work, err := b.startProcesses(ctx, dir)
	if err != nil {
		return err
	}
	defer disp.stop()
	defer work.stop()
	if err := b.waitStatus(ctx, url+"/readyz", http.StatusOK, time.Minute); err != nil {
		return fmt.Errorf("the process dispatcher and worker did not become ready: %w", err)
	}
	// Writers: half the write scenario's concurrency; readers: the read
	// rounds' (by default the dispatcher's MAX_INFLIGHT_READS), so that the
	// reads are served rather than refused by admission control.
	writers, readers := max(1, b.o.Concurrency/2), max(1, min(b.o.Concurrency/2, b.o.ReadConcurrency))
	d := 2 * b.o.Duration
	writes, reads := b.processLoad(ctx, url, writers, readers, d)
	load := fmt.Sprintf("%.0fs of writes (%d in flight, %.0f/s) and reads (%d in flight, %.0f/s, %d errors) through it", d.Seconds(),
		writers, writes.Rate, readers, reads.Rate, reads.Errors)
	b.res.Memory.Processes = append(b.res.Memory.Processes,
		Process{Name: "dispatcher process", HWMMiB: disp.hwm(), Load: load},
		Process{Name: "worker process", HWMMiB: work.hwm(), Load: load + "; it also ingests the writes"})
	return nil
}

// startProcesses starts the dispatcher and the worker built in dir on the
// dev stack's backends, the worker on a fresh database and a group
// positioned at the end of the topics, and returns the dispatcher's URL.
// The caller stops both.
func (b *bench) startProcesses(ctx context.Context, dir string) (url string, disp, work *process, err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, nil, err
	}
	url = "http://" + port
	clusterPort, err := freePort()
	if err != nil {
		return "", nil, nil, err
	}
	// Workers join over cluster mTLS: the dispatcher takes the stack's
	// dispatcher certificate, the worker its own from the stack's CA.
	tlsEnv, err := b.s.DispatcherTLSEnv()
	if err != nil {
		return "", nil, nil, err
	}
	disp, err = startProcess(filepath.Join(dir, "dispatcher"), append(tlsEnv, "HTTP_ADDR="+port, "CLUSTER_ADDR="+clusterPort,
		"KAFKA_BROKERS="+strings.Join(b.s.Brokers(), ","),
		"CLUSTER_TOKEN="+b.s.ClusterToken(), "REDIS_URL="+b.s.RedisURL(), "DISPATCHER_ID=bench-process-dispatcher", "READY_MIN_WORKERS=1", "LOG_LEVEL=error",
		// The stack's key file: the load sends the stack's key.
		"API_KEYS_FILE="+b.s.APIKeysFile())...)
	if err != nil {
		return "", nil, nil, err
	}
	fail := func(err error) (string, *process, *process, error) {
		disp.stop()
		return "", nil, nil, err
	}
	ends, err := b.admin.ends()
	if err != nil {
		return fail(err)
	}
	group := fmt.Sprintf("bench-%s-process", b.run)
	if err := b.admin.position(ctx, group, ends); err != nil {
		return fail(err)
	}
	db := b.db("process")
	workerEnv, err := b.s.WorkerEnv("bench-process-worker")
	if err != nil {
		return fail(err)
	}
	// Later duplicates win in a process's environment: this dispatcher, a
	// fresh group and database.
	work, err = startProcess(filepath.Join(dir, "worker"), append(workerEnv, "DISPATCHER_URL=https://"+clusterPort,
		"KAFKA_GROUP="+group, "MONGO_DATABASE="+db, "LOG_LEVEL=error")...)
	if err != nil {
		return fail(err)
	}
	return url, disp, work, nil
}

// processLoad drives the processes at url for d with writers and readers of
// the written items, closed-loop, and returns both samples.
func (b *bench) processLoad(ctx context.Context, url string, writers, readers int, d time.Duration) (writes, reads Sample) {
	var wg sync.WaitGroup
	var written atomic.Int64 // items 0..written-1 were acknowledged
	wg.Add(2)
	go func() {
		defer wg.Done()
		var acked sync.Mutex
		writes = closedLoop(ctx, writers, d, b.o.MaxRequests, func(ctx context.Context, i int) error {
			if err := b.post(ctx, url+"/item/add", itemBody(fmt.Sprintf("mem-%s-%d", b.run, i)), nil); err != nil {
				return err
			}
			acked.Lock()
			written.Store(max(written.Load(), int64(i)))
			acked.Unlock()
			return nil
		})
	}()
	go func() {
		defer wg.Done()
		// Reads of written items: 200 when stored, 404 while not yet.
		reads = closedLoop(ctx, readers, d, b.o.MaxRequests, func(ctx context.Context, i int) error {
			n := written.Load()
			if n == 0 {
				return ctxSleep(ctx, 5*time.Millisecond)
			}
			err := b.get(ctx, url+"/item/fetch/"+fmt.Sprintf("mem-%s-%d", b.run, int64(i*7919)%n), http.StatusOK)
			if err != nil && strings.Contains(err.Error(), "status 404") {
				return nil
			}
			return err
		})
	}()
	wg.Wait()
	return writes, reads
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

type process struct {
	cmd  *exec.Cmd
	once sync.Once
}

func startProcess(bin string, env ...string) (*process, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return &process{cmd: cmd}, nil
}

func (p *process) hwm() float64 {
	return procField(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), "VmHWM") / 1024
}

// stop asks the process to shut down and kills it after 20 seconds.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
}

// waitStatus polls url until it answers want.
func (b *bench) waitStatus(ctx context.Context, url string, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		if last = b.get(ctx, url, want); last == nil {
			return nil
		}
		if err := ctxSleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.Join(errors.New("timed out"), last)
}
