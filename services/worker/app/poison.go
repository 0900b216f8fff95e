package app

import (
	"errors"
	"fmt"
	"strings"
)

// Reason is why a record was dead-lettered: a small fixed set, so that it can
// label a metric and be matched by tools reading the dead-letter topics.
type Reason string

// The reasons a record is dead-lettered.
const (
	// ReasonDecode: the value is not the binary protobuf of the topic's event.
	ReasonDecode Reason = "decode"
	// ReasonInvalid: the event decodes but breaks the contract's rules.
	ReasonInvalid Reason = "invalid"
	// ReasonEncode: the event cannot be encoded as a stored document (for
	// example a timestamp outside the years BSON dates can hold).
	ReasonEncode Reason = "encode"
	// ReasonRejected: the database refused the document as invalid or too
	// large.
	ReasonRejected Reason = "rejected"
)

// Reasons lists every reason, e.g. to initialise a metric's label values.
var Reasons = []Reason{ReasonDecode, ReasonInvalid, ReasonEncode, ReasonRejected}

// PoisonError is a record that can never be stored, and why. It matches
// ErrPoison with errors.Is.
type PoisonError struct {
	Reason Reason
	Err    error
}

func (e *PoisonError) Error() string { return string(e.Reason) + ": " + e.Err.Error() }

// Unwrap exposes both ErrPoison and the cause.
func (e *PoisonError) Unwrap() []error { return []error{ErrPoison, e.Err} }

// Rejection is one document a Store can never hold.
type Rejection struct {
	// ID is the document's id (unique within one Save).
	ID string
	// Reason is ReasonEncode or ReasonRejected.
	Reason Reason
	Err    error
}

// RejectedError is returned by Store.Save when some documents are refused
// for good: every other document of the call was stored (or was already).
// Ingest dead-letters the records of the rejected documents, never retries
// them.
type RejectedError struct {
	Rejections []Rejection
}

func (e *RejectedError) Error() string {
	parts := make([]string, 0, min(len(e.Rejections), 3))
	for i, r := range e.Rejections {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Rejections)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s: %v)", r.ID, r.Reason, r.Err))
	}
	return fmt.Sprintf("%d documents rejected: %s", len(e.Rejections), strings.Join(parts, "; "))
}

// ErrBatchRejected is wrapped by Store.Save's error when the database refused
// the whole write with an error that says some document is invalid without
// saying which one (part of the batch may be stored: saving it again is
// harmless). Ingest then isolates the culprits by
// saving halves of the batch; a single document refused this way is
// rejected. Errors that wrap neither this nor RejectedError are transient.
var ErrBatchRejected = errors.New("batch rejected as invalid")
