package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/fraudlist"
	"github.com/pawnshop/auction/services/feeder/app"
)

// fakeSource is one object whose contents, ETag and announced size a test
// changes at will; it counts downloads.
type fakeSource struct {
	mu      sync.Mutex
	data    []byte
	etag    string
	size    int64 // announced size; -1 unknown; 0 means len(data)
	statErr error
	opens   int
}

func (s *fakeSource) put(data, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.etag, s.size = []byte(data), etag, 0
}

func (s *fakeSource) info() app.ObjectInfo {
	size := s.size
	if size == 0 {
		size = int64(len(s.data))
	}
	return app.ObjectInfo{ETag: s.etag, Size: size}
}

func (s *fakeSource) Stat(context.Context) (app.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info(), s.statErr
}

func (s *fakeSource) Open(context.Context) (io.ReadCloser, app.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	return io.NopCloser(bytes.NewReader(s.data)), s.info(), nil
}

func (s *fakeSource) downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// fakeSink is the list in force.
type fakeSink struct {
	mu         sync.Mutex
	ids        []string
	version    string
	replaces   int
	replaceErr error
	sizeErr    error
}

// fakeRefusals counts refusals by reason.
type fakeRefusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *fakeRefusals) Refused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *fakeRefusals) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

func (s *fakeSink) Replace(_ context.Context, ids []string, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replaceErr != nil {
		return s.replaceErr
	}
	s.ids, s.version = slices.Clone(ids), version
	s.replaces++
	return nil
}

func (s *fakeSink) Version(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, nil
}

func (s *fakeSink) Size(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.ids)), s.sizeErr
}

func (s *fakeSink) state() ([]string, string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids, s.version, s.replaces
}

// logBuffer collects the feeder's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newFeeder(t *testing.T, max int64) (*app.Feeder, *fakeSource, *fakeSink, *logBuffer) {
	t.Helper()
	f, src, sink, logs, _ := newFeederCounting(t, max, 0.5)
	return f, src, sink, logs
}

func newFeederCounting(t *testing.T, max int64, maxShrink float64) (*app.Feeder, *fakeSource, *fakeSink, *logBuffer, *fakeRefusals) {
	t.Helper()
	src, sink, logs, refusals := &fakeSource{}, &fakeSink{}, &logBuffer{}, &fakeRefusals{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := app.NewFeeder(src, sink, app.Options{MaxBytes: max, MaxShrinkFraction: maxShrink, Refusals: refusals}, log)
	return f, src, sink, logs, refusals
}

// idList returns a list object of n ids.
func idList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "client-%d\n", i)
	}
	return b.String()
}

func runOnce(t *testing.T, f *app.Feeder) (app.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.RunOnce(ctx)
}

func mustPublish(t *testing.T, f *app.Feeder, wantIDs int) app.Result {
	t.Helper()
	res, err := runOnce(t, f)
	if err != nil || !res.Published || res.IDs != wantIDs || res.Version == "" {
		t.Fatalf("want a publication of %d ids; got %+v, %v", wantIDs, res, err)
	}
	return res
}

func TestPublishesThenSkipsAnUnchangedETag(t *testing.T) {
	f, src, sink, logs := newFeeder(t, 1<<20)
	src.put("# fraudsters\nmallory\neve\nmallory\n", `"e1"`)
	res := mustPublish(t, f, 2)
	if !strings.HasPrefix(res.Version, "e1@") || res.ETag != `"e1"` {
		t.Fatalf("version %q etag %q", res.Version, res.ETag)
	}
	ids, version, _ := sink.state()
	if !slices.Equal(ids, []string{"mallory", "eve"}) || version != res.Version {
		t.Fatalf("sink holds %q %q", ids, version)
	}
	if !strings.Contains(logs.String(), `"msg":"fraud list published","ids":2`) || !strings.Contains(logs.String(), `"took_ms"`) {
		t.Errorf("no structured success line:\n%s", logs)
	}

	again, err := runOnce(t, f)
	if err != nil || again.Published || again.Version != res.Version {
		t.Fatalf("unchanged ETag: %+v, %v", again, err)
	}
	if n := src.downloads(); n != 1 {
		t.Fatalf("the unchanged object was downloaded again (%d downloads)", n)
	}
	if _, _, n := sink.state(); n != 1 {
		t.Fatalf("%d replacements, want 1", n)
	}

	// A new ETag is a new list: removals take effect.
	src.put("eve\n", `"e2"`)
	mustPublish(t, f, 1)
	if ids, _, _ := sink.state(); !slices.Equal(ids, []string{"eve"}) {
		t.Fatalf("sink holds %q", ids)
	}
}

func TestRepublishesWhenRedisLostTheList(t *testing.T) {
	f, src, sink, logs := newFeeder(t, 1<<20)
	src.put("mallory\n", `"e1"`)
	first := mustPublish(t, f, 1)
	// Redis restarted empty: the version in force is gone.
	sink.mu.Lock()
	sink.ids, sink.version = nil, ""
	sink.mu.Unlock()
	second := mustPublish(t, f, 1)
	if second.Version == first.Version {
		t.Fatal("republished under the same version")
	}
	if !strings.Contains(logs.String(), "not the one last published") {
		t.Errorf("no warning about the lost list:\n%s", logs)
	}
}

func TestListAlreadyInForceIsNotPublishedAgain(t *testing.T) {
	f, src, sink, _ := newFeeder(t, 1<<20)
	// Another replica (or this feeder before a restart) published it.
	src.put("mallory\n", `"e1"`)
	sink.version = "e1@2026-01-01T00:00:00Z"
	res, err := runOnce(t, f)
	if err != nil || res.Published || res.Version != "e1@2026-01-01T00:00:00Z" {
		t.Fatalf("%+v, %v", res, err)
	}
	if src.downloads() != 0 {
		t.Fatal("the object in force was downloaded")
	}
	// A new object is published over it.
	src.put("eve\n", `"e2"`)
	mustPublish(t, f, 1)
}

func TestRefusesAnOversizedObjectAndKeepsThePreviousList(t *testing.T) {
	f, src, sink, logs := newFeeder(t, 16)
	src.put("mallory\n", `"small"`)
	prev := mustPublish(t, f, 1)

	// Announced too large: refused before any download.
	src.put("mallory\neve\ntrent\nvictor\n", `"big"`)
	res, err := runOnce(t, f)
	if !errors.Is(err, app.ErrTooLarge) || res.Published {
		t.Fatalf("want ErrTooLarge, got %+v, %v", res, err)
	}
	if n := src.downloads(); n != 1 {
		t.Fatalf("an oversized object was downloaded (%d downloads)", n)
	}
	if ids, version, _ := sink.state(); !slices.Equal(ids, []string{"mallory"}) || version != prev.Version {
		t.Fatalf("the previous list was replaced: %q %q", ids, version)
	}
	if !strings.Contains(logs.String(), "fraud list refused; the previous list stays in force") {
		t.Errorf("no clear refusal line:\n%s", logs)
	}
	// Refused again at the next pass, still without a download.
	if _, err := runOnce(t, f); !errors.Is(err, app.ErrTooLarge) || src.downloads() != 1 {
		t.Fatalf("second pass: %v, %d downloads", err, src.downloads())
	}

	// Size unknown (or understated): the capped read refuses it.
	src.mu.Lock()
	src.etag, src.size = `"sneaky"`, -1
	src.mu.Unlock()
	if _, err := runOnce(t, f); !errors.Is(err, app.ErrTooLarge) {
		t.Fatalf("unknown size: want ErrTooLarge, got %v", err)
	}
	if ids, _, _ := sink.state(); !slices.Equal(ids, []string{"mallory"}) {
		t.Fatalf("the previous list was replaced: %q", ids)
	}

	// Fixed: published again.
	src.put("eve\n", `"small2"`)
	mustPublish(t, f, 1)
}

func TestRefusesAMalformedObjectAndKeepsThePreviousList(t *testing.T) {
	f, src, sink, logs := newFeeder(t, 1<<20)
	src.put("mallory\neve\n", `"good"`)
	prev := mustPublish(t, f, 2)

	src.put("mallory\nthis is not, an id\n", `"bad"`)
	res, err := runOnce(t, f)
	if !errors.Is(err, fraudlist.ErrMalformed) || res.Published {
		t.Fatalf("want ErrMalformed, got %+v, %v", res, err)
	}
	if ids, version, _ := sink.state(); !slices.Equal(ids, []string{"mallory", "eve"}) || version != prev.Version {
		t.Fatalf("the previous list was replaced: %q %q", ids, version)
	}
	if !strings.Contains(logs.String(), "line 2") || !strings.Contains(logs.String(), `"reason":"malformed"`) {
		t.Errorf("the refusal does not say where and why:\n%s", logs)
	}
	if _, err := runOnce(t, f); !errors.Is(err, fraudlist.ErrMalformed) || src.downloads() != 2 {
		t.Fatalf("the same bad object: %v after %d downloads, want a refusal without a new download", err, src.downloads())
	}
}

func TestAnEmptyListIsRefusedUnlessOverridden(t *testing.T) {
	f, src, sink, logs, refusals := newFeederCounting(t, 1<<20, 0.5)
	src.put("mallory\n", `"one"`)
	prev := mustPublish(t, f, 1)

	for _, empty := range []string{"", "# nobody left\n\n"} {
		src.put(empty, `"none`+fmt.Sprint(len(empty))+`"`)
		res, err := runOnce(t, f)
		if !errors.Is(err, app.ErrEmpty) || res.Published {
			t.Fatalf("%q: want ErrEmpty, got %+v, %v", empty, res, err)
		}
		if ids, version, _ := sink.state(); !slices.Equal(ids, []string{"mallory"}) || version != prev.Version {
			t.Fatalf("the list in force changed: %q %q", ids, version)
		}
	}
	if n := refusals.count(app.ReasonEmpty); n != 2 {
		t.Fatalf("empty refusals counted %d, want 2", n)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"fraud list refused; the previous list stays in force"`) ||
		!strings.Contains(logs.String(), `"reason":"empty"`) || !strings.Contains(logs.String(), "#! allow-shrink") {
		t.Errorf("no ERROR line with the reason and the way out:\n%s", logs)
	}

	// Emptied on purpose: the directive lets it through.
	src.put("#! allow-shrink\n# nobody left\n", `"none-on-purpose"`)
	res := mustPublish(t, f, 0)
	if ids, version, _ := sink.state(); len(ids) != 0 || version != res.Version {
		t.Fatalf("sink holds %q %q", ids, version)
	}
}

func TestTheFirstListMayHaveAnySizeButNotBeEmpty(t *testing.T) {
	f, src, _, _, refusals := newFeederCounting(t, 1<<20, 0.5)
	src.put("# nothing yet\n", `"empty"`)
	if _, err := runOnce(t, f); !errors.Is(err, app.ErrEmpty) {
		t.Fatalf("an empty first list: want ErrEmpty, got %v", err)
	}
	src.put("mallory\n", `"one"`)
	mustPublish(t, f, 1)
	if n := refusals.count(app.ReasonEmpty); n != 1 {
		t.Fatalf("empty refusals counted %d, want 1", n)
	}
}

func TestAListThatShrinksTooMuchIsRefusedUnlessOverridden(t *testing.T) {
	f, src, sink, logs, refusals := newFeederCounting(t, 1<<20, 0.5)
	src.put(idList(10), `"ten"`)
	prev := mustPublish(t, f, 10)

	// 60% fewer: refused, counted, logged, the list in force unchanged.
	src.put(idList(4), `"four"`)
	res, err := runOnce(t, f)
	if !errors.Is(err, app.ErrShrink) || res.Published {
		t.Fatalf("60%% shrink: want ErrShrink, got %+v, %v", res, err)
	}
	if ids, version, _ := sink.state(); len(ids) != 10 || version != prev.Version {
		t.Fatalf("the list in force changed: %d ids, %q", len(ids), version)
	}
	if n := refusals.count(app.ReasonShrink); n != 1 {
		t.Fatalf("shrink refusals counted %d, want 1", n)
	}
	for _, want := range []string{`"level":"ERROR"`, `"reason":"shrink"`, "4 client ids instead of 10 in force, 60% fewer", "MAX_SHRINK_FRACTION", "#! allow-shrink"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the refusal line lacks %q:\n%s", want, logs)
		}
	}
	// Refused again at the next pass, without a new download, and counted.
	if _, err := runOnce(t, f); !errors.Is(err, app.ErrShrink) || src.downloads() != 2 {
		t.Fatalf("second pass: %v after %d downloads", err, src.downloads())
	}
	if n := refusals.count(app.ReasonShrink); n != 2 {
		t.Fatalf("shrink refusals counted %d, want 2", n)
	}

	// 40% fewer: within the limit.
	src.put(idList(6), `"six"`)
	mustPublish(t, f, 6)

	// 50% of 6 is 3: removing exactly half is allowed, one more is not.
	src.put(idList(3), `"three"`)
	mustPublish(t, f, 3)
	src.put(idList(1), `"one"`)
	if _, err := runOnce(t, f); !errors.Is(err, app.ErrShrink) {
		t.Fatalf("67%% shrink: want ErrShrink, got %v", err)
	}

	// The override, anywhere in the object, publishes it.
	src.put("mallory\n#! allow-shrink\n", `"override"`)
	mustPublish(t, f, 1)
	if ids, _, _ := sink.state(); !slices.Equal(ids, []string{"mallory"}) {
		t.Fatalf("sink holds %q", ids)
	}
	// Growth is never limited.
	src.put(idList(100), `"hundred"`)
	mustPublish(t, f, 100)
}

func TestMaxShrinkFractionIsConfigurable(t *testing.T) {
	strict, src, _, _, _ := newFeederCounting(t, 1<<20, 0)
	src.put(idList(10), `"ten"`)
	mustPublish(t, strict, 10)
	src.put(idList(9), `"nine"`)
	if _, err := runOnce(t, strict); !errors.Is(err, app.ErrShrink) {
		t.Fatalf("MAX_SHRINK_FRACTION 0: one removal must be refused, got %v", err)
	}

	lax, src, _, _, _ := newFeederCounting(t, 1<<20, 0.9)
	src.put(idList(10), `"ten"`)
	mustPublish(t, lax, 10)
	src.put(idList(1), `"one"`)
	mustPublish(t, lax, 1)
}

func TestAShrinkRefusalIsJudgedAgainWhenTheListInForceChanges(t *testing.T) {
	f, src, sink, _, _ := newFeederCounting(t, 1<<20, 0.5)
	src.put(idList(10), `"ten"`)
	mustPublish(t, f, 10)
	src.put(idList(2), `"two"`)
	if _, err := runOnce(t, f); !errors.Is(err, app.ErrShrink) {
		t.Fatalf("want ErrShrink, got %v", err)
	}
	// Redis lost the list: nothing is in force, so the object in S3 is the
	// best list there is.
	sink.mu.Lock()
	sink.ids, sink.version = nil, ""
	sink.mu.Unlock()
	mustPublish(t, f, 2)
}

func TestACountFailureIsRetriedNotRefused(t *testing.T) {
	f, src, sink, _, refusals := newFeederCounting(t, 1<<20, 0.5)
	src.put(idList(10), `"ten"`)
	mustPublish(t, f, 10)
	src.put(idList(9), `"nine"`)
	sink.mu.Lock()
	sink.sizeErr = errors.New("redis is down")
	sink.mu.Unlock()
	if _, err := runOnce(t, f); err == nil || !strings.Contains(err.Error(), "redis is down") {
		t.Fatalf("want the sink's error, got %v", err)
	}
	sink.mu.Lock()
	sink.sizeErr = nil
	sink.mu.Unlock()
	mustPublish(t, f, 9)
	if n := refusals.count(app.ReasonShrink) + refusals.count(app.ReasonEmpty); n != 0 {
		t.Fatalf("a failure was counted as a refusal (%d)", n)
	}
}

func TestFailuresAreRetried(t *testing.T) {
	f, src, sink, _ := newFeeder(t, 1<<20)
	src.put("mallory\n", `"e1"`)

	src.statErr = errors.New("s3 is down")
	if _, err := runOnce(t, f); err == nil || !strings.Contains(err.Error(), "s3 is down") {
		t.Fatalf("want the source's error, got %v", err)
	}
	src.statErr = nil

	sink.replaceErr = errors.New("redis is down")
	if _, err := runOnce(t, f); err == nil || !strings.Contains(err.Error(), "redis is down") {
		t.Fatalf("want the sink's error, got %v", err)
	}
	sink.replaceErr = nil
	// Same ETag, but it never made it: the next pass publishes it.
	mustPublish(t, f, 1)
}

func TestNoETagUsesAContentDigest(t *testing.T) {
	f, src, _, _ := newFeeder(t, 1<<20)
	src.put("mallory\n", "")
	res := mustPublish(t, f, 1)
	if !strings.HasPrefix(res.Version, "sha256-") {
		t.Fatalf("version %q", res.Version)
	}
	// Without an ETag nothing can be skipped.
	mustPublish(t, f, 1)
}

func TestRunPassesEveryIntervalAndSurvivesFailures(t *testing.T) {
	f, src, sink, _ := newFeeder(t, 1<<20)
	src.put("bad line\n", `"bad"`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx, 10*time.Millisecond)
	}()
	time.Sleep(30 * time.Millisecond) // a few refused passes
	src.put("mallory\n", `"good"`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ids, _, _ := sink.state(); slices.Equal(ids, []string{"mallory"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop never published the fixed list")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
