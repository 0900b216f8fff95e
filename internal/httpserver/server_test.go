package httpserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/httpserver"
)

// start runs a server for h with opts and stops it at the end of the test.
func start(t testing.TB, h http.Handler, opts ...httpserver.Option) *httpserver.Server {
	t.Helper()
	s := httpserver.New("test", "127.0.0.1:0", h, slog.New(slog.DiscardHandler), opts...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// bodyReader reports how reading each request body ended.
func bodyReader(results chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		results <- err
		if err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// trickle writes one byte every 50ms to w until stop is closed or a write fails.
func trickle(w io.Writer, stop <-chan struct{}) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
		}
	}
}

func waitErr(t *testing.T, results <-chan error) error {
	t.Helper()
	select {
	case err := <-results:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the handler was still reading a trickled body long after the body read deadline")
		return nil
	}
}

func TestBodyReadDeadlineCutsTrickleHTTP1(t *testing.T) {
	results := make(chan error, 1)
	s := start(t, bodyReader(results), httpserver.WithBodyReadTimeout(300*time.Millisecond))
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /item/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go trickle(conn, stop)
	if err := waitErr(t, results); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("reading a trickled body ended with %v, want a deadline error", err)
	}
}

func TestBodyReadDeadlineCutsTrickleHTTP2(t *testing.T) {
	results := make(chan error, 1)
	s := start(t, bodyReader(results), httpserver.WithBodyReadTimeout(300*time.Millisecond))
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols, TLSClientConfig: &tls.Config{}}}
	pr, pw := io.Pipe()
	stop := make(chan struct{})
	defer close(stop)
	go trickle(pw, stop)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/auction.v1.AuctionService/AddItem", pr)
	req.Header.Set("Content-Type", "application/json")
	go func() {
		res, err := client.Do(req)
		if err == nil {
			if res.ProtoMajor != 2 {
				results <- fmt.Errorf("response over %s, want HTTP/2", res.Proto)
			}
			res.Body.Close()
		}
	}()
	if err := waitErr(t, results); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("reading a trickled HTTP/2 body ended with %v, want a deadline error", err)
	}
}

// A body read in time lifts the deadline: a handler that works on after it
// keeps its context and its connection (HTTP/1 would otherwise cancel the
// request when its background read times out).
func TestBodyReadDeadlineLiftedAfterBody(t *testing.T) {
	timeout := 200 * time.Millisecond
	s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(3 * timeout)
		if err := r.Context().Err(); err != nil {
			http.Error(w, "context ended: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "done")
	}), httpserver.WithBodyReadTimeout(timeout))
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"name":"x"}`)
		}
		req, _ := http.NewRequest(method, s.URL()+"/", body)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(got) != "done" {
			t.Errorf("%s: %d %q, want 200 done", method, res.StatusCode, got)
		}
	}
}

// The reflection stream is exempt: its body is open for as long as the
// client browses.
func TestBodyReadDeadlineExemptsReflection(t *testing.T) {
	results := make(chan error, 1)
	s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		deadline := time.Now().Add(time.Second)
		var err error
		for time.Now().Before(deadline) && err == nil {
			_, err = r.Body.Read(buf)
		}
		results <- err
	}), httpserver.WithBodyReadTimeout(200*time.Millisecond))
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /grpc.reflection.v1.ServerReflection/ServerReflectionInfo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go trickle(conn, stop)
	if err := waitErr(t, results); err != nil {
		t.Fatalf("the reflection stream was cut: %v", err)
	}
}

// With a cap of one connection, a second client is not served while the
// first holds its connection, and is served once it closes.
func TestMaxConnections(t *testing.T) {
	entered := make(chan string, 2)
	release := make(chan struct{})
	s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.URL.Path
		if r.URL.Path == "/first" {
			<-release
		}
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "ok")
	}), httpserver.WithMaxConnections(1))

	first, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fmt.Fprintf(first, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	if p := <-entered; p != "/first" {
		t.Fatalf("entered %s", p)
	}
	second, err := net.Dial("tcp", s.Addr()) // completes in the kernel's backlog
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	fmt.Fprintf(second, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case p := <-entered:
		t.Fatalf("%s was served while the only connection slot was held", p)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if _, err := http.ReadResponse(bufio.NewReader(first), nil); err != nil {
		t.Fatal(err)
	}
	first.Close()
	select {
	case p := <-entered:
		if p != "/second" {
			t.Fatalf("entered %s", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second client was not served after the first left")
	}
}
