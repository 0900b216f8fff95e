package protobson_test

import (
	"errors"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
	"github.com/pawnshop/auction/internal/protobson"
)

// want is one expected element of an encoded document: its BSON type and,
// when val is not nil, its value.
type want struct {
	path string
	typ  bson.Type
	val  any
}

func ms(ts *timestamppb.Timestamp) bson.DateTime { return bson.DateTime(ts.AsTime().UnixMilli()) }

func TestMarshalShape(t *testing.T) {
	item, env := fullItem(), fullEnvelope()
	buy, sell, pawn := fullBuy(), fullSell(), fullPawn()
	itemKeys := []string{"id", "name", "category", "priceCents", "state", "ageMonths", "createdAt"}
	envWant := []want{
		{"envelope.eventId", bson.TypeString, env.EventId},
		{"envelope.acceptedAt", bson.TypeDateTime, ms(env.AcceptedAt)},
		{"envelope.requestId", bson.TypeString, "req-42"},
	}
	itemWant := func(prefix string) []want {
		return []want{
			{prefix + "id", bson.TypeString, "item-1"},
			{prefix + "name", bson.TypeString, "Vespa 125"},
			{prefix + "category", bson.TypeString, "CATEGORY_MOTOR"},
			{prefix + "priceCents", bson.TypeInt64, int64(199_900)},
			{prefix + "state", bson.TypeString, "STATE_GOOD"},
			{prefix + "ageMonths", bson.TypeInt64, int64(480)},
			{prefix + "createdAt", bson.TypeDateTime, ms(item.CreatedAt)},
		}
	}
	tests := []struct {
		name string
		msg  proto.Message
		keys map[string][]string // document path -> keys in order
		want []want
	}{
		{
			name: "ItemAdded",
			msg:  &eventsv1.ItemAdded{Envelope: env, Item: item},
			keys: map[string][]string{
				"":         {"envelope", "item"},
				"envelope": {"eventId", "acceptedAt", "requestId"},
				"item":     itemKeys,
			},
			want: append(slices.Clone(envWant), itemWant("item.")...),
		},
		{
			name: "ItemBought",
			msg:  &eventsv1.ItemBought{Envelope: env, Buy: buy},
			keys: map[string][]string{
				"":    {"envelope", "buy"},
				"buy": {"clientId", "itemId", "priceCents", "date"},
			},
			want: append(slices.Clone(envWant),
				want{"buy.clientId", bson.TypeString, "ann@example"},
				want{"buy.itemId", bson.TypeString, "item-1"},
				want{"buy.priceCents", bson.TypeInt64, int64(150_000)},
				want{"buy.date", bson.TypeDateTime, ms(buy.Date)},
			),
		},
		{
			name: "ItemSold",
			msg:  &eventsv1.ItemSold{Envelope: env, Sell: sell},
			keys: map[string][]string{
				"":     {"envelope", "sell"},
				"sell": {"clientId", "itemId", "priceCents", "date", "profitCents"},
			},
			want: append(slices.Clone(envWant),
				want{"sell.clientId", bson.TypeString, "bob"},
				want{"sell.priceCents", bson.TypeInt64, int64(120_000)},
				want{"sell.date", bson.TypeDateTime, ms(sell.Date)},
				want{"sell.profitCents", bson.TypeInt64, int64(-30_000)},
			),
		},
		{
			name: "ItemPawned",
			msg:  &eventsv1.ItemPawned{Envelope: env, Pawn: pawn},
			keys: map[string][]string{
				"":     {"envelope", "pawn"},
				"pawn": {"clientId", "itemId", "priceCents", "taxCents", "date", "limitDays"},
			},
			want: append(slices.Clone(envWant),
				want{"pawn.clientId", bson.TypeString, "cy"},
				want{"pawn.priceCents", bson.TypeInt64, int64(50_000)},
				want{"pawn.taxCents", bson.TypeInt64, int64(2_500)},
				want{"pawn.date", bson.TypeDateTime, ms(pawn.Date)},
				want{"pawn.limitDays", bson.TypeInt64, int64(30)},
			),
		},
		{
			name: "ItemWithHistory",
			msg: &auctionv1.ItemWithHistory{
				Item:  item,
				Buys:  []*auctionv1.Buy{buy, buy},
				Sells: []*auctionv1.Sell{sell},
				Pawns: []*auctionv1.Pawn{pawn},
			},
			keys: map[string][]string{
				"":        {"item", "buys", "sells", "pawns"},
				"item":    itemKeys,
				"buys.1":  {"clientId", "itemId", "priceCents", "date"},
				"sells.0": {"clientId", "itemId", "priceCents", "date", "profitCents"},
			},
			want: append(itemWant("item."),
				want{"buys", bson.TypeArray, nil},
				want{"buys.0", bson.TypeEmbeddedDocument, nil},
				want{"buys.1.priceCents", bson.TypeInt64, int64(150_000)},
				want{"buys.1.date", bson.TypeDateTime, ms(buy.Date)},
				want{"sells.0.profitCents", bson.TypeInt64, int64(-30_000)},
				want{"pawns.0.limitDays", bson.TypeInt64, int64(30)},
			),
		},
		{
			name: "AuditRecord",
			msg: &eventsv1.AuditRecord{
				Route: "POST /item/add", Protocol: "rest", Status: "ok", HttpStatus: 200,
				Latency: durationpb.New(1234567 * time.Nanosecond), RequestId: "req-42",
				ClientId: "ann", EventId: "ev-1", Time: timestamppb.New(at),
			},
			keys: map[string][]string{
				"":        {"route", "protocol", "status", "httpStatus", "latency", "requestId", "clientId", "eventId", "time"},
				"latency": {"nanos"},
			},
			want: []want{
				{"httpStatus", bson.TypeInt32, int32(200)},
				{"latency.nanos", bson.TypeInt32, int32(1234567)},
				{"time", bson.TypeDateTime, bson.DateTime(at.UnixMilli())},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := protobson.Marshal(tc.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if err := raw.Validate(); err != nil {
				t.Fatalf("invalid BSON: %v", err)
			}
			checkCamelCase(t, "", raw)
			for path, keys := range tc.keys {
				doc := raw
				if path != "" {
					doc = lookup(t, raw, path).Document()
				}
				if got := docKeys(t, doc); !slices.Equal(got, keys) {
					t.Errorf("keys of %q = %v, want %v", path, got, keys)
				}
			}
			for _, w := range tc.want {
				checkValue(t, raw, w)
			}

			got := tc.msg.ProtoReflect().New().Interface()
			if err := protobson.Unmarshal(raw, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !proto.Equal(got, tc.msg) {
				t.Errorf("round trip:\n got %v\nwant %v", got, tc.msg)
			}
		})
	}
}

func lookup(t *testing.T, raw bson.Raw, path string) bson.RawValue {
	t.Helper()
	rv, err := raw.LookupErr(strings.Split(path, ".")...)
	if err != nil {
		t.Fatalf("lookup %q in %v: %v", path, raw, err)
	}
	return rv
}

func docKeys(t *testing.T, doc bson.Raw) []string {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(elems))
	for i, e := range elems {
		keys[i] = e.Key()
	}
	return keys
}

func checkValue(t *testing.T, raw bson.Raw, w want) {
	t.Helper()
	rv := lookup(t, raw, w.path)
	if rv.Type != w.typ {
		t.Errorf("%s: BSON type %v, want %v", w.path, rv.Type, w.typ)
		return
	}
	if w.val == nil {
		return
	}
	var got any
	switch w.typ {
	case bson.TypeString:
		got = rv.StringValue()
	case bson.TypeInt64:
		got = rv.Int64()
	case bson.TypeInt32:
		got = rv.Int32()
	case bson.TypeDateTime:
		got = bson.DateTime(rv.DateTime())
	case bson.TypeBoolean:
		got = rv.Boolean()
	case bson.TypeDouble:
		got = rv.Double()
	default:
		t.Fatalf("%s: no value check for %v", w.path, w.typ)
	}
	if got != w.val {
		t.Errorf("%s = %#v, want %#v", w.path, got, w.val)
	}
}

var camelCase = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// checkCamelCase asserts that every document key (not array indexes, not
// map keys) is a lowerCamelCase JSON name.
func checkCamelCase(t *testing.T, path string, doc bson.Raw) {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range elems {
		if !camelCase.MatchString(e.Key()) {
			t.Errorf("key %q at %q is not lowerCamelCase", e.Key(), path)
		}
		checkNested(t, path+"."+e.Key(), e.Value())
	}
}

func checkNested(t *testing.T, path string, v bson.RawValue) {
	t.Helper()
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		checkCamelCase(t, path, v.Document())
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range vals {
			checkNested(t, path+"[]", ev)
		}
	}
}

func TestMarshalOmitsZeroValues(t *testing.T) {
	raw, err := protobson.Marshal(&auctionv1.Item{Id: "x", CreatedAt: &timestamppb.Timestamp{}})
	if err != nil {
		t.Fatal(err)
	}
	// createdAt is a set message field holding the epoch: stored, not omitted.
	if got := docKeys(t, raw); !slices.Equal(got, []string{"id", "createdAt"}) {
		t.Errorf("keys = %v, want [id createdAt]", got)
	}
	checkValue(t, raw, want{"createdAt", bson.TypeDateTime, bson.DateTime(0)})

	raw, err = protobson.Marshal(&auctionv1.ItemWithHistory{Buys: []*auctionv1.Buy{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := docKeys(t, raw); len(got) != 0 {
		t.Errorf("keys = %v, want none", got)
	}
}

func TestMarshalNil(t *testing.T) {
	for _, m := range []proto.Message{nil, (*auctionv1.Item)(nil)} {
		raw, err := protobson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(docKeys(t, raw)) != 0 {
			t.Errorf("Marshal(%#v) = %v, want {}", m, raw)
		}
	}
	if err := protobson.Unmarshal(bson.Raw{5, 0, 0, 0, 0}, (*auctionv1.Item)(nil)); err == nil {
		t.Error("Unmarshal into a nil *Item succeeded")
	}
	if err := protobson.Unmarshal(bson.Raw{5, 0, 0, 0, 0}, nil); err == nil {
		t.Error("Unmarshal into nil succeeded")
	}
}

// TestTimestampTruncation documents the storage choice: a BSON datetime has
// millisecond precision, so sub-millisecond nanos are dropped (towards the
// past, also before 1970), and millisecond timestamps are exact.
func TestTimestampTruncation(t *testing.T) {
	tests := []struct {
		name       string
		in         *timestamppb.Timestamp
		wantMillis int64
		wantOut    *timestamppb.Timestamp
	}{
		{"sub-ms truncated", &timestamppb.Timestamp{Seconds: 1_700_000_000, Nanos: 123_456_789}, 1_700_000_000_123, &timestamppb.Timestamp{Seconds: 1_700_000_000, Nanos: 123_000_000}},
		{"ms exact", &timestamppb.Timestamp{Seconds: 1_700_000_000, Nanos: 999_000_000}, 1_700_000_000_999, &timestamppb.Timestamp{Seconds: 1_700_000_000, Nanos: 999_000_000}},
		{"before 1970 truncates to the past", &timestamppb.Timestamp{Seconds: -1, Nanos: 500_999_999}, -500, &timestamppb.Timestamp{Seconds: -1, Nanos: 500_000_000}},
		{"year 1", &timestamppb.Timestamp{Seconds: -62135596800}, -62135596800_000, &timestamppb.Timestamp{Seconds: -62135596800}},
		{"year 9999", &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_999_999}, 253402300799_999, &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_000_000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := protobson.Marshal(&auctionv1.Item{CreatedAt: tc.in})
			if err != nil {
				t.Fatal(err)
			}
			checkValue(t, raw, want{"createdAt", bson.TypeDateTime, bson.DateTime(tc.wantMillis)})
			var got auctionv1.Item
			if err := protobson.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got.CreatedAt, tc.wantOut) {
				t.Errorf("decoded %v, want %v", got.CreatedAt, tc.wantOut)
			}
		})
	}

	// TimestampMillis is how producers make timestamps that round-trip.
	now := time.Date(2026, 1, 2, 3, 4, 5, 678_901_234, time.UTC)
	ts := protobson.TimestampMillis(now)
	if ts.Nanos != 678_000_000 {
		t.Errorf("TimestampMillis nanos = %d, want 678000000", ts.Nanos)
	}
	raw, err := protobson.Marshal(&auctionv1.Item{CreatedAt: ts})
	if err != nil {
		t.Fatal(err)
	}
	var got auctionv1.Item
	if err := protobson.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.CreatedAt, ts) {
		t.Errorf("TimestampMillis value did not round-trip: %v != %v", got.CreatedAt, ts)
	}
}

func TestMarshalErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"nanos out of range", &eventsv1.ItemAdded{Item: &auctionv1.Item{CreatedAt: &timestamppb.Timestamp{Nanos: 1e9}}}, "field item.createdAt: invalid google.protobuf.Timestamp"},
		{"year 10000", &auctionv1.ItemWithHistory{Buys: []*auctionv1.Buy{{}, {Date: &timestamppb.Timestamp{Seconds: 253402300800}}}}, "field buys[1].date: invalid google.protobuf.Timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := protobson.Marshal(tc.msg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUnmarshalLenient(t *testing.T) {
	created := time.Date(2025, 12, 24, 18, 0, 0, 250_000_000, time.UTC)
	doc := mustMarshalDoc(t, bson.D{
		{Key: "_id", Value: bson.NewObjectID()},
		{Key: "item", Value: bson.D{
			{Key: "id", Value: "item-9"},
			{Key: "category", Value: int32(6)}, // a number instead of a name
			{Key: "state", Value: "STATE_NEW"},
			{Key: "price_cents", Value: 1000.0}, // proto name, shell-style double
			{Key: "ageMonths", Value: int32(7)}, // int32 where int64 is written
			{Key: "createdAt", Value: bson.NewDateTimeFromTime(created)},
			{Key: "name", Value: nil}, // null means absent
			{Key: "extra", Value: bson.D{{Key: "deep", Value: bson.A{1, "x"}}}},
		}},
		{Key: "storedAt", Value: bson.NewDateTimeFromTime(time.Now())},
		{Key: "version", Value: int32(3)},
	})
	got := &eventsv1.ItemAdded{Envelope: &eventsv1.Envelope{RequestId: "stale"}}
	if err := protobson.Unmarshal(doc, got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := &eventsv1.ItemAdded{Item: &auctionv1.Item{
		Id: "item-9", Category: auctionv1.Category_CATEGORY_MOTOR, State: auctionv1.State_STATE_NEW,
		PriceCents: 1000, AgeMonths: 7, CreatedAt: timestamppb.New(created),
	}}
	if !proto.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestUnmarshalErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		doc  bson.D
		want string
	}{
		{"string into int64", bson.D{{Key: "item", Value: bson.D{{Key: "priceCents", Value: "12"}}}}, "field item.priceCents: cannot decode BSON string into int64"},
		{"unknown enum name", bson.D{{Key: "item", Value: bson.D{{Key: "category", Value: "CATEGORY_SPACESHIP"}}}}, `field item.category: unknown auction.v1.Category value "CATEGORY_SPACESHIP"`},
		{"uint32 overflow", bson.D{{Key: "item", Value: bson.D{{Key: "ageMonths", Value: int64(math.MaxUint32 + 1)}}}}, "field item.ageMonths: 4294967296 overflows uint32"},
		{"fractional double", bson.D{{Key: "item", Value: bson.D{{Key: "priceCents", Value: 1.5}}}}, "field item.priceCents: double 1.5 is not a int64"},
		{"scalar for message", bson.D{{Key: "envelope", Value: "x"}}, "field envelope: cannot decode BSON string into events.v1.Envelope"},
		{"string for datetime", bson.D{{Key: "envelope", Value: bson.D{{Key: "acceptedAt", Value: "2026-01-01"}}}}, "field envelope.acceptedAt: cannot decode BSON string into google.protobuf.Timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := protobson.Unmarshal(mustMarshalDoc(t, tc.doc), &eventsv1.ItemAdded{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "protobson: unmarshal events.v1.ItemAdded: ") {
				t.Errorf("error %q lacks the operation and type prefix", err)
			}
			if errors.Unwrap(err) == nil {
				t.Errorf("error %q does not wrap its cause", err)
			}
		})
	}

	history := mustMarshalDoc(t, bson.D{{Key: "buys", Value: bson.A{
		bson.D{{Key: "priceCents", Value: int64(1)}},
		bson.D{{Key: "priceCents", Value: true}},
	}}})
	err := protobson.Unmarshal(history, &auctionv1.ItemWithHistory{})
	if err == nil || !strings.Contains(err.Error(), "field buys[1].priceCents: cannot decode BSON boolean into int64") {
		t.Errorf("error = %v, want it to name buys[1].priceCents", err)
	}

	if err := protobson.Unmarshal([]byte{1, 2, 3}, &auctionv1.Item{}); err == nil || errors.Unwrap(err) == nil {
		t.Errorf("invalid BSON: error = %v, want a wrapped error", err)
	}
}

func mustMarshalDoc(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenericKinds covers the mapping for what the platform's messages do
// not use yet (every scalar kind, optional, oneof, maps, Duration) on a
// dynamic message.
func TestGenericKinds(t *testing.T) {
	md := allKindsDescriptor(t)
	m := newAllKinds(t)
	set := func(name string, v protoreflect.Value) { m.Set(md.Fields().ByName(protoreflect.Name(name)), v) }
	set("b", protoreflect.ValueOfBool(true))
	set("i32", protoreflect.ValueOfInt32(-5))
	set("u32", protoreflect.ValueOfUint32(math.MaxUint32))
	set("u64", protoreflect.ValueOfUint64(math.MaxUint64))
	set("f64", protoreflect.ValueOfUint64(42))
	set("fl", protoreflect.ValueOfFloat32(1.5))
	set("db", protoreflect.ValueOfFloat64(-2.25))
	set("by", protoreflect.ValueOfBytes([]byte{0, 1, 2}))
	set("color", protoreflect.ValueOfEnum(2))
	set("dur", protoreflect.ValueOfMessage((&durationpb.Duration{Seconds: 3, Nanos: 500}).ProtoReflect()))
	set("opt_i32", protoreflect.ValueOfInt32(0)) // explicit presence: stored although zero
	set("opt_by", protoreflect.ValueOfBytes([]byte{}))
	set("opt_color", protoreflect.ValueOfEnum(0))
	set("pick_i", protoreflect.ValueOfInt64(0)) // oneof member set to zero: stored
	set("snake_case_name", protoreflect.ValueOfInt64(9))
	fd := md.Fields().ByName("counts")
	counts := m.Mutable(fd).Map()
	counts.Set(protoreflect.ValueOfString("b").MapKey(), protoreflect.ValueOfInt64(2))
	counts.Set(protoreflect.ValueOfString("a").MapKey(), protoreflect.ValueOfInt64(1))
	flags := m.Mutable(md.Fields().ByName("flags")).Map()
	flags.Set(protoreflect.ValueOfBool(true).MapKey(), protoreflect.ValueOfString("yes"))
	flags.Set(protoreflect.ValueOfBool(false).MapKey(), protoreflect.ValueOfString("no"))
	byID := m.Mutable(md.Fields().ByName("by_id")).Map()
	child := byID.NewValue()
	child.Message().Set(md.Fields().ByName("s"), protoreflect.ValueOfString("kid"))
	byID.Set(protoreflect.ValueOfInt32(-7).MapKey(), child)
	big := m.Mutable(md.Fields().ByName("big_colors")).Map()
	big.Set(protoreflect.ValueOfUint64(math.MaxUint64).MapKey(), protoreflect.ValueOfEnum(99))
	times := m.Mutable(md.Fields().ByName("times")).List()
	times.Append(protoreflect.ValueOfMessage(timestamppb.New(at).ProtoReflect()))
	colors := m.Mutable(md.Fields().ByName("colors")).List()
	colors.Append(protoreflect.ValueOfEnum(1))
	colors.Append(protoreflect.ValueOfEnum(7))

	raw, err := protobson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []want{
		{"b", bson.TypeBoolean, true},
		{"i32", bson.TypeInt32, int32(-5)},
		{"u32", bson.TypeInt64, int64(math.MaxUint32)},
		{"u64", bson.TypeInt64, int64(-1)}, // same 64 bits
		{"f64", bson.TypeInt64, int64(42)},
		{"fl", bson.TypeDouble, 1.5},
		{"db", bson.TypeDouble, -2.25},
		{"by", bson.TypeBinary, nil},
		{"color", bson.TypeString, "COLOR_GREEN"},
		{"dur.seconds", bson.TypeInt64, int64(3)},
		{"dur.nanos", bson.TypeInt32, int32(500)},
		{"optI32", bson.TypeInt32, int32(0)},
		{"optBy", bson.TypeBinary, nil},
		{"optColor", bson.TypeString, "COLOR_UNSPECIFIED"},
		{"pickI", bson.TypeInt64, int64(0)},
		{"snakeCaseName", bson.TypeInt64, int64(9)},
		{"counts.a", bson.TypeInt64, int64(1)},
		{"flags.true", bson.TypeString, "yes"},
		{"byId.-7.s", bson.TypeString, "kid"},
		{"bigColors.18446744073709551615", bson.TypeInt32, int32(99)}, // unnamed enum number
		{"times.0", bson.TypeDateTime, bson.DateTime(at.UnixMilli())},
		{"colors.0", bson.TypeString, "COLOR_RED"},
		{"colors.1", bson.TypeInt32, int32(7)},
	} {
		checkValue(t, raw, w)
	}
	if got := docKeys(t, lookup(t, raw, "counts").Document()); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("map keys %v, want sorted [a b]", got)
	}
	if got := docKeys(t, lookup(t, raw, "flags").Document()); !slices.Equal(got, []string{"false", "true"}) {
		t.Errorf("map keys %v, want sorted [false true]", got)
	}
	for _, absent := range []string{"s", "optS", "pickS", "pickM", "child", "nums"} {
		if _, err := raw.LookupErr(absent); err == nil {
			t.Errorf("unset field %q was stored", absent)
		}
	}

	got := newAllKinds(t)
	if err := protobson.Unmarshal(raw, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, m) {
		t.Errorf("round trip:\n got %v\nwant %v", got, m)
	}
	if !got.Has(md.Fields().ByName("opt_i32")) || !got.Has(md.Fields().ByName("opt_by")) {
		t.Error("presence of optional fields set to zero was lost")
	}
}
