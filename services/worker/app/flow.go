// Package app holds the worker's use cases: the generic ingest flow that
// turns Kafka records into writes to each item's stored document (the
// seed's InboundFlow), and the fetches it serves to the dispatcher.
package app

import (
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
)

// Document is one event on its way into its item's stored document: the
// item it belongs to, its event id (the key that makes storing it
// idempotent: a redelivered event writes the same entry again) and the
// proto message.
type Document struct {
	// ID is the event id, unique within a batch.
	ID string
	// ItemID is the item whose document holds the event.
	ItemID string
	Msg    proto.Message
}

// ErrPoison marks a record that can never be stored (undecodable, invalid,
// unencodable or refused by the database); it goes to the dead-letter topic
// instead of being retried. The errors that match it are *PoisonError, which
// carry the Reason.
var ErrPoison = errors.New("poison record")

// Kind is what an event does to its item's document: set the item, or add
// a buy, a sell or a pawn to its history.
type Kind string

// The kinds of events, one per event topic.
const (
	KindItem Kind = "item"
	KindBuy  Kind = "buy"
	KindSell Kind = "sell"
	KindPawn Kind = "pawn"
)

// Inbound is the non-generic face of a Flow, for the consumer loop.
type Inbound interface {
	Topic() string
	Kind() Kind
	// Decode turns a record value into its document, or a *PoisonError
	// (ReasonDecode or ReasonInvalid).
	Decode(value []byte) (Document, error)
}

// Flow is the ingest flow of one topic for events of type T: decode the
// binary protobuf, validate it against the contract's rules, and key it by
// its item and its event id. One generic implementation serves all four
// event topics.
type Flow[T Event] struct {
	topic     string
	kind      Kind
	newMsg    func() T
	itemID    func(T) string
	validator protovalidate.Validator
}

// Event is an event payload: a proto message with the dispatcher's envelope.
type Event interface {
	proto.Message
	GetEnvelope() *eventsv1.Envelope
}

// NewFlow returns the flow of topic, whose events are of kind.
func NewFlow[T Event](topic string, kind Kind, newMsg func() T, itemID func(T) string, v protovalidate.Validator) *Flow[T] {
	return &Flow[T]{topic: topic, kind: kind, newMsg: newMsg, itemID: itemID, validator: v}
}

// Topic implements Inbound.
func (f *Flow[T]) Topic() string { return f.topic }

// Kind implements Inbound.
func (f *Flow[T]) Kind() Kind { return f.kind }

// Decode implements Inbound.
func (f *Flow[T]) Decode(value []byte) (Document, error) {
	msg := f.newMsg()
	if err := proto.Unmarshal(value, msg); err != nil {
		return Document{}, &PoisonError{Reason: ReasonDecode, Err: fmt.Errorf("decode %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)}
	}
	if err := f.validator.Validate(msg); err != nil {
		return Document{}, &PoisonError{Reason: ReasonInvalid, Err: err}
	}
	return Document{ID: msg.GetEnvelope().GetEventId(), ItemID: f.itemID(msg), Msg: msg}, nil
}

// Flows returns the ingest flows of the four event topics of one deployment
// (t, from topics.For). Every event is keyed by its item (the one document
// that holds the item and its history) and its event id.
func Flows(t topics.Names, v protovalidate.Validator) []Inbound {
	return []Inbound{
		NewFlow(t.Items, KindItem, func() *eventsv1.ItemAdded { return new(eventsv1.ItemAdded) },
			func(e *eventsv1.ItemAdded) string { return e.GetItem().GetId() }, v),
		NewFlow(t.BuyActions, KindBuy, func() *eventsv1.ItemBought { return new(eventsv1.ItemBought) },
			func(e *eventsv1.ItemBought) string { return e.GetBuy().GetItemId() }, v),
		NewFlow(t.SellActions, KindSell, func() *eventsv1.ItemSold { return new(eventsv1.ItemSold) },
			func(e *eventsv1.ItemSold) string { return e.GetSell().GetItemId() }, v),
		NewFlow(t.PawnActions, KindPawn, func() *eventsv1.ItemPawned { return new(eventsv1.ItemPawned) },
			func(e *eventsv1.ItemPawned) string { return e.GetPawn().GetItemId() }, v),
	}
}
