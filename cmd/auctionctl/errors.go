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
// sees every mistake at once rather than one per try. A refused credential
// gets a hint on where the credential comes from; sentToken says whether
// one was sent.
func printError(w io.Writer, cmd string, err error, sentToken bool) {
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
	if hint := credentialHint(ce, sentToken); hint != "" {
		fmt.Fprintf(w, "  %s\n", hint)
	}
	if id := ce.Meta().Get("X-Request-Id"); id != "" {
		fmt.Fprintf(w, "  (request id %s)\n", id)
	}
}

// credentialHint tells a person what to do about a 401 or 403 that is about
// the credential (a fraud-list refusal is also permission_denied, and is
// about the client, so it gets none).
func credentialHint(ce *connect.Error, sentToken bool) string {
	switch {
	case ce.Code() == connect.CodeUnauthenticated && !sentToken:
		return "No credential was sent. Export the API key the dev stack prints in its banner " +
			"(export " + tokenEnv + "=ak_...) or pass -token; see README \"Authentication\"."
	case ce.Code() == connect.CodeUnauthenticated:
		return "The server did not accept the credential from -token or $" + tokenEnv + ". " +
			"The dev stack makes a new key at each start unless run with -api-key: export the one its banner prints."
	case ce.Code() == connect.CodePermissionDenied && !strings.Contains(ce.Message(), "fraud list"):
		return "The credential in -token or $" + tokenEnv + " is not allowed this call (the message names the missing scope " +
			"or the client it is bound to); use a key with that scope, for example the dev stack's, which has every scope."
	}
	return ""
}
