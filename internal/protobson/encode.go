package protobson

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// timestampName identifies google.protobuf.Timestamp by descriptor, so the
// special case also applies to dynamic messages, not only to timestamppb.
const timestampName protoreflect.FullName = "google.protobuf.Timestamp"

// Bounds of the protobuf Timestamp range, 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z, in Unix seconds (the same range timestamppb checks).
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// encodeMessage writes m as a BSON document, fields in declaration order so
// the output is deterministic.
func encodeMessage(vw bson.ValueWriter, m protoreflect.Message) error {
	dw, err := vw.WriteDocument()
	if err != nil {
		return err
	}
	if err := encodeFields(dw, m); err != nil {
		return err
	}
	return dw.WriteDocumentEnd()
}

// encodeFields writes the populated fields of m into an open document.
func encodeFields(dw bson.DocumentWriter, m protoreflect.Message) error {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		name := fd.JSONName()
		evw, err := dw.WriteDocumentElement(name)
		if err != nil {
			return atField(name, err)
		}
		if err := encodeField(evw, fd, m.Get(fd)); err != nil {
			return atField(name, err)
		}
	}
	return nil
}

// encodeField writes one populated field: a list as an array, a map as a
// sub-document, anything else as a single value.
func encodeField(vw bson.ValueWriter, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsList():
		return encodeList(vw, fd, v.List())
	case fd.IsMap():
		return encodeMap(vw, fd, v.Map())
	default:
		return encodeSingular(vw, fd, v)
	}
}

func encodeList(vw bson.ValueWriter, fd protoreflect.FieldDescriptor, l protoreflect.List) error {
	aw, err := vw.WriteArray()
	if err != nil {
		return err
	}
	for i := range l.Len() {
		evw, err := aw.WriteArrayElement()
		if err != nil {
			return atIndex(strconv.Itoa(i), err)
		}
		if err := encodeSingular(evw, fd, l.Get(i)); err != nil {
			return atIndex(strconv.Itoa(i), err)
		}
	}
	return aw.WriteArrayEnd()
}

func encodeMap(vw bson.ValueWriter, fd protoreflect.FieldDescriptor, mp protoreflect.Map) error {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, compareMapKeys)
	dw, err := vw.WriteDocument()
	if err != nil {
		return err
	}
	valueFD := fd.MapValue()
	for _, k := range keys {
		// MapKey.String formats every key kind: decimal integers, "true"/"false".
		key := k.String()
		evw, err := dw.WriteDocumentElement(key)
		if err != nil {
			return atIndex(strconv.Quote(key), err)
		}
		if err := encodeSingular(evw, valueFD, mp.Get(k)); err != nil {
			return atIndex(strconv.Quote(key), err)
		}
	}
	return dw.WriteDocumentEnd()
}

// compareMapKeys orders map keys of one kind naturally (numbers numerically,
// false before true), which keeps the encoded bytes stable.
func compareMapKeys(a, b protoreflect.MapKey) int {
	switch av := a.Interface().(type) {
	case bool:
		bv := b.Bool()
		switch {
		case av == bv:
			return 0
		case !av:
			return -1
		default:
			return 1
		}
	case int32, int64:
		return cmp.Compare(a.Int(), b.Int())
	case uint32, uint64:
		return cmp.Compare(a.Uint(), b.Uint())
	default:
		return cmp.Compare(a.String(), b.String())
	}
}

// encodeSingular writes one value of fd's kind (a singular field, a list
// element or a map value).
func encodeSingular(vw bson.ValueWriter, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return vw.WriteBoolean(v.Bool())
	case protoreflect.EnumKind:
		return encodeEnum(vw, fd.Enum(), v.Enum())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return vw.WriteInt32(int32(v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return vw.WriteInt64(int64(v.Uint()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return vw.WriteInt64(v.Int())
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		// Same 64 bits; see the package doc.
		return vw.WriteInt64(int64(v.Uint()))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return vw.WriteDouble(v.Float())
	case protoreflect.StringKind:
		return vw.WriteString(v.String())
	case protoreflect.BytesKind:
		return vw.WriteBinary(v.Bytes())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fd.Message().FullName() == timestampName {
			return encodeTimestamp(vw, v.Message())
		}
		return encodeMessage(vw, v.Message())
	default:
		return fmt.Errorf("unsupported field kind %v", fd.Kind())
	}
}

// encodeEnum writes the value's name, or its number when the enum has no
// value with that number.
func encodeEnum(vw bson.ValueWriter, ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) error {
	if ev := ed.Values().ByNumber(n); ev != nil {
		return vw.WriteString(string(ev.Name()))
	}
	return vw.WriteInt32(int32(n))
}

// encodeTimestamp writes a google.protobuf.Timestamp as a BSON datetime,
// truncating to the millisecond (see the package doc).
func encodeTimestamp(vw bson.ValueWriter, m protoreflect.Message) error {
	ms, err := timestampMillis(m)
	if err != nil {
		return err
	}
	return vw.WriteDateTime(ms)
}

// timestampMillis validates a google.protobuf.Timestamp message and returns
// it as milliseconds since the Unix epoch, truncated towards the past.
func timestampMillis(m protoreflect.Message) (int64, error) {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByNumber(1)).Int()
	nanos := m.Get(fields.ByNumber(2)).Int()
	if nanos < 0 || nanos >= 1e9 {
		return 0, fmt.Errorf("invalid google.protobuf.Timestamp: nanos %d outside [0, 1e9)", nanos)
	}
	if secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return 0, fmt.Errorf("invalid google.protobuf.Timestamp: seconds %d outside years 1 to 9999", secs)
	}
	// nanos >= 0, so integer division truncates towards the past, also
	// before 1970.
	return secs*1000 + nanos/1e6, nil
}

// encodeMessageValue is the registry encoder for every proto.Message. The
// driver hands it the message pointer, an addressable message struct (via its
// address-conditional encoder) or a proto.Message interface; a nil message
// becomes BSON null so optional struct fields of message type work.
func encodeMessageValue(_ bson.EncodeContext, vw bson.ValueWriter, val reflect.Value) error {
	m, err := messageOf(val, false)
	if err != nil {
		return fmt.Errorf("protobson: encode %s: %w", val.Type(), err)
	}
	if m == nil {
		return vw.WriteNull()
	}
	mr := m.ProtoReflect()
	if err := encodeMessage(vw, mr); err != nil {
		return codecError("encode", mr.Descriptor(), err)
	}
	return nil
}

// encodeTimestampValue is the registry encoder for a bare
// *timestamppb.Timestamp (in a filter or a plain Go struct): a BSON datetime,
// like a Timestamp field inside a message.
func encodeTimestampValue(_ bson.EncodeContext, vw bson.ValueWriter, val reflect.Value) error {
	if val.IsNil() {
		return vw.WriteNull()
	}
	ts := val.Interface().(*timestamppb.Timestamp)
	if err := encodeTimestamp(vw, ts.ProtoReflect()); err != nil {
		return fmt.Errorf("protobson: encode %s: %w", timestampName, err)
	}
	return nil
}

// encodeEnumValue is the registry encoder for generated enum types, so a
// filter value matches the name string stored inside documents.
func encodeEnumValue(_ bson.EncodeContext, vw bson.ValueWriter, val reflect.Value) error {
	for val.Kind() == reflect.Pointer || val.Kind() == reflect.Interface {
		if val.IsNil() {
			return vw.WriteNull()
		}
		val = val.Elem()
	}
	e, ok := val.Interface().(protoreflect.Enum)
	if !ok {
		return fmt.Errorf("protobson: encode %s: not a protobuf enum", val.Type())
	}
	return encodeEnum(vw, e.Descriptor(), e.Number())
}

// messageOf extracts the proto.Message behind a registry value. It returns
// nil for a nil pointer or interface. With alloc set (decoding) a nil pointer
// that can be set is replaced by a new message, as the driver does for
// pointers to structs.
func messageOf(val reflect.Value, alloc bool) (proto.Message, error) {
	switch val.Kind() {
	case reflect.Interface:
		if val.IsNil() {
			if alloc {
				return nil, fmt.Errorf("cannot decode into a nil %s: the concrete message type is unknown", val.Type())
			}
			return nil, nil
		}
		elem := val.Elem()
		if alloc && elem.Kind() == reflect.Pointer && elem.IsNil() {
			if !val.CanSet() {
				return nil, fmt.Errorf("cannot decode into a nil %s", elem.Type())
			}
			elem = reflect.New(elem.Type().Elem())
			val.Set(elem)
		}
		return messageOf(elem, alloc)
	case reflect.Pointer:
		if val.IsNil() {
			if !alloc {
				return nil, nil
			}
			if !val.CanSet() {
				return nil, fmt.Errorf("cannot decode into a nil %s", val.Type())
			}
			val.Set(reflect.New(val.Type().Elem()))
		}
	default:
		if !val.CanAddr() {
			return nil, fmt.Errorf("%s is not addressable; pass a pointer to the message", val.Type())
		}
		val = val.Addr()
	}
	m, ok := val.Interface().(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%s does not implement proto.Message", val.Type())
	}
	return m, nil
}
