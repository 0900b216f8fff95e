package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Store persists documents in bulk, idempotently: a document whose ID is
// already stored is left as it is (the first delivery wins). Save returns
// nil when every document is stored; a *RejectedError when the documents it
// names can never be stored and all the others are; an error wrapping
// ErrBatchRejected when the database refused the write as invalid without
// naming the culprit; any other error is transient (the write is retried).
type Store interface {
	Save(ctx context.Context, collection string, docs []Document) error
}

// DeadLetters parks poison records with the reason, unchanged (key, value
// and headers), so that they can be inspected and replayed.
type DeadLetters interface {
	DeadLetter(ctx context.Context, r Record, why *PoisonError) error
}

// Ingest stores batches of records: decode each through its topic's flow,
// write each collection's documents in one bulk insert, park poison records.
// A record is poison when it cannot be decoded, breaks the contract's rules,
// cannot be encoded as a document, or is refused by the database as invalid
// or too large: it goes to the dead-letter topic (with an ERROR log) and the
// rest of the batch is stored, so one bad record never stalls a partition.
// Store returns only when every record is stored or dead-lettered, or ctx
// ends: a transient store failure (database down, timeout, not primary,
// write conflict, or anything unclassified) is retried with backoff, never
// dead-lettered. The caller commits the batch's offsets only after Store
// returned nil.
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

// entry is a decoded record on its way to its collection.
type entry struct {
	rec  Record
	doc  Document
	span trace.Span
}

// Store stores one batch. Each record gets a span in the trace of the write
// that produced it, ended when the batch is stored; the MongoDB write of each
// collection is a span linked to the records it carries.
func (in *Ingest) Store(ctx context.Context, b Batch) (err error) {
	byCollection := map[string][]entry{}
	var order []string
	links := map[string][]trace.Link{}
	spans := make([]trace.Span, 0, len(b))
	defer func() {
		for _, s := range spans {
			if err != nil {
				s.SetStatus(codes.Error, err.Error())
			}
			s.End()
		}
	}()
	for _, r := range b {
		rctx, span := tracer.Start(telemetry.Extract(ctx, r.Headers), "ingest "+r.Topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.source.name", r.Topic),
				attribute.Int("messaging.kafka.partition", int(r.Partition)), attribute.Int64("messaging.kafka.offset", r.Offset)))
		spans = append(spans, span)
		f, ok := in.flows[r.Topic]
		if !ok {
			return fmt.Errorf("no ingest flow for topic %q", r.Topic)
		}
		doc, err := f.Decode(r.Value)
		if err != nil {
			var poison *PoisonError
			if !errors.As(err, &poison) {
				return err
			}
			if err := in.deadLetter(ctx, r, span, poison); err != nil {
				return err
			}
			continue
		}
		if _, seen := byCollection[f.Collection()]; !seen {
			order = append(order, f.Collection())
		}
		byCollection[f.Collection()] = append(byCollection[f.Collection()], entry{rec: r, doc: doc, span: span})
		links[f.Collection()] = append(links[f.Collection()], trace.LinkFromContext(rctx))
	}
	for _, coll := range order {
		sctx, span := tracer.Start(ctx, "mongodb insert "+coll, trace.WithLinks(links[coll]...),
			trace.WithAttributes(attribute.String("db.system", "mongodb"), attribute.String("db.collection.name", coll),
				attribute.Int("db.operation.batch.size", len(byCollection[coll]))))
		err := in.storeCollection(sctx, coll, byCollection[coll])
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

// storeCollection saves the entries of one collection and dead-letters those
// the store rejects. Within a batch the first record of each id is the one
// saved (the rule the store applies across batches); its later copies are
// redeliveries and count as stored with it, unless it was rejected: then
// the next copy gets its own chance in another round.
func (in *Ingest) storeCollection(ctx context.Context, coll string, entries []entry) error {
	for len(entries) > 0 {
		docs, first := dedupe(entries)
		rejections, err := in.save(ctx, coll, docs)
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
func (in *Ingest) save(ctx context.Context, coll string, docs []Document) ([]Rejection, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	b := in.backoff()
	for {
		err := in.store.Save(ctx, coll, docs)
		var rej *RejectedError
		switch {
		case err == nil:
			return nil, nil
		case errors.As(err, &rej):
			return rej.Rejections, nil
		case errors.Is(err, ErrBatchRejected) && len(docs) == 1:
			return []Rejection{{ID: docs[0].ID, Reason: ReasonRejected, Err: err}}, nil
		case errors.Is(err, ErrBatchRejected):
			in.log.Warn("a batch was refused as invalid; isolating the culprit", "collection", coll, "documents", len(docs), "err", err)
			mid := len(docs) / 2
			left, err := in.save(ctx, coll, docs[:mid])
			if err != nil {
				return nil, err
			}
			right, err := in.save(ctx, coll, docs[mid:])
			if err != nil {
				return nil, err
			}
			return append(left, right...), nil
		}
		if err := b.wait(ctx, "store "+coll, err); err != nil {
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
