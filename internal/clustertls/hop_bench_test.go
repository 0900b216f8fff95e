package clustertls_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/clustertls"
	"github.com/pawnshop/auction/internal/httpserver"
)

// BenchmarkClusterHop measures one cluster call as a dispatcher makes it to
// a worker: a small POST over mutual TLS answered with about 3 KB, 8 calls
// in flight, client and server in this process. It reports the process's
// CPU time per call (cpu-µs/op), which on a shared machine varies less than
// the wall time. "http1" is Transport as the services use it; "h2" is the
// same transport speaking HTTP/2, as it did before, for comparison.
func BenchmarkClusterHop(b *testing.B) {
	p := newPKI(b)
	server, caller := p.member(worker1), p.member(dispatcher)
	answer := bytes.Repeat([]byte("x"), 3000)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/proto")
		_, _ = w.Write(answer)
	})
	s := httpserver.New("bench", "127.0.0.1:0", clustertls.WithPeer(h), discard, server.ServerOptions()...)
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	cfg := caller.ClientConfig(clustertls.Expect(worker1))
	for _, tc := range []struct {
		name  string
		proto int
		tr    func() *http.Transport
	}{
		{"http1", 1, func() *http.Transport { return clustertls.Transport(cfg) }},
		{"h2", 2, func() *http.Transport {
			t := clustertls.Transport(cfg)
			var protocols http.Protocols
			protocols.SetHTTP2(true)
			t.Protocols = &protocols
			t.ForceAttemptHTTP2 = true
			t.TLSClientConfig.NextProtos = []string{"h2"}
			return t
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr := tc.tr()
			b.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			body := bytes.Repeat([]byte("y"), 60)
			b.SetParallelism(4) // 8 in flight on 2 cores
			start := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := c.Post(s.URL()+"/cluster.v1.WorkerService/FetchItem", "application/proto", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					n, err := io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err != nil || n != int64(len(answer)) || res.ProtoMajor != tc.proto {
						b.Errorf("answer over %s: %d bytes, %v; want HTTP/%d and %d bytes", res.Proto, n, err, tc.proto, len(answer))
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((processCPU(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the CPU time (user and system, every thread) this process
// has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
