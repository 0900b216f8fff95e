package s3_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/embedded"
	"github.com/pawnshop/auction/services/feeder/adapters/s3"
)

const key = "fraud/fraudsters.txt"

// isolateAWS clears every credential source the SDK's chain could find on
// the machine, so that the test decides which credentials exist.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_EC2_METADATA_DISABLED"} {
		t.Setenv(v, "")
		_ = os.Unsetenv(v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

// recorder sits between the SDK and the S3 stand-in and notes whether
// requests were signed.
type recorder struct {
	mu     sync.Mutex
	signed []bool
}

func (r *recorder) wrap(t *testing.T, endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.signed = append(r.signed, strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256"))
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (r *recorder) all(want bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.signed {
		if s != want {
			return false
		}
	}
	return len(r.signed) > 0
}

func startS3(t *testing.T, seed map[string][]byte) *embedded.S3 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := embedded.StartS3(ctx, embedded.S3Config{Bucket: "auction", Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newSource(t *testing.T, endpoint string, logs io.Writer) *s3.Source {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	src := s3.New(s3.Config{Endpoint: endpoint, Region: "us-east-1", Bucket: "auction", Key: key},
		slog.New(slog.NewJSONHandler(logs, nil)))
	if err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestS3StatAndOpenAgainstGofakes3(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "dev")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "devsecret")
	body := []byte("mallory\neve\n")
	s := startS3(t, map[string][]byte{key: body})
	rec := &recorder{}
	var logs bytes.Buffer
	src := newSource(t, rec.wrap(t, s.Endpoint()), &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	info, err := src.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag == "" || info.Size != int64(len(body)) {
		t.Fatalf("Stat: %+v", info)
	}
	rc, got, err := src.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(data, body) || got != info {
		t.Fatalf("Open: %q %+v (Stat said %+v), %v", data, got, info, err)
	}

	// A new object (here an unsigned PUT, as with curl) has a new ETag.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, s.Endpoint()+"/auction/"+key, strings.NewReader("eve\n"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if next, err := src.Stat(ctx); err != nil || next.ETag == info.ETag || next.Size != 4 {
		t.Fatalf("after PUT: %+v, %v", next, err)
	}
	if !rec.all(true) {
		t.Error("requests were not signed although credentials are configured")
	}
	if strings.Contains(logs.String(), "unsigned") {
		t.Errorf("fell back to anonymous although credentials are configured:\n%s", &logs)
	}
}

func TestS3NoCredentialsMeansAnonymousForACustomEndpoint(t *testing.T) {
	isolateAWS(t)
	s := startS3(t, map[string][]byte{key: []byte("mallory\n")})
	rec := &recorder{}
	var logs bytes.Buffer
	start := time.Now()
	src := newSource(t, rec.wrap(t, s.Endpoint()), &logs)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("building the client took %v: did it probe the instance metadata service?", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := src.Stat(ctx); err != nil {
		t.Fatal(err)
	}
	if !rec.all(false) {
		t.Error("requests were signed although no credentials exist")
	}
	if !strings.Contains(logs.String(), "go unsigned") {
		t.Errorf("no line about unsigned requests:\n%s", &logs)
	}
	if strings.Contains(logs.String(), `"level":"WARN"`) || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a warning on the expected anonymous setup:\n%s", &logs)
	}
}

func TestS3MissingObjectIsAnError(t *testing.T) {
	isolateAWS(t)
	s := startS3(t, nil)
	src := newSource(t, s.Endpoint(), io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := src.Stat(ctx); err == nil || !strings.Contains(err.Error(), "s3://auction/"+key) {
		t.Fatalf("want an error naming the object, got %v", err)
	}
	if _, _, err := src.Open(ctx); err == nil {
		t.Fatal("Open of a missing object succeeded")
	}
}
