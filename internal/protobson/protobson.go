// Package protobson stores protobuf messages in MongoDB as ordinary, readable
// BSON documents, so the worker can hand generated messages (events.v1 and
// auction.v1) straight to the MongoDB Go driver v2 and read them back without
// a hand-written mirror struct for every message.
//
// The codec walks the message descriptor with protoreflect; it never goes
// through protojson, because a JSON detour would turn int64 into strings and
// timestamps into text and lose the BSON types that make the documents
// queryable. One generic encoder/decoder serves every proto.Message: install it
// with [Register] or [NewRegistry] and pass the registry to the client
// (options.Client().SetRegistry(reg)), or call [Marshal] and [Unmarshal]
// directly.
//
// # Document shape
//
//   - Field names are the proto JSON names (lowerCamelCase: priceCents,
//     createdAt). Decoding also accepts the original proto names
//     (price_cents).
//   - Unset fields are omitted, as protojson does: proto3 fields without
//     presence are omitted when they hold the zero value, empty repeated
//     fields and maps are omitted. Fields with explicit presence (`optional`
//     scalars, oneof members, message fields) are stored whenever they are
//     set, even to a zero value, so presence survives the round trip.
//   - bool is a BSON boolean, string a BSON string, bytes a BSON binary
//     (generic subtype), float and double a BSON double.
//   - int32, sint32 and sfixed32 are BSON int32. uint32 and fixed32 are BSON
//     int64, because values above math.MaxInt32 do not fit an int32 and one
//     field should always have one BSON type.
//   - int64, sint64 and sfixed64 are BSON int64 (never strings). uint64 and
//     fixed64 are BSON int64 holding the same 64 bits: values up to
//     math.MaxInt64 read naturally, larger ones appear negative to MongoDB
//     queries but still round-trip exactly.
//   - Enums are stored as the value NAME string ("CATEGORY_MOTOR") so the
//     documents read well in MongoDB tools without the .proto at hand. A
//     number with no name in the enum (proto3 enums are open) is stored as
//     BSON int32. Decoding accepts names and, for robustness, numbers (int32,
//     int64 or an integral double).
//   - Nested messages are sub-documents, repeated fields arrays, maps
//     sub-documents whose keys are the map keys formatted as strings
//     (decimal for integers, "true"/"false" for bools), written in sorted key
//     order so equal messages give equal bytes.
//   - A oneof stores only its set member, under that member's field name.
//
// # Well-known types
//
// google.protobuf.Timestamp is a BSON datetime, which has millisecond
// precision: encoding truncates sub-millisecond nanos (towards the past), and
// decoding yields a Timestamp whose nanos are a whole number of milliseconds.
// This package chose truncation over storing the nanos beside the datetime
// because a plain datetime is what range queries, TTL indexes and every
// MongoDB tool expect. The round trip is therefore exact for every
// millisecond-precision Timestamp, and the platform only produces those:
// producers stamp messages with [TimestampMillis]. Timestamps outside the
// protobuf range (years 1 to 9999) or with nanos outside [0, 1e9) are
// rejected instead of being stored as a wrong date.
//
// google.protobuf.Duration is stored as the generic sub-document
// {seconds: int64, nanos: int32}, which is exact; a millisecond count was not
// chosen because the latencies the platform records are often below one
// millisecond. Every other well-known type also uses the generic message
// mapping.
//
// # Registry values outside messages
//
// Besides proto.Message, the registry from [Register] encodes a bare
// *timestamppb.Timestamp as a BSON datetime and generated enum values as their
// name strings, so filters built from proto values (bson.M{"item.category":
// auctionv1.Category_CATEGORY_MOTOR}) match what the codec stored.
//
// # What is not stored
//
// Unknown protobuf fields carried by a message (from a newer schema) and
// extensions are dropped, as protojson drops them. Decoding ignores document
// fields that are not message fields, such as `_id` or bookkeeping fields the
// repository adds, resets the target message first (the result never merges
// with stale contents), and treats a BSON null field as absent.
package protobson

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Register installs the protobuf codec in reg, so that every type implementing
// proto.Message (and generated enums and bare Timestamps, see the package
// doc) is encoded and decoded by this package instead of the driver's struct
// codec, which would expose the generated structs' internals. Hand the driver
// message pointers (or addressable values): a message struct passed by value
// cannot reach the pointer methods and falls back to the struct codec. Call
// Register before the registry is first used; like the driver's Register
// methods it is not safe to call concurrently with lookups.
func Register(reg *bson.Registry) {
	reg.RegisterInterfaceEncoder(reflect.TypeFor[proto.Message](), bson.ValueEncoderFunc(encodeMessageValue))
	reg.RegisterInterfaceDecoder(reflect.TypeFor[proto.Message](), bson.ValueDecoderFunc(decodeMessageValue))
	reg.RegisterInterfaceEncoder(reflect.TypeFor[protoreflect.Enum](), bson.ValueEncoderFunc(encodeEnumValue))
	reg.RegisterInterfaceDecoder(reflect.TypeFor[protoreflect.Enum](), bson.ValueDecoderFunc(decodeEnumValue))
	reg.RegisterTypeEncoder(reflect.TypeFor[*timestamppb.Timestamp](), bson.ValueEncoderFunc(encodeTimestampValue))
	reg.RegisterTypeDecoder(reflect.TypeFor[*timestamppb.Timestamp](), bson.ValueDecoderFunc(decodeTimestampValue))
}

// NewRegistry returns the driver's default registry (bson.NewRegistry) with
// the protobuf codec registered, which is what a client that stores protobuf
// messages should be created with.
func NewRegistry() *bson.Registry {
	reg := bson.NewRegistry()
	Register(reg)
	return reg
}

// Marshal encodes m as a BSON document in the shape described in the package
// doc, for callers (the repository layer, tests) that need the bytes without
// a driver round trip. A nil message encodes as an empty document, as
// proto.Marshal and protojson.Marshal treat nil as empty.
func Marshal(m proto.Message) (bson.Raw, error) {
	if m == nil {
		return bson.Raw{5, 0, 0, 0, 0}, nil
	}
	mr := m.ProtoReflect()
	var buf bytes.Buffer
	if err := encodeMessage(bson.NewDocumentWriter(&buf), mr); err != nil {
		return nil, codecError("marshal", mr.Descriptor(), err)
	}
	return bson.Raw(buf.Bytes()), nil
}

// idKey is the primary key field of a MongoDB document.
const idKey = "_id"

// MarshalWithID encodes m as [Marshal] does, with a string _id as the
// document's first field: the shape of a stored document, written in one
// pass instead of re-copying the encoded fields behind the key. A message
// with a field whose JSON name is "_id" is refused, as the key would be
// written twice. A nil message gives a document holding only the _id.
func MarshalWithID(id string, m proto.Message) (bson.Raw, error) {
	var buf bytes.Buffer
	dw, err := bson.NewDocumentWriter(&buf).WriteDocument()
	if err != nil {
		return nil, err
	}
	idw, err := dw.WriteDocumentElement(idKey)
	if err != nil {
		return nil, err
	}
	if err := idw.WriteString(id); err != nil {
		return nil, err
	}
	if m != nil {
		mr := m.ProtoReflect()
		if fd := mr.Descriptor().Fields().ByJSONName(idKey); fd != nil {
			return nil, codecError("marshal", mr.Descriptor(), fmt.Errorf("field %s has the JSON name %s, which is the document key", fd.Name(), idKey))
		}
		if err := encodeFields(dw, mr); err != nil {
			return nil, codecError("marshal", mr.Descriptor(), err)
		}
	}
	if err := dw.WriteDocumentEnd(); err != nil {
		return nil, err
	}
	return bson.Raw(buf.Bytes()), nil
}

// Unmarshal decodes the BSON document data into m, replacing m's contents.
// It accepts what [Marshal] writes plus the leniencies listed in the package
// doc (unknown fields, enum numbers, proto field names, nulls).
func Unmarshal(data []byte, m proto.Message) error {
	if m == nil {
		return errors.New("protobson: unmarshal into nil proto.Message")
	}
	mr := m.ProtoReflect()
	if !mr.IsValid() {
		return fmt.Errorf("protobson: unmarshal into nil %s", mr.Descriptor().FullName())
	}
	if err := validateDocument(data, 0); err != nil {
		return fmt.Errorf("protobson: unmarshal %s: invalid BSON document: %w", mr.Descriptor().FullName(), err)
	}
	proto.Reset(m)
	// The driver reads data in place through the registry (a pooled reader
	// over the slice): bson.NewDocumentReader would allocate a 4 KiB
	// bufio.Reader for every document, most of what decoding a stored item
	// allocated (BenchmarkUnmarshal: 6.3 KB per call).
	t := unmarshalTarget{m: mr}
	if err := (bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: data}).UnmarshalWithRegistry(unmarshalRegistry, &t); err != nil {
		return codecError("unmarshal", mr.Descriptor(), err)
	}
	return nil
}

// unmarshalTarget is the message Unmarshal fills, in the one type
// unmarshalRegistry decodes.
type unmarshalTarget struct{ m protoreflect.Message }

// unmarshalRegistry decodes an unmarshalTarget with decodeMessage: the way
// to a ValueReader over a byte slice, which the driver does not export.
var unmarshalRegistry = func() *bson.Registry {
	r := bson.NewRegistry()
	r.RegisterTypeDecoder(reflect.TypeFor[unmarshalTarget](), bson.ValueDecoderFunc(
		func(_ bson.DecodeContext, vr bson.ValueReader, v reflect.Value) error {
			return decodeMessage(vr, v.Addr().Interface().(*unmarshalTarget).m)
		}))
	return r
}()

// maxNesting bounds how deep validateDocument descends. MongoDB stores at
// most 100 levels, so every document the server returns passes.
const maxNesting = 128

// validateDocument checks doc and, unlike bson.Raw.Validate, every nested
// document and array. The driver's streaming reader that Unmarshal uses
// trusts length prefixes, so a string length reaching past the input would
// otherwise make it allocate that many bytes before failing.
func validateDocument(doc bson.Raw, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("documents nested deeper than %d levels", maxNesting)
	}
	if err := doc.Validate(); err != nil {
		return err
	}
	elems, err := doc.Elements()
	if err != nil {
		return err
	}
	for _, e := range elems {
		v, err := e.ValueErr()
		if err != nil {
			return err
		}
		if v.Type == bson.TypeEmbeddedDocument || v.Type == bson.TypeArray {
			// An array has the same layout as a document.
			if err := validateDocument(v.Value, depth+1); err != nil {
				return fmt.Errorf("%s: %w", e.Key(), err)
			}
		}
	}
	return nil
}

// TimestampMillis returns t truncated to the millisecond as a Timestamp.
// Producers stamp messages with it because a BSON datetime keeps only
// milliseconds: such timestamps round-trip through MongoDB exactly.
func TimestampMillis(t time.Time) *timestamppb.Timestamp {
	return timestamppb.New(t.Truncate(time.Millisecond))
}

// pathError carries the dotted path of the field that failed up through the
// recursive walk, so the final error names the exact field
// (item.createdAt, buys[2].priceCents) instead of only the innermost one.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "field " + e.path + ": " + e.err.Error() }

func (e *pathError) Unwrap() error { return e.err }

// atField prefixes err's path with the field name.
func atField(name string, err error) error {
	if pe, ok := err.(*pathError); ok {
		if strings.HasPrefix(pe.path, "[") {
			pe.path = name + pe.path
		} else {
			pe.path = name + "." + pe.path
		}
		return pe
	}
	return &pathError{path: name, err: err}
}

// atIndex prefixes err's path with a list index or map key; the caller
// wraps the result with atField for the field holding the list or map.
func atIndex(index string, err error) error {
	if pe, ok := err.(*pathError); ok {
		if strings.HasPrefix(pe.path, "[") {
			pe.path = "[" + index + "]" + pe.path
		} else {
			pe.path = "[" + index + "]." + pe.path
		}
		return pe
	}
	return &pathError{path: "[" + index + "]", err: err}
}

// codecError turns the walk's error into the package's public error form,
// naming the operation, the message type and the failing field, and wrapping
// the cause with %w so callers can still errors.Is / errors.As it.
func codecError(op string, md protoreflect.MessageDescriptor, err error) error {
	if pe, ok := err.(*pathError); ok {
		return fmt.Errorf("protobson: %s %s: field %s: %w", op, md.FullName(), pe.path, pe.err)
	}
	return fmt.Errorf("protobson: %s %s: %w", op, md.FullName(), err)
}
