package protobson_test

import (
	"bytes"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
)

// checkWithID checks that doc is the _id id followed by exactly the
// elements Marshal writes for m, in the same order, and that it decodes
// back to m.
func checkWithID(t *testing.T, doc bson.Raw, id string, m proto.Message) {
	t.Helper()
	if err := doc.Validate(); err != nil {
		t.Fatalf("MarshalWithID wrote an invalid document: %v", err)
	}
	elems, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) == 0 || elems[0].Key() != "_id" {
		t.Fatalf("first field of %v is not _id", doc)
	}
	if got, ok := elems[0].Value().StringValueOK(); !ok || got != id {
		t.Fatalf("_id = %v, want the string %q", elems[0].Value(), id)
	}
	plain, err := protobson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Elements()
	if err != nil {
		t.Fatal(err)
	}
	if len(elems)-1 != len(want) {
		t.Fatalf("%d fields after _id, want the %d Marshal writes", len(elems)-1, len(want))
	}
	for i, e := range want {
		if !bytes.Equal(elems[i+1], e) {
			t.Fatalf("field %d after _id is %v, want %v", i, elems[i+1], e)
		}
	}
	got := m.ProtoReflect().New().Interface()
	if err := protobson.Unmarshal(doc, got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !proto.Equal(got, m) {
		t.Fatalf("round trip differs:\nwant %v\n got %v", m, got)
	}
}

func TestMarshalWithID(t *testing.T) {
	msgs := []proto.Message{
		&eventsv1.ItemAdded{Envelope: fullEnvelope(), Item: fullItem()},
		&eventsv1.ItemBought{Envelope: fullEnvelope(), Buy: fullBuy()},
		&eventsv1.ItemSold{Envelope: fullEnvelope(), Sell: fullSell()},
		&eventsv1.ItemPawned{Envelope: fullEnvelope(), Pawn: fullPawn()},
		&auctionv1.Item{}, // no field set: only the _id
	}
	g := newGenerator(7)
	msgs = append(msgs, g.message(newAllKinds(t)))
	for _, template := range storedTypes {
		msgs = append(msgs, g.message(template))
	}
	for _, m := range msgs {
		t.Run(string(m.ProtoReflect().Descriptor().Name()), func(t *testing.T) {
			for _, id := range []string{"item-1", "", "ünïcode/$ne"} {
				doc, err := protobson.MarshalWithID(id, m)
				if err != nil {
					t.Fatal(err)
				}
				checkWithID(t, doc, id, m)
			}
		})
	}
}

func TestMarshalWithIDNil(t *testing.T) {
	for _, m := range []proto.Message{nil, (*auctionv1.Item)(nil)} {
		doc, err := protobson.MarshalWithID("k", m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		want, err := bson.Marshal(bson.D{{Key: "_id", Value: "k"}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(doc, want) {
			t.Errorf("%T: %v, want %v", m, doc, bson.Raw(want))
		}
	}
}

func TestMarshalWithIDErrorNamesTheField(t *testing.T) {
	m := &eventsv1.ItemAdded{Item: &auctionv1.Item{CreatedAt: &timestamppb.Timestamp{Nanos: 1e9}}}
	_, err := protobson.MarshalWithID("k", m)
	if err == nil || !strings.Contains(err.Error(), "field item.createdAt: invalid google.protobuf.Timestamp") {
		t.Fatalf("error = %v, want it to name item.createdAt", err)
	}
}

// TestMarshalWithIDRefusesAnIDField checks that a message whose own field
// would be written as _id is refused rather than stored with two keys.
func TestMarshalWithIDRefusesAnIDField(t *testing.T) {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:    proto.String("protobson/test/withid.proto"),
		Package: proto.String("protobson.test"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Keyed"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("key"), JsonName: proto.String("_id"), Number: proto.Int32(1),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
			}},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(fd.Messages().Get(0))
	_, err = protobson.MarshalWithID("k", m)
	if err == nil || !strings.Contains(err.Error(), "_id") {
		t.Fatalf("error = %v, want a refusal naming _id", err)
	}
}
