package ports

// Validation errors in the client's terms: the validation interceptor
// (pipeline.go) renders protovalidate's violations here.

import (
	"errors"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// violationsError renders violations of a message of type md with JSON
// field names.
func violationsError(md protoreflect.MessageDescriptor, verr *protovalidate.ValidationError) *connect.Error {
	out := make([]*validate.Violation, 0, len(verr.Violations))
	lines := make([]string, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		pv := proto.CloneOf(v.Proto)
		if pv == nil {
			continue
		}
		jsonFieldPath(md, pv.GetField())
		out = append(out, pv)
		line := pv.GetMessage()
		if line == "" {
			line = "[" + pv.GetRuleId() + "]"
		}
		if path := protovalidate.FieldPathString(pv.GetField()); path != "" {
			line = path + ": " + line
		}
		lines = append(lines, line)
	}
	msg := "validation error: " + strings.Join(lines, "")
	if len(lines) != 1 {
		msg = "validation errors:\n - " + strings.Join(lines, "\n - ")
	}
	cerr := connect.NewError(connect.CodeInvalidArgument, errors.New(msg))
	if d, err := connect.NewErrorDetail(validate.Violations_builder{Violations: out}.Build()); err == nil {
		cerr.AddDetail(d)
	}
	return cerr
}

// jsonFieldPath renames the elements of path, which starts at a message of
// type md, to JSON names, following the fields into nested messages, list
// elements and map values. A name that is not a field (a oneof) is
// converted the way protoc derives JSON names.
func jsonFieldPath(md protoreflect.MessageDescriptor, path *validate.FieldPath) {
	for _, el := range path.GetElements() {
		var fd protoreflect.FieldDescriptor
		if md != nil {
			if el.HasFieldNumber() {
				fd = md.Fields().ByNumber(protoreflect.FieldNumber(el.GetFieldNumber()))
			}
			if fd == nil {
				fd = md.Fields().ByName(protoreflect.Name(el.GetFieldName()))
			}
		}
		if fd == nil {
			el.SetFieldName(jsonName(el.GetFieldName()))
			md = nil
			continue
		}
		el.SetFieldName(fd.JSONName())
		switch {
		case fd.IsMap():
			md = fd.MapValue().Message()
		default:
			md = fd.Message()
		}
	}
}

// jsonName is protoc's JSON name of a snake_case name.
func jsonName(s string) string {
	var b strings.Builder
	upper := false
	for _, r := range s {
		if r == '_' {
			upper = true
			continue
		}
		if upper && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		upper = false
		b.WriteRune(r)
	}
	return b.String()
}
