package mongo

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pawnshop/auction/services/worker/app"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

func bulk(codes ...int) mongo.BulkWriteException {
	var bwe mongo.BulkWriteException
	for i, c := range codes {
		bwe.WriteErrors = append(bwe.WriteErrors, mongo.BulkWriteError{WriteError: mongo.WriteError{Index: i, Code: c, Message: fmt.Sprint("code ", c)}})
	}
	return bwe
}

func TestClassifyWrite(t *testing.T) {
	sent := []app.Document{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	type want int
	const (
		ok want = iota
		transient
		rejected
		batch
	)
	for name, tc := range map[string]struct {
		err      error
		want     want
		rejected []string
	}{
		"nil":                            {nil, ok, nil},
		"upsert race (duplicate key)":    {bulk(11000, 11000), transient, nil},
		"bad value next to a race":       {bulk(11000, 2), transient, nil},
		"validation and too large":       {bulk(121, 17419, 10334), rejected, []string{"a", "b", "c"}},
		"key too long":                   {bulk(17280), rejected, []string{"a"}},
		"write conflict":                 {bulk(112), transient, nil},
		"not primary among rejects":      {bulk(2, 10107), transient, nil},
		"write concern error":            {mongo.BulkWriteException{WriteErrors: bulk(2).WriteErrors, WriteConcernError: &mongo.WriteConcernError{Code: 64}}, transient, nil},
		"command bad value":              {mongo.CommandError{Code: 2, Message: "invalid"}, batch, nil},
		"command too large":              {mongo.CommandError{Code: 10334}, batch, nil},
		"command retryable label":        {mongo.CommandError{Code: 2, Labels: []string{"RetryableWriteError"}}, transient, nil},
		"command transient txn":          {mongo.CommandError{Code: 121, Labels: []string{"TransientTransactionError"}}, transient, nil},
		"command not primary":            {mongo.CommandError{Code: 10107}, transient, nil},
		"command unknown code":           {mongo.CommandError{Code: 31337}, transient, nil},
		"driver document too large":      {driver.ErrDocumentTooLarge, batch, nil},
		"deadline":                       {context.DeadlineExceeded, transient, nil},
		"server selection":               {errors.New("server selection error: context deadline exceeded"), transient, nil},
		"client disconnected":            {mongo.ErrClientDisconnected, transient, nil},
		"write error index out of range": {mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 7, Code: 2}}}}, transient, nil},
	} {
		t.Run(name, func(t *testing.T) {
			err := classifyWrite(tc.err, sent)
			var rej *app.RejectedError
			switch {
			case tc.want == ok && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tc.want == transient && (err == nil || errors.As(err, &rej) || errors.Is(err, app.ErrBatchRejected)):
				t.Fatalf("got %v, want a transient error", err)
			case tc.want == batch && !errors.Is(err, app.ErrBatchRejected):
				t.Fatalf("got %v, want ErrBatchRejected", err)
			case tc.want == rejected:
				if !errors.As(err, &rej) {
					t.Fatalf("got %v, want rejections", err)
				}
				var ids []string
				for _, r := range rej.Rejections {
					ids = append(ids, r.ID)
					if r.Reason != app.ReasonRejected {
						t.Errorf("reason %q", r.Reason)
					}
				}
				if fmt.Sprint(ids) != fmt.Sprint(tc.rejected) {
					t.Fatalf("rejected %v, want %v", ids, tc.rejected)
				}
			}
		})
	}
}
