// Package app holds the worker's use cases: the generic ingest flow that
// turns Kafka records into stored documents (the seed's InboundFlow), and the
// fetches it serves to the dispatcher.
package app

import (
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
)

// Document is one stored event: the proto message and the id that makes
// storing it idempotent (a redelivered event replaces itself).
type Document struct {
	ID  string
	Msg proto.Message
}

// ErrPoison marks a record that can never be stored (undecodable, invalid,
// unencodable or refused by the database); it goes to the dead-letter topic
// instead of being retried. The errors that match it are *PoisonError, which
// carry the Reason.
var ErrPoison = errors.New("poison record")

// Inbound is the non-generic face of a Flow, for the consumer loop.
type Inbound interface {
	Topic() string
	Collection() string
	// Decode turns a record value into its document, or a *PoisonError
	// (ReasonDecode or ReasonInvalid).
	Decode(value []byte) (Document, error)
}

// Flow is the ingest flow of one topic for events of type T: decode the
// binary protobuf, validate it against the contract's rules, and key it.
// One generic implementation serves all four event topics.
type Flow[T proto.Message] struct {
	topic, collection string
	newMsg            func() T
	key               func(T) string
	validator         protovalidate.Validator
}

// NewFlow returns the flow of topic into collection.
func NewFlow[T proto.Message](topic, collection string, newMsg func() T, key func(T) string, v protovalidate.Validator) *Flow[T] {
	return &Flow[T]{topic: topic, collection: collection, newMsg: newMsg, key: key, validator: v}
}

// Topic implements Inbound.
func (f *Flow[T]) Topic() string { return f.topic }

// Collection implements Inbound.
func (f *Flow[T]) Collection() string { return f.collection }

// Decode implements Inbound.
func (f *Flow[T]) Decode(value []byte) (Document, error) {
	msg := f.newMsg()
	if err := proto.Unmarshal(value, msg); err != nil {
		return Document{}, &PoisonError{Reason: ReasonDecode, Err: fmt.Errorf("decode %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)}
	}
	if err := f.validator.Validate(msg); err != nil {
		return Document{}, &PoisonError{Reason: ReasonInvalid, Err: err}
	}
	return Document{ID: f.key(msg), Msg: msg}, nil
}

// The collections of the event topics.
const (
	ItemsCollection = "items"
	BuysCollection  = "buy_actions"
	SellsCollection = "sell_actions"
	PawnsCollection = "pawn_actions"
)

// Flows returns the ingest flows of the four event topics of one deployment
// (t, from topics.For). Items are keyed
// by item id (the item document is the item's latest state); actions by
// event id (each action is its own document).
func Flows(t topics.Names, v protovalidate.Validator) []Inbound {
	return []Inbound{
		NewFlow(t.Items, ItemsCollection, func() *eventsv1.ItemAdded { return new(eventsv1.ItemAdded) },
			func(e *eventsv1.ItemAdded) string { return e.GetItem().GetId() }, v),
		NewFlow(t.BuyActions, BuysCollection, func() *eventsv1.ItemBought { return new(eventsv1.ItemBought) },
			func(e *eventsv1.ItemBought) string { return e.GetEnvelope().GetEventId() }, v),
		NewFlow(t.SellActions, SellsCollection, func() *eventsv1.ItemSold { return new(eventsv1.ItemSold) },
			func(e *eventsv1.ItemSold) string { return e.GetEnvelope().GetEventId() }, v),
		NewFlow(t.PawnActions, PawnsCollection, func() *eventsv1.ItemPawned { return new(eventsv1.ItemPawned) },
			func(e *eventsv1.ItemPawned) string { return e.GetEnvelope().GetEventId() }, v),
	}
}
