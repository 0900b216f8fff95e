package protobson_test

import (
	"testing"

	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
)

func BenchmarkMarshal(b *testing.B) {
	msg := &eventsv1.ItemAdded{Envelope: fullEnvelope(), Item: fullItem()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protobson.Marshal(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	raw, err := protobson.Marshal(&eventsv1.ItemAdded{Envelope: fullEnvelope(), Item: fullItem()})
	if err != nil {
		b.Fatal(err)
	}
	var msg eventsv1.ItemAdded
	b.ReportAllocs()
	for b.Loop() {
		if err := protobson.Unmarshal(raw, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalWithID(b *testing.B) {
	msg := &eventsv1.ItemAdded{Envelope: fullEnvelope(), Item: fullItem()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protobson.MarshalWithID("item-1", msg); err != nil {
			b.Fatal(err)
		}
	}
}
