package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/pawnshop/auction/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Record is one consumed Kafka record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers carry the event id and the trace context of the write.
	Headers map[string]string
}

// Batch is a set of records consumed together.
type Batch []Record

// Store writes events of one kind into their items' documents in bulk,
// idempotently: an event is written under its event id, so a redelivered
// event writes the same entry again and never duplicates history. Save
// returns nil when every document is stored; a *RejectedError when the
// documents it names can never be stored and all the others are; an error
// wrapping ErrBatchRejected when the database refused the write as invalid
// without naming the culprit; any other error is transient (the write is
// retried).
type Store interface {
	Save(ctx context.Context, kind Kind, docs []Document) error
}

// DeadLetters parks poison records with the reason, unchanged (key, value
// and headers), so that they can be inspected and replayed. It must be safe
// for concurrent use.
type DeadLetters interface {
	DeadLetter(ctx context.Context, r Record, why *PoisonError) error
}

// Ingest stores batches of records: decode each through its topic's flow,
// write each kind's events into their items' documents in one bulk write,
// park poison records. A record is poison
// when it cannot be decoded, breaks the contract's rules, cannot be encoded
// as a document, or is refused by the database as invalid or too large: it
// goes to the dead-letter topic (with an ERROR log) and the rest of the batch
// is stored, so one bad record never stalls a partition. Write returns only
// when every record is stored or dead-lettered, or ctx ends: a transient
// store failure (database down, timeout, not primary, write conflict, or
// anything unclassified) is retried with backoff, never dead-lettered. The
// caller commits the batch's offsets only after Write returned nil.
type Ingest struct {
	flows map[string]Inbound
	store Store
	dlq   DeadLetters
	log   *slog.Logger
	// Backoff bounds the retry delay of a failing store.
	MinBackoff, MaxBackoff time.Duration
}

// NewIngest returns the ingest use case for flows.
func NewIngest(flows []Inbound, store Store, dlq DeadLetters, log *slog.Logger) *Ingest {
	m := make(map[string]Inbound, len(flows))
	for _, f := range flows {
		m[f.Topic()] = f
	}
	return &Ingest{flows: m, store: store, dlq: dlq, log: log, MinBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// Topics lists the topics the flows consume.
func (in *Ingest) Topics() []string {
	out := make([]string, 0, len(in.flows))
	for t := range in.flows {
		out = append(out, t)
	}
	return out
}

// entry is a decoded record on its way to its item's document.
type entry struct {
	rec  Record
	doc  Document
	span trace.Span
}

// Prepared is a decoded and validated batch, its poison records already
// dead-lettered: what Write stores. Preparing the next batch while the
// current one is written overlaps decoding with the database's work.
type Prepared struct {
	byKind map[Kind][]entry
	order  []Kind
	links  map[Kind][]trace.Link
	spans  []trace.Span
}

// Records is how many records the batch held (stored or dead-lettered).
func (p *Prepared) Records() int { return len(p.spans) }

// end ends the records' spans, with err's status when err is not nil.
func (p *Prepared) end(err error) {
	for _, s := range p.spans {
		if err != nil {
			s.SetStatus(codes.Error, err.Error())
		}
		s.End()
	}
	p.spans = nil
}

// Store prepares and writes one batch.
func (in *Ingest) Store(ctx context.Context, b Batch) error {
	p, err := in.Prepare(ctx, b)
	if err != nil {
		return err
	}
	return in.Write(ctx, p)
}

// Prepare decodes and validates a batch and dead-letters its poison
// records. Each record gets a span in the trace of the write that produced
// it, ended by Write (or here, on an error).
func (in *Ingest) Prepare(ctx context.Context, b Batch) (_ *Prepared, err error) {
	p := &Prepared{byKind: map[Kind][]entry{}, links: map[Kind][]trace.Link{}, spans: make([]trace.Span, 0, len(b))}
	defer func() {
		if err != nil {
			p.end(err)
		}
	}()
	for _, r := range b {
		rctx, span := tracer.Start(telemetry.Extract(ctx, r.Headers), "ingest "+r.Topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.source.name", r.Topic),
				attribute.Int("messaging.kafka.partition", int(r.Partition)), attribute.Int64("messaging.kafka.offset", r.Offset)))
		p.spans = append(p.spans, span)
		f, ok := in.flows[r.Topic]
		if !ok {
			return nil, fmt.Errorf("no ingest flow for topic %q", r.Topic)
		}
		doc, err := f.Decode(r.Value)
		if err != nil {
			var poison *PoisonError
			if !errors.As(err, &poison) {
				return nil, err
			}
			if err := in.deadLetter(ctx, r, span, poison); err != nil {
				return nil, err
			}
			continue
		}
		k := f.Kind()
		if _, seen := p.byKind[k]; !seen {
			p.order = append(p.order, k)
		}
		p.byKind[k] = append(p.byKind[k], entry{rec: r, doc: doc, span: span})
		p.links[k] = append(p.links[k], trace.LinkFromContext(rctx))
	}
	// Items first: an item's document then exists before the batch's
	// actions are written into it, and the store can insert new items
	// rather than update documents its actions created.
	slices.SortStableFunc(p.order, func(a, b Kind) int {
		first := func(k Kind) int {
			if k == KindItem {
				return 0
			}
			return 1
		}
		return first(a) - first(b)
	})
	return p, nil
}

// Write stores a prepared batch: one bulk write per kind, one after the
// other (the writes of one item must not overlap: the dev stack's FerretDB
// v1 does not update a document atomically). The MongoDB write of each kind
// is a span linked to the records it carries.
func (in *Ingest) Write(ctx context.Context, p *Prepared) (err error) {
	defer func() { p.end(err) }()
	for _, k := range p.order {
		sctx, span := tracer.Start(ctx, "mongodb write "+string(k), trace.WithLinks(p.links[k]...),
			trace.WithAttributes(attribute.String("db.system", "mongodb"), attribute.String("db.collection.name", "items"),
				attribute.String("auction.event.kind", string(k)), attribute.Int("db.operation.batch.size", len(p.byKind[k]))))
		err := in.storeKind(sctx, k, p.byKind[k])
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if err != nil {
			return err
		}
	}
	return nil
}

var tracer = otel.Tracer("github.com/pawnshop/auction/services/worker/app")

// storeKind saves the entries of one kind and dead-letters those the store
// rejects. Within a batch the first record of each event id is the one
// saved; its later copies are redeliveries and count as stored with it,
// unless it was rejected: then the next copy gets its own chance in another
// round.
func (in *Ingest) storeKind(ctx context.Context, kind Kind, entries []entry) error {
	for len(entries) > 0 {
		docs, first := dedupe(entries)
		rejections, err := in.save(ctx, kind, docs)
		if err != nil {
			return err
		}
		if len(rejections) == 0 {
			return nil
		}
		rejected := make(map[string]Rejection, len(rejections))
		for _, r := range rejections {
			rejected[r.ID] = r
		}
		var next []entry
		for i, e := range entries {
			rj, bad := rejected[e.doc.ID]
			switch {
			case !bad: // stored, or a redelivery of a stored document
			case first[e.doc.ID] == i:
				why := &PoisonError{Reason: rj.Reason, Err: fmt.Errorf("document %s: %w", e.doc.ID, rj.Err)}
				if err := in.deadLetter(ctx, e.rec, e.span, why); err != nil {
					return err
				}
			default:
				next = append(next, e)
			}
		}
		entries = next
	}
	return nil
}

// dedupe keeps the first document of each id, and where it is in entries.
func dedupe(entries []entry) ([]Document, map[string]int) {
	first := make(map[string]int, len(entries))
	docs := make([]Document, 0, len(entries))
	for i, e := range entries {
		if _, seen := first[e.doc.ID]; !seen {
			first[e.doc.ID] = i
			docs = append(docs, e.doc)
		}
	}
	return docs, first
}

// save writes docs, retrying transient failures until ctx ends, and returns
// the documents rejected for good. A batch refused as a whole for an invalid
// document is split in halves until the culprits are alone, so innocent
// documents are stored and only the culprits are rejected.
func (in *Ingest) save(ctx context.Context, kind Kind, docs []Document) ([]Rejection, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	b := in.backoff()
	for {
		err := in.store.Save(ctx, kind, docs)
		var rej *RejectedError
		switch {
		case err == nil:
			return nil, nil
		case errors.As(err, &rej):
			return rej.Rejections, nil
		case errors.Is(err, ErrBatchRejected) && len(docs) == 1:
			return []Rejection{{ID: docs[0].ID, Reason: ReasonRejected, Err: err}}, nil
		case errors.Is(err, ErrBatchRejected):
			in.log.Warn("a batch was refused as invalid; isolating the culprit", "kind", kind, "documents", len(docs), "err", err)
			mid := len(docs) / 2
			left, err := in.save(ctx, kind, docs[:mid])
			if err != nil {
				return nil, err
			}
			right, err := in.save(ctx, kind, docs[mid:])
			if err != nil {
				return nil, err
			}
			return append(left, right...), nil
		}
		if err := b.wait(ctx, "store "+string(kind), err); err != nil {
			return nil, err
		}
	}
}

// deadLetter parks r (retrying the publish until ctx ends) and reports it.
func (in *Ingest) deadLetter(ctx context.Context, r Record, span trace.Span, why *PoisonError) error {
	if err := in.retry(ctx, "dead-letter", func() error { return in.dlq.DeadLetter(ctx, r, why) }); err != nil {
		return err
	}
	span.SetStatus(codes.Error, "dead-lettered: "+why.Error())
	in.log.Error("dead-lettered a record that can never be stored", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"reason", string(why.Reason), "err", why.Err)
	return nil
}

// backoff is the retry delay of one failing step: doubling from MinBackoff
// up to MaxBackoff.
type backoff struct {
	in      *Ingest
	delay   time.Duration
	attempt int
}

func (in *Ingest) backoff() *backoff { return &backoff{in: in, delay: in.MinBackoff} }

// wait logs the failure and sleeps the next delay, or returns when ctx ends.
func (b *backoff) wait(ctx context.Context, what string, err error) error {
	b.attempt++
	b.in.log.Warn("ingest step failed; retrying", "step", what, "attempt", b.attempt, "retry_in", b.delay, "err", err)
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w (last error: %w)", what, context.Cause(ctx), err)
	case <-time.After(b.delay):
	}
	b.delay = min(b.delay*2, b.in.MaxBackoff)
	return nil
}

// retry runs op until it succeeds or ctx ends, backing off exponentially.
func (in *Ingest) retry(ctx context.Context, what string, op func() error) error {
	b := in.backoff()
	for {
		err := op()
		if err == nil {
			return nil
		}
		if err := b.wait(ctx, what, err); err != nil {
			return err
		}
	}
}
