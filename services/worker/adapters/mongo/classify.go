package mongo

import (
	"errors"
	"fmt"

	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// maxDocumentBytes is MongoDB's BSON document size limit. A larger document
// is rejected before it is sent: the server would refuse it (or the driver
// fail the whole batch) anyway.
const maxDocumentBytes = 16 << 20

// Server error codes that say a document is invalid: writing it again can
// never succeed. A whole command failing with one of these means some
// document of the batch is invalid (the caller isolates it).
var invalidDocumentCodes = map[int]bool{
	2:     true, // BadValue
	9:     true, // FailedToParse
	14:    true, // TypeMismatch
	16:    true, // InvalidLength
	22:    true, // InvalidBSON
	52:    true, // DollarPrefixedFieldName
	53:    true, // InvalidIdField
	55:    true, // InvalidDBRef
	56:    true, // EmptyFieldName
	57:    true, // DottedFieldName
	121:   true, // DocumentValidationFailure
	10334: true, // BSONObjectTooLarge
	17280: true, // KeyTooLong
	17419: true, // document grew beyond the size limit
	17420: true, // document for a capped collection too large
}

// Server error codes that say nothing about the document: the server, the
// network or a concurrent write is to blame, and a later attempt can
// succeed. A per-document write error with one of these is retried, never
// rejected.
var transientCodes = map[int]bool{
	1:     true, // InternalError
	6:     true, // HostUnreachable
	7:     true, // HostNotFound
	8:     true, // UnknownError
	11:    true, // UserNotFound
	13:    true, // Unauthorized
	18:    true, // AuthenticationFailed
	24:    true, // LockTimeout
	26:    true, // NamespaceNotFound
	46:    true, // LockBusy
	50:    true, // MaxTimeMSExpired
	64:    true, // WriteConcernFailed
	89:    true, // NetworkTimeout
	91:    true, // ShutdownInProgress
	112:   true, // WriteConflict
	133:   true, // FailedToSatisfyReadPreference
	134:   true, // ReadConcernMajorityNotAvailableYet
	189:   true, // PrimarySteppedDown
	251:   true, // NoSuchTransaction
	262:   true, // ExceededTimeLimit
	9001:  true, // SocketException
	10107: true, // NotWritablePrimary
	11600: true, // InterruptedAtShutdown
	11601: true, // Interrupted
	11602: true, // InterruptedDueToReplStateChange
	13435: true, // NotPrimaryNoSecondaryOk
	13436: true, // NotPrimaryOrSecondary
}

// transientLabels mark errors the server or driver says may succeed later.
var transientLabels = []string{"RetryableWriteError", "TransientTransactionError", "NetworkError", "NetworkTimeoutError",
	"ExceededTimeLimitError", "SystemOverloadedError", "RetryableError"}

func hasTransientLabel(err error) bool {
	var le mongo.LabeledError
	if !errors.As(err, &le) {
		return false
	}
	for _, l := range transientLabels {
		if le.HasErrorLabel(l) {
			return true
		}
	}
	return false
}

// classifyWrite turns the error of an unordered bulk write of sent (one
// `_id` upsert per document) into Save's contract: *app.RejectedError when
// the failures are per-document and permanent (the other documents were
// stored); an error wrapping app.ErrBatchRejected when the whole command was
// refused as invalid; any other error as it is (transient). A duplicate key
// is a race between two upserts creating one item's document (two workers
// storing events of a new item at once): transient, the retry updates the
// document the other created.
func classifyWrite(err error, sent []app.Document) error {
	if err == nil {
		return nil
	}
	if hasTransientLabel(err) || mongo.IsTimeout(err) || mongo.IsNetworkError(err) {
		return err
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return err
		}
		var rejected []app.Rejection
		for _, we := range bwe.WriteErrors {
			switch {
			case mongo.IsDuplicateKeyError(we) || transientCodes[we.Code] || we.Index < 0 || we.Index >= len(sent):
				return err
			default:
				rejected = append(rejected, app.Rejection{ID: sent[we.Index].ID, Reason: app.ReasonRejected,
					Err: fmt.Errorf("refused by the database (code %d): %s", we.Code, we.Message)})
			}
		}
		if len(rejected) == 0 {
			return nil
		}
		return &app.RejectedError{Rejections: rejected}
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) && invalidDocumentCodes[int(ce.Code)] {
		return fmt.Errorf("%w: %w", app.ErrBatchRejected, err)
	}
	if errors.Is(err, driver.ErrDocumentTooLarge) {
		return fmt.Errorf("%w: %w", app.ErrBatchRejected, err)
	}
	var me mongo.MarshalError
	if errors.As(err, &me) {
		return fmt.Errorf("%w: %w", app.ErrBatchRejected, err)
	}
	return err
}
