package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
)

// printError explains a failed call on stderr: the Connect code and message,
// then, for a validation failure, one line per violated field from the
// buf.validate.Violations detail (field path, message, rule id), so a person
// sees every mistake at once rather than one per try.
func printError(w io.Writer, cmd string, err error) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		fmt.Fprintf(w, "auctionctl %s: %v\n", cmd, err)
		return
	}
	var violations []*validate.Violation
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if vs, ok := v.(*validate.Violations); ok {
			violations = append(violations, vs.GetViolations()...)
		}
	}
	message := ce.Message()
	if len(violations) > 0 {
		// The message repeats the violations as text; the detail is exact.
		message, _, _ = strings.Cut(message, "\n")
	}
	fmt.Fprintf(w, "auctionctl %s: %s: %s\n", cmd, ce.Code(), message)
	for _, v := range violations {
		fmt.Fprintf(w, "  - %s: %s (%s)\n", protovalidate.FieldPathString(v.GetField()), v.GetMessage(), v.GetRuleId())
	}
	if id := ce.Meta().Get("X-Request-Id"); id != "" {
		fmt.Fprintf(w, "  (request id %s)\n", id)
	}
}
