package protobson_test

import (
	"bytes"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
)

// encodeWith encodes val the way the driver does for InsertOne: a document
// value writer and an encoder using the client's registry.
func encodeWith(t *testing.T, reg *bson.Registry, val any) bson.Raw {
	t.Helper()
	var buf bytes.Buffer
	enc := bson.NewEncoder(bson.NewDocumentWriter(&buf))
	enc.SetRegistry(reg)
	if err := enc.Encode(val); err != nil {
		t.Fatalf("Encode %T: %v", val, err)
	}
	return buf.Bytes()
}

// decodeWith decodes doc into val the way a cursor's Decode does.
func decodeWith(t *testing.T, reg *bson.Registry, doc []byte, val any) {
	t.Helper()
	dec := bson.NewDecoder(bson.NewDocumentReader(bytes.NewReader(doc)))
	dec.SetRegistry(reg)
	if err := dec.Decode(val); err != nil {
		t.Fatalf("Decode into %T: %v", val, err)
	}
}

func TestRegistryEncodesMessagesWithTheCodec(t *testing.T) {
	reg := protobson.NewRegistry()
	msg := &eventsv1.ItemAdded{Envelope: fullEnvelope(), Item: fullItem()}
	wantRaw, err := protobson.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}

	got := encodeWith(t, reg, msg)
	if !bytes.Equal(got, wantRaw) {
		t.Fatalf("registry encoding differs from Marshal:\n got %v\nwant %v", got, wantRaw)
	}
	checkValue(t, got, want{"item.category", bson.TypeString, "CATEGORY_MOTOR"})
	checkValue(t, got, want{"item.priceCents", bson.TypeInt64, int64(199_900)})
	checkValue(t, got, want{"item.createdAt", bson.TypeDateTime, bson.DateTime(at.UnixMilli())})

	// The driver's default registry knows nothing of protobuf: whatever its
	// struct codec makes of the generated struct, it is not this shape.
	if plain, err := bson.Marshal(msg); err == nil && bytes.Equal(plain, wantRaw) {
		t.Fatal("default registry produced the codec's bytes; the test proves nothing")
	}

	// Messages, Timestamps and enums nested in other values (documents the
	// repository builds, filters) go through the codec too.
	wrapper := encodeWith(t, reg, bson.D{
		{Key: "event", Value: msg},
		{Key: "since", Value: timestamppb.New(at)},
		{Key: "category", Value: auctionv1.Category_CATEGORY_JEWELRY},
		{Key: "none", Value: (*auctionv1.Item)(nil)},
		{Key: "history", Value: []*auctionv1.Buy{fullBuy()}},
	})
	if ev := lookup(t, wrapper, "event").Document(); !bytes.Equal(ev, wantRaw) {
		t.Errorf("nested event = %v, want %v", ev, wantRaw)
	}
	checkValue(t, wrapper, want{"since", bson.TypeDateTime, bson.DateTime(at.UnixMilli())})
	checkValue(t, wrapper, want{"category", bson.TypeString, "CATEGORY_JEWELRY"})
	checkValue(t, wrapper, want{"none", bson.TypeNull, nil})
	checkValue(t, wrapper, want{"history.0.priceCents", bson.TypeInt64, int64(150_000)})
}

func TestRegistryDecodesStoredDocuments(t *testing.T) {
	reg := protobson.NewRegistry()
	created := time.Date(2026, 2, 1, 9, 30, 0, 125_000_000, time.UTC)
	doc := mustMarshalDoc(t, bson.D{
		{Key: "_id", Value: bson.NewObjectID()},
		{Key: "id", Value: "item-7"},
		{Key: "name", Value: "Gramophone"},
		{Key: "category", Value: "CATEGORY_COLLECTION"},
		{Key: "priceCents", Value: int64(45_000)},
		{Key: "state", Value: "STATE_BAD"},
		{Key: "createdAt", Value: bson.NewDateTimeFromTime(created)},
		{Key: "eventIds", Value: bson.A{"ev-1", "ev-2"}}, // repository bookkeeping
	})
	wantItem := &auctionv1.Item{
		Id: "item-7", Name: "Gramophone", Category: auctionv1.Category_CATEGORY_COLLECTION,
		PriceCents: 45_000, State: auctionv1.State_STATE_BAD, CreatedAt: timestamppb.New(created),
	}

	t.Run("nil pointer is allocated", func(t *testing.T) {
		var item *auctionv1.Item
		decodeWith(t, reg, doc, &item)
		if !proto.Equal(item, wantItem) {
			t.Errorf("got %v, want %v", item, wantItem)
		}
	})
	t.Run("existing message is replaced, not merged", func(t *testing.T) {
		item := &auctionv1.Item{Name: "stale", AgeMonths: 99}
		decodeWith(t, reg, doc, item)
		if !proto.Equal(item, wantItem) {
			t.Errorf("got %v, want %v", item, wantItem)
		}
	})
	t.Run("addressable struct value", func(t *testing.T) {
		var item auctionv1.Item
		decodeWith(t, reg, doc, &item)
		if !proto.Equal(&item, wantItem) {
			t.Errorf("got %v, want %v", &item, wantItem)
		}
	})

	t.Run("proto.Message interface", func(t *testing.T) {
		var m proto.Message = &auctionv1.Item{Name: "stale"}
		decodeWith(t, reg, doc, &m)
		if !proto.Equal(m, wantItem) {
			t.Errorf("got %v, want %v", m, wantItem)
		}
	})

	t.Run("fields of a Go struct", func(t *testing.T) {
		type stored struct {
			ID       bson.ObjectID          `bson:"_id"`
			Item     *auctionv1.Item        `bson:"item"`
			Buys     []*auctionv1.Buy       `bson:"buys"`
			Pawn     *auctionv1.Pawn        `bson:"pawn"`
			Category auctionv1.Category     `bson:"category"`
			State    *auctionv1.State       `bson:"state"`
			Since    *timestamppb.Timestamp `bson:"since"`
		}
		id := bson.NewObjectID()
		in := stored{
			ID: id, Item: wantItem, Buys: []*auctionv1.Buy{fullBuy(), fullBuy()},
			Category: auctionv1.Category_CATEGORY_READING, State: auctionv1.State_STATE_FATAL.Enum(),
			Since: timestamppb.New(at),
		}
		raw := encodeWith(t, reg, in)
		checkValue(t, raw, want{"pawn", bson.TypeNull, nil})
		checkValue(t, raw, want{"state", bson.TypeString, "STATE_FATAL"})

		out := stored{Pawn: fullPawn()} // null must clear it
		decodeWith(t, reg, raw, &out)
		if out.ID != id || !proto.Equal(out.Item, in.Item) || len(out.Buys) != 2 || !proto.Equal(out.Buys[1], in.Buys[1]) ||
			out.Pawn != nil || out.Category != in.Category || out.State == nil || *out.State != *in.State ||
			!proto.Equal(out.Since, in.Since) {
			t.Errorf("round trip through a struct:\n got %+v\nwant %+v", out, in)
		}

		// Enum numbers are accepted for robustness.
		decodeWith(t, reg, mustMarshalDoc(t, bson.D{{Key: "category", Value: int32(5)}}), &out)
		if out.Category != auctionv1.Category_CATEGORY_JEWELRY {
			t.Errorf("category from a number = %v", out.Category)
		}
	})

	t.Run("round trip of every event", func(t *testing.T) {
		for _, msg := range []proto.Message{
			&eventsv1.ItemAdded{Envelope: fullEnvelope(), Item: fullItem()},
			&eventsv1.ItemBought{Envelope: fullEnvelope(), Buy: fullBuy()},
			&eventsv1.ItemSold{Envelope: fullEnvelope(), Sell: fullSell()},
			&eventsv1.ItemPawned{Envelope: fullEnvelope(), Pawn: fullPawn()},
		} {
			got := msg.ProtoReflect().New().Interface()
			decodeWith(t, reg, encodeWith(t, reg, msg), got)
			if !proto.Equal(got, msg) {
				t.Errorf("got %v, want %v", got, msg)
			}
		}
	})
}

func TestRegistryDecodeErrorNamesTheField(t *testing.T) {
	reg := protobson.NewRegistry()
	doc := mustMarshalDoc(t, bson.D{{Key: "_id", Value: "x"}, {Key: "createdAt", Value: "yesterday"}})
	dec := bson.NewDecoder(bson.NewDocumentReader(bytes.NewReader(doc)))
	dec.SetRegistry(reg)
	var item *auctionv1.Item
	err := dec.Decode(&item)
	const want = "protobson: decode auction.v1.Item: field createdAt: cannot decode BSON string into google.protobuf.Timestamp"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}
