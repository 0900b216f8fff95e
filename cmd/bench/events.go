package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/kafkapub"
	"github.com/pawnshop/auction/internal/requestid"
	"github.com/pawnshop/auction/internal/topics"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The events, built from the generated types and encoded as the
// dispatcher encodes them.

// newEventID is a time-ordered UUIDv7, as the dispatcher's event ids are.
func newEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

func envelope(at time.Time) *eventsv1.Envelope {
	return &eventsv1.Envelope{EventId: newEventID(), AcceptedAt: timestamppb.New(at), RequestId: requestid.New()}
}

// encodeEvent is the Kafka record of an event, as the dispatcher publishes
// it: the binary protobuf, keyed by item, with the event id and the message
// type in headers.
func encodeEvent(topic, key, eventID string, ev proto.Message) (kafkapub.Message, error) {
	value, err := proto.Marshal(ev)
	if err != nil {
		return kafkapub.Message{}, fmt.Errorf("encode %s event: %w", topic, err)
	}
	return kafkapub.Message{Topic: topic, Key: []byte(key), Value: value, Headers: map[string]string{
		topics.HeaderEventID: eventID,
		topics.HeaderType:    string(ev.ProtoReflect().Descriptor().FullName()),
	}}, nil
}

// newItem is the item an add request accepted at at stores: a new id when
// the request has none.
func newItem(req *auctionv1.AddItemRequest, at time.Time) *auctionv1.Item {
	id := req.GetId()
	if id == "" {
		id = newEventID()
	}
	return &auctionv1.Item{Id: id, Name: req.GetName(), Category: req.GetCategory(), PriceCents: req.GetPriceCents(),
		State: req.GetState(), AgeMonths: req.GetAgeMonths(), CreatedAt: timestamppb.New(at)}
}
