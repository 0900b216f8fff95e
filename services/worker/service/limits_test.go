package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"buf.build/go/protovalidate"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/worker/app"
	"github.com/pawnshop/auction/services/worker/config"
	"github.com/pawnshop/auction/services/worker/ports"
	"github.com/prometheus/client_golang/prometheus"
)

type noItems struct{}

func (noItems) Item(context.Context, string) (*auctionv1.ItemWithHistory, error) {
	return nil, app.ErrNotFound
}

func (noItems) Items(context.Context, app.Filter, string, int) ([]*auctionv1.ItemWithHistory, error) {
	return nil, nil
}

// startWorkerPort serves the worker's real handler with the default
// configuration.
func startWorkerPort(t testing.TB) (string, config.Config) {
	t.Helper()
	c := config.Load(envconfig.New(envconfig.FromMap(nil)))
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	h := ports.NewWorkerHandler(app.NewFetch(noItems{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(newHandler(c, h, v, prometheus.NewRegistry(), false))
	t.Cleanup(srv.Close)
	return srv.URL + "/cluster.v1.WorkerService/FetchItem", c
}

// countingZeros is a body of n zero bytes that counts what was read of it.
type countingZeros struct {
	left int64
	read atomic.Int64
}

func (z *countingZeros) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	z.read.Add(int64(n))
	return n, nil
}

// connectCode posts body as a Connect unary call and returns the error code
// and message of the answer.
func connectCode(t testing.TB, url string, body io.Reader, size int64, encoding string) (code, msg string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/proto")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	var e struct{ Code, Message string }
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("status %d, body %q is not a Connect error", res.StatusCode, raw)
	}
	return e.Code, e.Message
}

// TestHugeBodyIsRefusedWithoutReadingIt: a 100 MB request body is refused
// with resource_exhausted after about MAX_BODY_BYTES are read, not received
// whole (Connect's own limit reads the rest to report its size).
func TestHugeBodyIsRefusedWithoutReadingIt(t *testing.T) {
	url, c := startWorkerPort(t)
	const size = 100 << 20
	body := &countingZeros{left: size}
	code, msg := connectCode(t, url, body, size, "")
	if code != "resource_exhausted" {
		t.Fatalf("code %q (%s), want resource_exhausted", code, msg)
	}
	// Loopback socket buffers may hold a few MB the server never read.
	read := body.read.Load()
	t.Logf("read %d of %d bytes before the refusal (cap %d)", read, size, c.MaxBodyBytes)
	if read > 16<<20 {
		t.Fatalf("the server took %d bytes of a body capped at %d", read, c.MaxBodyBytes)
	}
}

// gzipBomb is a gzip stream of members that each inflate 1 MiB of zeros,
// just under limit bytes compressed, and the size it inflates to.
func gzipBomb(t testing.TB, limit int64) ([]byte, int64) {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	n := limit / int64(member.Len())
	return bytes.Repeat(member.Bytes(), int(n)), n << 20
}

// TestGzipBombIsRefusedWithoutInflatingIt: a ~1 MB gzip body inflating to
// over 1 GB is refused with resource_exhausted once the inflated size
// passes the cap. Without the capped decompressor, Connect inflates it to
// the end (its message then reports the full inflated size) and without a
// read cap the server holds the whole gigabyte.
func TestGzipBombIsRefusedWithoutInflatingIt(t *testing.T) {
	url, c := startWorkerPort(t)
	bomb, inflated := gzipBomb(t, c.MaxBodyBytes-64)
	if inflated < 1e9 {
		t.Fatalf("bomb inflates to %d bytes only", inflated)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, msg := connectCode(t, url, bytes.NewReader(bomb), int64(len(bomb)), "gzip")
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte bomb inflating to %d: %s %q, %d bytes allocated", len(bomb), inflated, code, msg, allocated)
	if code != "resource_exhausted" {
		t.Fatalf("code %q (%s), want resource_exhausted", code, msg)
	}
	if strings.Contains(msg, strconv.FormatInt(inflated, 10)) {
		t.Fatalf("the server inflated the whole bomb to report its size: %s", msg)
	}
	if allocated > 64<<20 {
		t.Fatalf("%d bytes allocated for a request capped at %d", allocated, c.MaxBodyBytes)
	}
}

// TestSmallGzipRequestsStillWork: the capped decompressor serves requests
// under the cap.
func TestSmallGzipRequestsStillWork(t *testing.T) {
	url, _ := startWorkerPort(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	// FetchItemRequest{id: "i1"}: field 1, length 2.
	if _, err := zw.Write([]byte{0x0a, 0x02, 'i', '1'}); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if code, msg := connectCode(t, url, &buf, int64(buf.Len()), "gzip"); code != "not_found" {
		t.Fatalf("code %q (%s), want not_found from the handler", code, msg)
	}
}
