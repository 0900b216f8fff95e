package ports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/internal/connectlimit"
	"google.golang.org/protobuf/proto"
)

// maxProblemLen bounds the part of a decode error quoted back to a client
// (a JSON error can quote a whole oversized string value).
const maxProblemLen = 200

// jsonProblem says in a client's terms why body is not a request: it names
// the JSON field (protojson uses the JSON names) or the position of a syntax
// error, never a Go type.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("the request body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is not valid JSON: it ends before the JSON value is complete"
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "the request body must be a JSON object"
	}
	msg := strings.TrimPrefix(err.Error(), "proto: ")
	msg = strings.TrimPrefix(msg, "syntax error ")
	if len(msg) > maxProblemLen {
		msg = msg[:maxProblemLen] + "..."
	}
	return "the request body is not a valid JSON request: " + strings.ToValidUTF8(msg, "?")
}

// decodeError is a request body that could not be decoded; its message is
// written for the client.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

// jsonCodec is Connect's JSON codec with errors in the client's terms: the
// built-in one prefixes them with the Go type of the request.
type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (jsonCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, errors.New("not a protobuf message")
	}
	return jsonMarshal.Marshal(pm)
}

func (jsonCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	if len(b) == 0 {
		return &decodeError{"the request body is empty; send a JSON object ({} for no fields)"}
	}
	if err := jsonUnmarshal.Unmarshal(b, pm); err != nil {
		return &decodeError{jsonProblem(err)}
	}
	return nil
}

// protoCodec is Connect's binary protobuf codec with errors in the client's
// terms.
type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, errors.New("not a protobuf message")
	}
	return proto.Marshal(pm)
}

func (protoCodec) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return errors.New("not a protobuf message")
	}
	if err := proto.Unmarshal(b, pm); err != nil {
		return &decodeError{"the request body is not a valid protobuf encoding of the request"}
	}
	return nil
}

// connectCodecOptions installs the codecs and the capped gzip on a handler:
// a body stops inflating one byte past maxBody.
func connectCodecOptions(maxBody int64) []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(protoCodec{}),
		connect.WithCodec(jsonCodec{name: "json"}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8"}),
		connectlimit.Gzip(maxBody),
	}
}
