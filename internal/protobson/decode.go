package protobson

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// decodeMessage reads a BSON document into m, which must be empty or hold
// only what earlier elements of the same document set. Elements that match
// no field (by JSON name, then by proto name) are skipped.
func decodeMessage(vr bson.ValueReader, m protoreflect.Message) error {
	// A top-level reader reports type 0; everywhere else the element type
	// must be a document.
	if t := vr.Type(); t != 0 && t != bson.TypeEmbeddedDocument {
		return typeMismatch(t, string(m.Descriptor().FullName()))
	}
	dr, err := vr.ReadDocument()
	if err != nil {
		return err
	}
	fields := m.Descriptor().Fields()
	for {
		name, evr, err := dr.ReadElement()
		if errors.Is(err, bson.ErrEOD) {
			return nil
		}
		if err != nil {
			return err
		}
		fd := fields.ByJSONName(name)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(name))
		}
		if fd == nil {
			if err := evr.Skip(); err != nil {
				return atField(name, err)
			}
			continue
		}
		if err := decodeField(evr, m, fd); err != nil {
			return atField(name, err)
		}
	}
}

// isNull reports whether the value is BSON null or undefined, which decoding
// treats as an absent field.
func isNull(vr bson.ValueReader) bool {
	t := vr.Type()
	return t == bson.TypeNull || t == bson.TypeUndefined
}

// decodeField reads one element into field fd of m, replacing what the
// field held.
func decodeField(vr bson.ValueReader, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	if isNull(vr) {
		m.Clear(fd)
		return vr.Skip()
	}
	switch {
	case fd.IsList():
		return decodeList(vr, m, fd)
	case fd.IsMap():
		return decodeMap(vr, m, fd)
	default:
		v, err := decodeSingular(vr, fd, func() protoreflect.Value { return m.NewField(fd) })
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
}

func decodeList(vr bson.ValueReader, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	if t := vr.Type(); t != bson.TypeArray {
		return typeMismatch(t, "repeated "+kindName(fd))
	}
	ar, err := vr.ReadArray()
	if err != nil {
		return err
	}
	m.Clear(fd)
	l := m.Mutable(fd).List()
	for i := 0; ; i++ {
		evr, err := ar.ReadValue()
		if errors.Is(err, bson.ErrEOA) {
			break
		}
		if err != nil {
			return atIndex(strconv.Itoa(i), err)
		}
		v, err := decodeSingular(evr, fd, l.NewElement)
		if err != nil {
			return atIndex(strconv.Itoa(i), err)
		}
		l.Append(v)
	}
	if l.Len() == 0 {
		// Keep "empty" and "unset" the same, as they are on the wire.
		m.Clear(fd)
	}
	return nil
}

func decodeMap(vr bson.ValueReader, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	if t := vr.Type(); t != bson.TypeEmbeddedDocument {
		return typeMismatch(t, "map")
	}
	dr, err := vr.ReadDocument()
	if err != nil {
		return err
	}
	m.Clear(fd)
	mp := m.Mutable(fd).Map()
	keyFD, valueFD := fd.MapKey(), fd.MapValue()
	for {
		key, evr, err := dr.ReadElement()
		if errors.Is(err, bson.ErrEOD) {
			break
		}
		if err != nil {
			return err
		}
		k, err := parseMapKey(keyFD.Kind(), key)
		if err != nil {
			return atIndex(strconv.Quote(key), err)
		}
		v, err := decodeSingular(evr, valueFD, mp.NewValue)
		if err != nil {
			return atIndex(strconv.Quote(key), err)
		}
		mp.Set(k, v)
	}
	if mp.Len() == 0 {
		m.Clear(fd)
	}
	return nil
}

// parseMapKey parses a document key back into a map key of the given kind,
// the inverse of MapKey.String.
func parseMapKey(kind protoreflect.Kind, s string) (protoreflect.MapKey, error) {
	switch kind {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s).MapKey(), nil
	case protoreflect.BoolKind:
		switch s {
		case "true":
			return protoreflect.ValueOfBool(true).MapKey(), nil
		case "false":
			return protoreflect.ValueOfBool(false).MapKey(), nil
		}
		return protoreflect.MapKey{}, fmt.Errorf("invalid bool map key %q", s)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("invalid int32 map key: %w", err)
		}
		return protoreflect.ValueOfInt32(int32(n)).MapKey(), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("invalid int64 map key: %w", err)
		}
		return protoreflect.ValueOfInt64(n).MapKey(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("invalid uint32 map key: %w", err)
		}
		return protoreflect.ValueOfUint32(uint32(n)).MapKey(), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("invalid uint64 map key: %w", err)
		}
		return protoreflect.ValueOfUint64(n).MapKey(), nil
	default:
		return protoreflect.MapKey{}, fmt.Errorf("unsupported map key kind %v", kind)
	}
}

// decodeSingular reads one value of fd's kind. newMessage supplies the empty
// message a message-kind value is decoded into (m.NewField, List.NewElement
// or Map.NewValue), so the value lands in the right concrete type.
func decodeSingular(vr bson.ValueReader, fd protoreflect.FieldDescriptor, newMessage func() protoreflect.Value) (protoreflect.Value, error) {
	t := vr.Type()
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if t != bson.TypeBoolean {
			return protoreflect.Value{}, typeMismatch(t, "bool")
		}
		b, err := vr.ReadBoolean()
		return protoreflect.ValueOfBool(b), err
	case protoreflect.EnumKind:
		n, err := readEnum(vr, fd.Enum())
		return protoreflect.ValueOfEnum(n), err
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := readInteger(vr, math.MinInt32, math.MaxInt32, "int32")
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := readInteger(vr, 0, math.MaxUint32, "uint32")
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := readInteger(vr, math.MinInt64, math.MaxInt64, "int64")
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := readUint64(vr)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind:
		f, err := readFloat(vr, "float")
		return protoreflect.ValueOfFloat32(float32(f)), err
	case protoreflect.DoubleKind:
		f, err := readFloat(vr, "double")
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.StringKind:
		if t != bson.TypeString {
			return protoreflect.Value{}, typeMismatch(t, "string")
		}
		s, err := vr.ReadString()
		return protoreflect.ValueOfString(s), err
	case protoreflect.BytesKind:
		if t != bson.TypeBinary {
			return protoreflect.Value{}, typeMismatch(t, "bytes")
		}
		b, _, err := vr.ReadBinary()
		// Copy out of the reader's buffer; never nil, so a set `optional
		// bytes` field stays set when it is empty.
		return protoreflect.ValueOfBytes(append([]byte{}, b...)), err
	case protoreflect.MessageKind, protoreflect.GroupKind:
		v := newMessage()
		if fd.Message().FullName() != timestampName {
			return v, decodeMessage(vr, v.Message())
		}
		if t == bson.TypeDateTime {
			return v, decodeTimestamp(vr, v.Message())
		}
		// Also accept the generic {seconds, nanos} document, but only a
		// valid Timestamp, so whatever decodes can be encoded again.
		if err := decodeMessage(vr, v.Message()); err != nil {
			return v, err
		}
		_, err := timestampMillis(v.Message())
		return v, err
	default:
		return protoreflect.Value{}, fmt.Errorf("unsupported field kind %v", fd.Kind())
	}
}

// readInteger reads an int32, int64 or integral double and checks it fits
// [lo, hi]; accepting every numeric type keeps documents written by other
// tools (the shell writes doubles) readable.
func readInteger(vr bson.ValueReader, lo, hi int64, want string) (int64, error) {
	var n int64
	switch t := vr.Type(); t {
	case bson.TypeInt32:
		v, err := vr.ReadInt32()
		if err != nil {
			return 0, err
		}
		n = int64(v)
	case bson.TypeInt64:
		v, err := vr.ReadInt64()
		if err != nil {
			return 0, err
		}
		n = v
	case bson.TypeDouble:
		f, err := vr.ReadDouble()
		if err != nil {
			return 0, err
		}
		// -2^63 is exact as a double; 2^63 is the first value out of range.
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return 0, fmt.Errorf("double %v is not a %s", f, want)
		}
		n = int64(f)
	default:
		return 0, typeMismatch(t, want)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d overflows %s", n, want)
	}
	return n, nil
}

// readUint64 reads a uint64 written as BSON int64 with the same bits (see the
// package doc), or a non-negative int32 or integral double.
func readUint64(vr bson.ValueReader) (uint64, error) {
	switch t := vr.Type(); t {
	case bson.TypeInt64:
		v, err := vr.ReadInt64()
		return uint64(v), err
	case bson.TypeDouble:
		f, err := vr.ReadDouble()
		if err != nil {
			return 0, err
		}
		if f != math.Trunc(f) || f < 0 || f >= 1<<64 {
			return 0, fmt.Errorf("double %v is not a uint64", f)
		}
		return uint64(f), nil
	default:
		n, err := readInteger(vr, 0, math.MaxInt32, "uint64")
		return uint64(n), err
	}
}

func readFloat(vr bson.ValueReader, want string) (float64, error) {
	switch t := vr.Type(); t {
	case bson.TypeDouble:
		return vr.ReadDouble()
	case bson.TypeInt32:
		v, err := vr.ReadInt32()
		return float64(v), err
	case bson.TypeInt64:
		v, err := vr.ReadInt64()
		return float64(v), err
	default:
		return 0, typeMismatch(t, want)
	}
}

// readEnum reads an enum value name or, for robustness, its number.
func readEnum(vr bson.ValueReader, ed protoreflect.EnumDescriptor) (protoreflect.EnumNumber, error) {
	if t := vr.Type(); t == bson.TypeString {
		s, err := vr.ReadString()
		if err != nil {
			return 0, err
		}
		ev := ed.Values().ByName(protoreflect.Name(s))
		if ev == nil {
			return 0, fmt.Errorf("unknown %s value %q", ed.FullName(), s)
		}
		return ev.Number(), nil
	}
	n, err := readInteger(vr, math.MinInt32, math.MaxInt32, string(ed.FullName()))
	return protoreflect.EnumNumber(n), err
}

// decodeTimestamp reads a BSON datetime (milliseconds since the Unix epoch)
// into a google.protobuf.Timestamp.
func decodeTimestamp(vr bson.ValueReader, m protoreflect.Message) error {
	ms, err := vr.ReadDateTime()
	if err != nil {
		return err
	}
	secs, rem := ms/1000, ms%1000
	if rem < 0 { // floor, so nanos stays in [0, 1e9) before 1970
		secs--
		rem += 1000
	}
	if secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return fmt.Errorf("datetime %d ms is outside the google.protobuf.Timestamp range (years 1 to 9999)", ms)
	}
	fields := m.Descriptor().Fields()
	m.Set(fields.ByNumber(1), protoreflect.ValueOfInt64(secs))
	m.Set(fields.ByNumber(2), protoreflect.ValueOfInt32(int32(rem*1e6)))
	return nil
}

// typeMismatch reports a BSON value that cannot become the wanted proto type.
func typeMismatch(t bson.Type, want string) error {
	return fmt.Errorf("cannot decode BSON %s into %s", t, want)
}

// kindName names fd's element type for error messages.
func kindName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	default:
		return fd.Kind().String()
	}
}

// decodeMessageValue is the registry decoder for every proto.Message. It
// allocates a nil message pointer, resets an existing message before filling
// it, and turns BSON null into a nil pointer.
func decodeMessageValue(_ bson.DecodeContext, vr bson.ValueReader, val reflect.Value) error {
	if isNull(vr) {
		if (val.Kind() == reflect.Pointer || val.Kind() == reflect.Interface) && val.CanSet() {
			val.Set(reflect.Zero(val.Type()))
		}
		return vr.Skip()
	}
	m, err := messageOf(val, true)
	if err != nil {
		return fmt.Errorf("protobson: decode %s: %w", val.Type(), err)
	}
	proto.Reset(m)
	mr := m.ProtoReflect()
	if err := decodeMessage(vr, mr); err != nil {
		return codecError("decode", mr.Descriptor(), err)
	}
	return nil
}

// decodeTimestampValue is the registry decoder for a bare
// *timestamppb.Timestamp: a BSON datetime, or the generic
// {seconds, nanos} document.
func decodeTimestampValue(dc bson.DecodeContext, vr bson.ValueReader, val reflect.Value) error {
	if vr.Type() != bson.TypeDateTime {
		if err := decodeMessageValue(dc, vr, val); err != nil || val.IsNil() {
			return err
		}
		if _, err := timestampMillis(val.Interface().(*timestamppb.Timestamp).ProtoReflect()); err != nil {
			return fmt.Errorf("protobson: decode %s: %w", timestampName, err)
		}
		return nil
	}
	if val.IsNil() {
		if !val.CanSet() {
			return fmt.Errorf("protobson: decode %s: cannot set a nil pointer", timestampName)
		}
		val.Set(reflect.ValueOf(new(timestamppb.Timestamp)))
	}
	ts := val.Interface().(*timestamppb.Timestamp)
	proto.Reset(ts)
	if err := decodeTimestamp(vr, ts.ProtoReflect()); err != nil {
		return fmt.Errorf("protobson: decode %s: %w", timestampName, err)
	}
	return nil
}

// decodeEnumValue is the registry decoder for generated enum types: a value
// name or a number.
func decodeEnumValue(_ bson.DecodeContext, vr bson.ValueReader, val reflect.Value) error {
	if val.Kind() == reflect.Pointer {
		if isNull(vr) {
			if val.CanSet() {
				val.Set(reflect.Zero(val.Type()))
			}
			return vr.Skip()
		}
		if val.IsNil() {
			if !val.CanSet() {
				return fmt.Errorf("protobson: decode %s: cannot set a nil pointer", val.Type())
			}
			val.Set(reflect.New(val.Type().Elem()))
		}
		val = val.Elem()
	}
	e, ok := val.Interface().(protoreflect.Enum)
	if !ok || val.Kind() != reflect.Int32 || !val.CanSet() {
		return fmt.Errorf("protobson: decode %s: not a settable protobuf enum", val.Type())
	}
	n, err := readEnum(vr, e.Descriptor())
	if err != nil {
		return fmt.Errorf("protobson: decode %s: %w", e.Descriptor().FullName(), err)
	}
	val.SetInt(int64(n))
	return nil
}
