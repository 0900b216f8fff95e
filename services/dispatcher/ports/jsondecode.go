package ports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// How a JSON request body becomes a request message, the same on REST (the
// gateway's marshaler, wire.go) and on Connect's JSON codec: protojson, plus
// two friendlier rules protojson does not have.
//
//   - Enum values may be given without their type prefix ("MOTOR" for
//     CATEGORY_MOTOR, in any letter case), as in query parameters; an enum
//     name that is neither is refused naming the field and the allowed names.
//   - A field the message does not have is refused naming every such field
//     (`unknown field "colour"`), unless allowUnknown: a typo in an optional
//     field would otherwise be dropped without a word.
//
// Binary protobuf (gRPC, Connect with application/proto) keeps proto's
// semantics: unknown fields are skipped, so older servers accept newer
// clients' messages.

// jsonDecoder decodes JSON request bodies by the rules above.
type jsonDecoder struct {
	// allowUnknown ignores fields the message does not have
	// (REJECT_UNKNOWN_FIELDS=false).
	allowUnknown bool
}

// maxNamedProblems bounds the unknown fields or enum values one error names.
const maxNamedProblems = 10

// unmarshal decodes b into m. The common case, a body protojson accepts as
// it is, costs one protojson pass; only a body it refuses is looked at again
// to rewrite unprefixed enum names and to name unknown fields.
func (d jsonDecoder) unmarshal(b []byte, m proto.Message) error {
	err := protojson.Unmarshal(b, m)
	if err == nil {
		return nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keeps 64-bit integers exact when re-encoded
	if dec.Decode(&doc) != nil || dec.More() {
		return &decodeError{jsonProblem(err)} // not JSON: protojson's error says where
	}
	w := walker{}
	changed := w.message(doc, m.ProtoReflect().Descriptor(), "")
	switch {
	case len(w.badEnums) > 0:
		return &decodeError{"the request body is not a valid JSON request: " + strings.Join(w.badEnums, "; ")}
	case len(w.unknown) > 0 && !d.allowUnknown:
		return &decodeError{unknownFieldsProblem(w.unknown)}
	}
	if changed {
		if b, err = json.Marshal(doc); err != nil {
			return fmt.Errorf("re-encode the request body: %w", err)
		}
	}
	proto.Reset(m)
	if err := (protojson.UnmarshalOptions{DiscardUnknown: d.allowUnknown}).Unmarshal(b, m); err != nil {
		return &decodeError{jsonProblem(err)}
	}
	return nil
}

func unknownFieldsProblem(names []string) string {
	q := make([]string, 0, len(names))
	for _, n := range names {
		q = append(q, fmt.Sprintf("%q", n))
	}
	field := "unknown field "
	if len(q) > 1 {
		field = "unknown fields "
	}
	return "the request body is not a valid JSON request: " + field + strings.Join(q, ", ") +
		" (field names are lowerCamelCase, as in the API's documentation)"
}

// walker finds unknown fields and rewrites unprefixed enum names in a
// decoded JSON document, guided by the message descriptor.
type walker struct {
	unknown  []string // paths of fields the message does not have
	badEnums []string // problems with enum values, in the client's terms
}

// message walks one JSON object of message md at path; it reports whether
// it rewrote a value.
func (w *walker) message(v any, md protoreflect.MessageDescriptor, path string) bool {
	obj, ok := v.(map[string]any)
	if !ok || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return false // well-known types have JSON forms of their own; protojson checks them
	}
	changed := false
	for key, val := range obj {
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		name := joinPath(path, key)
		if fd == nil {
			if len(w.unknown) < maxNamedProblems && !strings.HasPrefix(key, "@") {
				w.unknown = append(w.unknown, name)
			}
			continue
		}
		switch {
		case fd.IsMap():
			if vals, ok := val.(map[string]any); ok {
				for k, mv := range vals {
					nv, c := w.value(mv, fd.MapValue(), name+"["+k+"]")
					vals[k], changed = nv, changed || c
				}
			}
		case fd.IsList():
			if vals, ok := val.([]any); ok {
				for i, lv := range vals {
					nv, c := w.value(lv, fd, fmt.Sprintf("%s[%d]", name, i))
					vals[i], changed = nv, changed || c
				}
			}
		default:
			nv, c := w.value(val, fd, name)
			obj[key], changed = nv, changed || c
		}
	}
	return changed
}

// value walks one value of field fd (an element for lists and maps).
func (w *walker) value(v any, fd protoreflect.FieldDescriptor, path string) (any, bool) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return v, w.message(v, fd.Message(), path)
	case protoreflect.EnumKind:
		s, ok := v.(string)
		if !ok {
			return v, false // numbers and null: protojson's rules
		}
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return v, false
		}
		if ed.Values().ByName(protoreflect.Name(s)) != nil {
			return v, false
		}
		if ev := enumByName(ed, s); ev != nil {
			return string(ev.Name()), true
		}
		if len(w.badEnums) < maxNamedProblems {
			w.badEnums = append(w.badEnums, fmt.Sprintf("%s: %q is not one of %s (the prefix %s is optional)",
				path, s, strings.Join(enumNames(ed), ", "), enumPrefix(ed)))
		}
		return v, false
	}
	return v, false
}

// enumByName finds the value of ed named s, with or without the enum's
// prefix (CATEGORY_ for Category), in any letter case.
func enumByName(ed protoreflect.EnumDescriptor, s string) protoreflect.EnumValueDescriptor {
	if s == "" {
		return nil
	}
	up := strings.ToUpper(s)
	vals := ed.Values()
	if ev := vals.ByName(protoreflect.Name(up)); ev != nil {
		return ev
	}
	return vals.ByName(protoreflect.Name(enumPrefix(ed) + up))
}

// enumPrefix is the prefix proto style gives ed's values: the enum's name
// in UPPER_SNAKE_CASE and an underscore (WriteStatus: WRITE_STATUS_).
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	var b strings.Builder
	for i, r := range string(ed.Name()) {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String()) + "_"
}

// enumNames lists the names a client may send for ed, without their
// prefix: every value but the zero one, which the API never accepts.
func enumNames(ed protoreflect.EnumDescriptor) []string {
	prefix := enumPrefix(ed)
	var names []string
	vals := ed.Values()
	for i := range vals.Len() {
		if ev := vals.Get(i); ev.Number() != 0 {
			names = append(names, strings.TrimPrefix(string(ev.Name()), prefix))
		}
	}
	return names
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// enumQueryParser is the gateway's query parameter parser taking enum
// values without their prefix too (?category=MOTOR), as bodies do.
type enumQueryParser struct{ runtime.DefaultQueryParser }

func (p enumQueryParser) Parse(m proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	var rewritten url.Values
	for key, vals := range values {
		fd := queryField(m.ProtoReflect().Descriptor(), key)
		if fd == nil || fd.Kind() != protoreflect.EnumKind {
			continue
		}
		for i, v := range vals {
			if fd.Enum().Values().ByName(protoreflect.Name(v)) != nil {
				continue
			}
			if ev := enumByName(fd.Enum(), v); ev != nil {
				if rewritten == nil {
					rewritten = maps.Clone(values)
				}
				vals = slices.Clone(vals)
				vals[i] = string(ev.Name())
				rewritten[key] = vals
			}
		}
	}
	if rewritten != nil {
		values = rewritten
	}
	return p.DefaultQueryParser.Parse(m, values, filter)
}

// queryField is the field a query parameter's dotted key names, by JSON or
// proto names, or nil.
func queryField(md protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for i, part := range strings.Split(key, ".") {
		if i > 0 {
			if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
				return nil
			}
			md = fd.Message()
		}
		if fd = md.Fields().ByJSONName(part); fd == nil {
			if fd = md.Fields().ByTextName(part); fd == nil {
				return nil
			}
		}
	}
	return fd
}
