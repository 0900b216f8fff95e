// Package app is the feeder's use case: bring the fraudsters list from where
// it is kept (an S3 object) to where the dispatchers read it (a Redis set),
// replacing the list in force only with a complete, well-formed one that
// does not empty it or shrink it by more than a set fraction, unless the
// object says so explicitly (fraudlist.AllowShrinkDirective).
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pawnshop/auction/internal/fraudlist"
)

// ObjectInfo describes the stored list as the source reports it.
type ObjectInfo struct {
	// ETag changes whenever the object's contents change; empty when the
	// source gives none (then every pass downloads).
	ETag string
	// Size is the object's length in bytes, or -1 when unknown.
	Size int64
}

// Source is where the list is kept. Stat is cheap (no body) so that an
// unchanged list costs one small request per pass.
type Source interface {
	Stat(ctx context.Context) (ObjectInfo, error)
	// Open returns the object's body and what the source said about this
	// very download (its ETag may differ from an earlier Stat's if the
	// object was replaced in between). The caller closes the body.
	Open(ctx context.Context) (io.ReadCloser, ObjectInfo, error)
}

// Sink is where the list in force lives.
type Sink interface {
	// Replace makes ids the whole list in force, atomically for readers,
	// records version as its version and announces it.
	Replace(ctx context.Context, ids []string, version string) error
	// Version returns the version of the list in force, "" when none.
	Version(ctx context.Context) (string, error)
	// Size returns how many client ids the list in force holds, 0 when
	// there is none.
	Size(ctx context.Context) (int64, error)
}

// Refusals counts refused lists by reason (one of the Reason constants);
// the service module backs it with a Prometheus counter.
type Refusals interface {
	Refused(reason string)
}

// Reasons for refusing a list, the values of the refusal metric's label.
const (
	ReasonTooLarge  = "too_large"
	ReasonMalformed = "malformed"
	ReasonEmpty     = "empty"
	ReasonShrink    = "shrink"
)

// ErrTooLarge marks an object over the size limit; the previous list stays.
var ErrTooLarge = errors.New("fraud list object too large")

// ErrEmpty marks a list with no client id and without the override
// directive: an emptied or truncated upload must not switch screening off.
var ErrEmpty = errors.New("fraud list is empty")

// ErrShrink marks a list that would remove more than the allowed fraction of
// the list in force, without the override directive.
var ErrShrink = errors.New("fraud list shrinks too much")

// Options are the feeder's limits.
type Options struct {
	// MaxBytes is the largest object accepted.
	MaxBytes int64
	// MaxShrinkFraction is the largest fraction of the list in force that a
	// new list may remove (0.5: a list of 100 may be replaced by one of 50,
	// not 49). A list that removes more, or an empty one, is refused unless
	// it carries fraudlist.AllowShrinkDirective. The first list (nothing in
	// force) may have any non-empty size.
	MaxShrinkFraction float64
	// Refusals counts refused lists; nil counts nothing.
	Refusals Refusals
}

// Result is the outcome of one pass.
type Result struct {
	// Published is false when the pass found nothing new to publish.
	Published bool
	// ETag is the object's ETag as last seen.
	ETag string
	// Version is the version now in force (the new one when Published).
	Version string
	// IDs is the number of client ids published (zero when not Published).
	IDs int
	// Bytes is the size of the object read (zero when not downloaded).
	Bytes int64
	// Took is how long the pass took.
	Took time.Duration
}

// Feeder runs passes; passes never overlap. An object whose ETag is the one
// the version in force was made from is not downloaded again. The feeder
// also remembers the last object it refused, to refuse it again without
// downloading it again.
type Feeder struct {
	src       Source
	sink      Sink
	maxBytes  int64
	maxShrink float64
	refusals  Refusals
	log       *slog.Logger
	now       func() time.Time

	mu           sync.Mutex
	lastETag     string // of the object last published or found in force
	lastVersion  string // its version
	refusedETag  string
	refusedCause error
	// refusedAgainst is the size of the list in force a shrink was judged
	// against, -1 for refusals that do not depend on it: when the list in
	// force changes (Redis lost it), the object is judged again.
	refusedAgainst int64
}

// NewFeeder returns the use case: lists come from src and go to sink within
// the limits of opts.
func NewFeeder(src Source, sink Sink, opts Options, log *slog.Logger) *Feeder {
	refusals := opts.Refusals
	if refusals == nil {
		refusals = noRefusals{}
	}
	return &Feeder{src: src, sink: sink, maxBytes: opts.MaxBytes, maxShrink: opts.MaxShrinkFraction, refusals: refusals,
		log: log, now: time.Now}
}

type noRefusals struct{}

func (noRefusals) Refused(string) {}

// PassTimeout is the deadline given to each pass when passes run every
// interval: long enough for a large object on a slow link, and a hung
// connection still cannot stall the feeder for ever.
func PassTimeout(interval time.Duration) time.Duration {
	return max(interval, time.Minute)
}

// Run does a pass at once and then every interval until ctx ends. A failed
// pass is logged (by RunOnce) and retried at the next tick; it never ends
// the loop.
func (f *Feeder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		passCtx, cancel := context.WithTimeout(ctx, PassTimeout(interval))
		_, _ = f.RunOnce(passCtx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce does one pass: it checks the object's ETag, downloads it unless
// the version in force was made from that very object (so a Redis that lost
// the list gets it again), checks its size and format, and
// replaces the list in force. On any failure the list in force is left as it
// was. It logs the outcome and returns it.
func (f *Feeder) RunOnce(ctx context.Context) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := f.now()
	res, err := f.pass(ctx)
	res.Took = f.now().Sub(start)
	tookMS := float64(res.Took.Microseconds()) / 1000
	switch reason := refusalReason(err); {
	case reason != "":
		// Counted at every pass that refuses, the same object again
		// included: the counter keeps rising while a bad list sits in S3.
		f.refusals.Refused(reason)
		f.log.Error("fraud list refused; the previous list stays in force",
			"err", err, "reason", reason, "etag", res.ETag, "version_in_force", f.lastVersion, "took_ms", tookMS)
	case err != nil:
		f.log.Error("fraud list pass failed; the previous list stays in force",
			"err", err, "etag", res.ETag, "took_ms", tookMS)
	case res.Published:
		f.log.Info("fraud list published", "ids", res.IDs, "bytes", res.Bytes, "etag", res.ETag, "version", res.Version, "took_ms", tookMS)
	default:
		f.log.Debug("fraud list unchanged", "etag", res.ETag, "version", res.Version, "took_ms", tookMS)
	}
	return res, err
}

func (f *Feeder) pass(ctx context.Context) (Result, error) {
	info, err := f.src.Stat(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("stat the fraud list object: %w", err)
	}
	res := Result{ETag: info.ETag, Version: f.lastVersion}
	if info.ETag != "" {
		inForce, err := f.sink.Version(ctx)
		if err != nil {
			return res, fmt.Errorf("read the version in force: %w", err)
		}
		// The list in force comes from this very object, published by this
		// feeder or by another (a second replica, this one before a
		// restart): nothing to do. Publishing it again would only make
		// every dispatcher reload.
		if objectOf(inForce) == objectID(info.ETag, nil) {
			f.lastETag, f.lastVersion = info.ETag, inForce
			res.Version = inForce
			return res, nil
		}
		if info.ETag == f.lastETag {
			// Redis lost the list (restart without persistence, flush) or
			// someone put another one there: publish the object again.
			f.log.Warn("the list in Redis is not the one last published; publishing again",
				"version_in_force", inForce, "version_published", f.lastVersion)
		}
	}
	if info.ETag != "" && info.ETag == f.refusedETag {
		again := f.refusedAgainst < 0
		if !again {
			n, err := f.sink.Size(ctx)
			if err != nil {
				return res, fmt.Errorf("count the list in force: %w", err)
			}
			again = n == f.refusedAgainst
		}
		if again {
			return res, fmt.Errorf("unchanged since refused: %w", f.refusedCause)
		}
	}
	if info.Size > f.maxBytes {
		return res, f.refuse(info.ETag, fmt.Errorf("%w: %d bytes, over MAX_OBJECT_BYTES (%d)", ErrTooLarge, info.Size, f.maxBytes))
	}

	body, got, err := f.src.Open(ctx)
	if err != nil {
		return res, fmt.Errorf("download the fraud list object: %w", err)
	}
	defer body.Close()
	if got.ETag == "" {
		got.ETag = info.ETag
	}
	res.ETag = got.ETag
	if got.Size > f.maxBytes {
		return res, f.refuse(got.ETag, fmt.Errorf("%w: %d bytes, over MAX_OBJECT_BYTES (%d)", ErrTooLarge, got.Size, f.maxBytes))
	}
	// The size announced may be missing or wrong: cap the read as well.
	data, err := io.ReadAll(io.LimitReader(body, f.maxBytes+1))
	if err != nil {
		return res, fmt.Errorf("download the fraud list object: %w", err)
	}
	res.Bytes = int64(len(data))
	if res.Bytes > f.maxBytes {
		return res, f.refuse(got.ETag, fmt.Errorf("%w: more than MAX_OBJECT_BYTES (%d) bytes read", ErrTooLarge, f.maxBytes))
	}
	list, err := fraudlist.ParseList(data)
	if err != nil {
		return res, f.refuse(got.ETag, err)
	}
	ids := list.IDs
	if !list.AllowShrink {
		inForce, err := f.sink.Size(ctx)
		if err != nil {
			return res, fmt.Errorf("count the list in force: %w", err)
		}
		if err := f.checkShrink(inForce, len(ids)); err != nil {
			f.refuse(got.ETag, err)
			if errors.Is(err, ErrShrink) {
				f.refusedAgainst = inForce
			}
			return res, err
		}
	}

	version := newVersion(got.ETag, data, f.now())
	if err := f.sink.Replace(ctx, ids, version); err != nil {
		return res, fmt.Errorf("publish the fraud list: %w", err)
	}
	f.lastETag, f.lastVersion = got.ETag, version
	f.refusedETag, f.refusedCause = "", nil
	res.Published, res.Version, res.IDs = true, version, len(ids)
	return res, nil
}

// checkShrink refuses an empty list, and one that removes more than
// maxShrink of the inForce ids. Only sizes are compared: a list that swaps
// ids for as many others is a normal update.
func (f *Feeder) checkShrink(inForce int64, next int) error {
	override := fmt.Sprintf("add the line %q to the object to publish it anyway", fraudlist.AllowShrinkDirective)
	if next == 0 {
		return fmt.Errorf("%w: no client id in the object (%d in force); %s", ErrEmpty, inForce, override)
	}
	removed := inForce - int64(next)
	if inForce > 0 && float64(removed) > f.maxShrink*float64(inForce) {
		return fmt.Errorf("%w: %d client ids instead of %d in force, %.0f%% fewer, over MAX_SHRINK_FRACTION (%g); %s",
			ErrShrink, next, inForce, 100*float64(removed)/float64(inForce), f.maxShrink, override)
	}
	return nil
}

// refusalReason names the refusal err is, "" when err is no refusal (a
// failure of the source or the sink, retried at the next pass).
func refusalReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, fraudlist.ErrMalformed):
		return ReasonMalformed
	case errors.Is(err, ErrEmpty):
		return ReasonEmpty
	case errors.Is(err, ErrShrink):
		return ReasonShrink
	}
	return ""
}

// refuse remembers a refused object so that the next passes refuse it again
// without downloading it, until it changes.
func (f *Feeder) refuse(etag string, cause error) error {
	f.refusedETag, f.refusedCause, f.refusedAgainst = etag, cause, -1
	return cause
}

// objectOf returns the object part of a version made by newVersion, "" for
// any other string.
func objectOf(version string) string {
	id, _, ok := strings.Cut(version, "@")
	if !ok {
		return ""
	}
	return id
}

// newVersion names a published list: the object's id (see objectID) and
// the publication time, so that every publication, even of the same object,
// is a new version.
func newVersion(etag string, data []byte, at time.Time) string {
	return objectID(etag, data) + "@" + at.UTC().Format(time.RFC3339Nano)
}

// objectID identifies an object's contents: its ETag without the quotes or,
// without one, a digest of the contents.
func objectID(etag string, data []byte) string {
	if id := strings.Trim(etag, `"`); id != "" {
		return id
	}
	sum := sha256.Sum256(data)
	return "sha256-" + hex.EncodeToString(sum[:8])
}
