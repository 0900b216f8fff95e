package protobson_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auctionv1 "github.com/pawnshop/auction/gen/go/auction/v1"
	eventsv1 "github.com/pawnshop/auction/gen/go/events/v1"
)

// at is a millisecond-precision instant, the only kind the platform stamps.
var at = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func fullEnvelope() *eventsv1.Envelope {
	return &eventsv1.Envelope{
		EventId:    "5f0c6f0e-3c8e-4f7a-9d38-0b6c2d1e9a41",
		AcceptedAt: timestamppb.New(at.Add(time.Second)),
		RequestId:  "req-42",
	}
}

func fullItem() *auctionv1.Item {
	return &auctionv1.Item{
		Id:         "item-1",
		Name:       "Vespa 125",
		Category:   auctionv1.Category_CATEGORY_MOTOR,
		PriceCents: 199_900,
		State:      auctionv1.State_STATE_GOOD,
		AgeMonths:  480,
		CreatedAt:  timestamppb.New(at),
	}
}

func fullBuy() *auctionv1.Buy {
	return &auctionv1.Buy{ClientId: "ann@example", ItemId: "item-1", PriceCents: 150_000, Date: timestamppb.New(at.Add(time.Hour))}
}

func fullSell() *auctionv1.Sell {
	return &auctionv1.Sell{ClientId: "bob", ItemId: "item-1", PriceCents: 120_000, Date: timestamppb.New(at.Add(2 * time.Hour)), ProfitCents: -30_000}
}

func fullPawn() *auctionv1.Pawn {
	return &auctionv1.Pawn{ClientId: "cy", ItemId: "item-1", PriceCents: 50_000, TaxCents: 2_500, Date: timestamppb.New(at.Add(3 * time.Hour)), LimitDays: 30}
}

// storedTypes are the messages the worker writes and reads; the fuzz test
// generates random instances of each.
var storedTypes = []proto.Message{
	&eventsv1.ItemAdded{},
	&eventsv1.ItemBought{},
	&eventsv1.ItemSold{},
	&eventsv1.ItemPawned{},
	&eventsv1.AuditRecord{},
	&auctionv1.Item{},
	&auctionv1.Buy{},
	&auctionv1.Sell{},
	&auctionv1.Pawn{},
	&auctionv1.ItemWithHistory{},
}

// allKindsDescriptor builds, without protoc, a proto3 message that uses
// every field kind, proto3 optional, a oneof, maps with several key kinds,
// repeated fields and the Timestamp and Duration well-known types, so the
// generic paths the platform's own messages do not exercise are tested too.
func allKindsDescriptor(t testing.TB) protoreflect.MessageDescriptor {
	t.Helper()
	md, err := allKinds()
	if err != nil {
		t.Fatalf("build test descriptor: %v", err)
	}
	return md
}

// allKinds builds the descriptor once: proto.Equal only compares messages
// that share one descriptor.
var allKinds = sync.OnceValues(func() (protoreflect.MessageDescriptor, error) {
	type T = descriptorpb.FieldDescriptorProto_Type
	const (
		opt = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		rep = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	)
	field := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label, typ T, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: label.Enum(), Type: typ.Enum()}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	inOneof := func(f *descriptorpb.FieldDescriptorProto, idx int32, synthetic bool) *descriptorpb.FieldDescriptorProto {
		f.OneofIndex = proto.Int32(idx)
		if synthetic {
			f.Proto3Optional = proto.Bool(true)
		}
		return f
	}
	entry := func(name string, key T, value T, valueType string) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name: proto.String(name),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, opt, key, ""),
				field("value", 2, opt, value, valueType),
			},
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		}
	}
	const (
		self  = ".protobson.test.AllKinds"
		color = ".protobson.test.Color"
		ts    = ".google.protobuf.Timestamp"
		dur   = ".google.protobuf.Duration"
	)
	msg := &descriptorpb.DescriptorProto{
		Name: proto.String("AllKinds"),
		Field: []*descriptorpb.FieldDescriptorProto{
			field("b", 1, opt, descriptorpb.FieldDescriptorProto_TYPE_BOOL, ""),
			field("i32", 2, opt, descriptorpb.FieldDescriptorProto_TYPE_INT32, ""),
			field("si32", 3, opt, descriptorpb.FieldDescriptorProto_TYPE_SINT32, ""),
			field("sf32", 4, opt, descriptorpb.FieldDescriptorProto_TYPE_SFIXED32, ""),
			field("u32", 5, opt, descriptorpb.FieldDescriptorProto_TYPE_UINT32, ""),
			field("f32", 6, opt, descriptorpb.FieldDescriptorProto_TYPE_FIXED32, ""),
			field("i64", 7, opt, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""),
			field("si64", 8, opt, descriptorpb.FieldDescriptorProto_TYPE_SINT64, ""),
			field("sf64", 9, opt, descriptorpb.FieldDescriptorProto_TYPE_SFIXED64, ""),
			field("u64", 10, opt, descriptorpb.FieldDescriptorProto_TYPE_UINT64, ""),
			field("f64", 11, opt, descriptorpb.FieldDescriptorProto_TYPE_FIXED64, ""),
			field("fl", 12, opt, descriptorpb.FieldDescriptorProto_TYPE_FLOAT, ""),
			field("db", 13, opt, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, ""),
			field("s", 14, opt, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
			field("by", 15, opt, descriptorpb.FieldDescriptorProto_TYPE_BYTES, ""),
			field("color", 16, opt, descriptorpb.FieldDescriptorProto_TYPE_ENUM, color),
			field("ts", 17, opt, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ts),
			field("dur", 18, opt, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, dur),
			field("child", 19, opt, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self),
			field("nums", 20, rep, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""),
			field("tags", 21, rep, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
			field("blobs", 22, rep, descriptorpb.FieldDescriptorProto_TYPE_BYTES, ""),
			field("colors", 23, rep, descriptorpb.FieldDescriptorProto_TYPE_ENUM, color),
			field("times", 24, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ts),
			field("children", 25, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self),
			field("counts", 26, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self+".CountsEntry"),
			field("by_id", 27, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self+".ByIdEntry"),
			field("flags", 28, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self+".FlagsEntry"),
			field("big_colors", 29, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self+".BigColorsEntry"),
			inOneof(field("opt_i32", 30, opt, descriptorpb.FieldDescriptorProto_TYPE_INT32, ""), 1, true),
			inOneof(field("opt_s", 31, opt, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""), 2, true),
			inOneof(field("opt_by", 32, opt, descriptorpb.FieldDescriptorProto_TYPE_BYTES, ""), 3, true),
			inOneof(field("pick_s", 33, opt, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""), 0, false),
			inOneof(field("pick_i", 34, opt, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""), 0, false),
			inOneof(field("pick_m", 35, opt, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self), 0, false),
			inOneof(field("pick_ts", 36, opt, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ts), 0, false),
			field("snake_case_name", 37, opt, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""),
			inOneof(field("opt_color", 38, opt, descriptorpb.FieldDescriptorProto_TYPE_ENUM, color), 4, true),
		},
		NestedType: []*descriptorpb.DescriptorProto{
			entry("CountsEntry", descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""),
			entry("ByIdEntry", descriptorpb.FieldDescriptorProto_TYPE_INT32, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, self),
			entry("FlagsEntry", descriptorpb.FieldDescriptorProto_TYPE_BOOL, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
			entry("BigColorsEntry", descriptorpb.FieldDescriptorProto_TYPE_UINT64, descriptorpb.FieldDescriptorProto_TYPE_ENUM, color),
		},
		OneofDecl: []*descriptorpb.OneofDescriptorProto{
			{Name: proto.String("pick")},
			{Name: proto.String("_opt_i32")},
			{Name: proto.String("_opt_s")},
			{Name: proto.String("_opt_by")},
			{Name: proto.String("_opt_color")},
		},
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("protobson/test/all_kinds.proto"),
		Package:    proto.String("protobson.test"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto", "google/protobuf/duration.proto"},
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("Color"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("COLOR_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("COLOR_RED"), Number: proto.Int32(1)},
				{Name: proto.String("COLOR_GREEN"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{msg},
	}
	// Make sure the well-known files are linked into the global registry.
	_ = timestamppb.Timestamp{}
	_ = durationpb.Duration{}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		return nil, err
	}
	return fd.Messages().ByName("AllKinds"), nil
})

// newAllKinds returns an empty dynamic AllKinds message.
func newAllKinds(t testing.TB) *dynamicpb.Message {
	return dynamicpb.NewMessage(allKindsDescriptor(t))
}

// generator fills messages with random contents, walking the descriptor so
// one generator covers every stored type. Timestamps are whole milliseconds:
// that is the platform's invariant the exact round trip relies on.
type generator struct {
	r        *rand.Rand
	maxDepth int
}

func newGenerator(seed uint64) *generator {
	return &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), maxDepth: 3}
}

// message returns a new random message of the same type as template.
func (g *generator) message(template proto.Message) proto.Message {
	m := template.ProtoReflect().New()
	g.fill(m, 0)
	return m.Interface()
}

func (g *generator) fill(m protoreflect.Message, depth int) {
	md := m.Descriptor()
	if md.FullName() == "google.protobuf.Timestamp" {
		g.fillTimestamp(m)
		return
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if g.r.IntN(5) == 0 { // leave some fields unset
			continue
		}
		if fd.Message() != nil && !fd.IsMap() && depth >= g.maxDepth {
			continue
		}
		if fd.IsMap() && fd.MapValue().Message() != nil && depth >= g.maxDepth {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range g.r.IntN(4) {
				l.Append(g.value(fd, l.NewElement, depth))
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range g.r.IntN(4) {
				mp.Set(g.mapKey(fd.MapKey()), g.value(fd.MapValue(), mp.NewValue, depth))
			}
		default:
			// Setting a oneof member replaces the previous one, so the
			// last chosen member wins, as a real producer would have it.
			m.Set(fd, g.value(fd, func() protoreflect.Value { return m.NewField(fd) }, depth))
		}
	}
}

func (g *generator) fillTimestamp(m protoreflect.Message) {
	const lo, hi = -62135596800, 253402300799
	secs := lo + g.r.Int64N(hi-lo+1)
	if g.r.IntN(2) == 0 { // mostly around now
		secs = at.Unix() + g.r.Int64N(1e8) - 5e7
	}
	fields := m.Descriptor().Fields()
	m.Set(fields.ByNumber(1), protoreflect.ValueOfInt64(secs))
	m.Set(fields.ByNumber(2), protoreflect.ValueOfInt32(int32(g.r.IntN(1000))*1e6))
}

func (g *generator) value(fd protoreflect.FieldDescriptor, newMessage func() protoreflect.Value, depth int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(g.r.IntN(2) == 0)
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		if g.r.IntN(10) == 0 { // open enum: a number without a name
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(100 + g.r.IntN(1000)))
		}
		return protoreflect.ValueOfEnum(values.Get(g.r.IntN(values.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(g.int64(math.MinInt32, math.MaxInt32)))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(g.uint64(math.MaxUint32)))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(g.int64(math.MinInt64, math.MaxInt64))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(g.uint64(math.MaxUint64))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(g.float()))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(g.float())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(g.string(true))
	case protoreflect.BytesKind:
		b := make([]byte, g.r.IntN(8))
		for i := range b {
			b[i] = byte(g.r.UintN(256))
		}
		return protoreflect.ValueOfBytes(b)
	default: // message
		v := newMessage()
		g.fill(v.Message(), depth+1)
		return v
	}
}

func (g *generator) mapKey(fd protoreflect.FieldDescriptor) protoreflect.MapKey {
	if fd.Kind() == protoreflect.StringKind {
		return protoreflect.ValueOfString(g.string(false)).MapKey()
	}
	return g.value(fd, nil, 0).MapKey()
}

// int64 favours the edges, where encodings usually break.
func (g *generator) int64(lo, hi int64) int64 {
	switch g.r.IntN(6) {
	case 0:
		return lo
	case 1:
		return hi
	case 2:
		return 0
	case 3:
		return max(lo, -1)
	default:
		if lo == math.MinInt64 {
			return int64(g.r.Uint64())
		}
		return lo + g.r.Int64N(hi-lo+1)
	}
}

func (g *generator) uint64(hi uint64) uint64 {
	switch g.r.IntN(4) {
	case 0:
		return hi
	case 1:
		return 0
	default:
		if hi == math.MaxUint64 {
			return g.r.Uint64()
		}
		return g.r.Uint64N(hi + 1)
	}
}

func (g *generator) float() float64 {
	switch g.r.IntN(8) {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1 - 2*g.r.IntN(2))
	case 2:
		return math.Copysign(0, -1)
	case 3:
		return math.Float64frombits(g.r.Uint64())
	default:
		return g.r.NormFloat64() * 1e6
	}
}

// string returns valid UTF-8 with awkward characters; NUL only where BSON
// allows it (values, not keys).
func (g *generator) string(allowNUL bool) string {
	alphabet := []rune{'a', 'Z', '0', '.', '$', ' ', 'é', '漢', '😀', '"', '\\'}
	if allowNUL {
		alphabet = append(alphabet, 0)
	}
	var sb strings.Builder
	for range g.r.IntN(12) {
		sb.WriteRune(alphabet[g.r.IntN(len(alphabet))])
	}
	return sb.String()
}
