package protobson_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/pawnshop/auction/internal/protobson"
)

// FuzzRoundTrip builds a random message of every stored type (and of the
// dynamic AllKinds message) from the fuzzed seed and checks that Marshal then
// Unmarshal gives back an equal message, that encoding is deterministic, and
// that MarshalWithID writes the _id and then the same fields.
// Timestamps are generated with millisecond precision, the platform's
// invariant (see the package doc); sub-millisecond truncation has its own
// test. The seed corpus runs in every `go test`; explore with
//
//	go test -fuzz=FuzzRoundTrip ./internal/protobson/
func FuzzRoundTrip(f *testing.F) {
	for seed := range uint64(64) {
		f.Add(seed)
	}
	f.Add(uint64(0xdeadbeefcafef00d))
	types := append([]proto.Message{newAllKinds(f)}, storedTypes...)
	f.Fuzz(func(t *testing.T, seed uint64) {
		g := newGenerator(seed)
		for _, template := range types {
			m := g.message(template)
			raw, err := protobson.Marshal(m)
			if err != nil {
				t.Fatalf("Marshal %T: %v\n%v", m, err, m)
			}
			got := template.ProtoReflect().New().Interface()
			if err := protobson.Unmarshal(raw, got); err != nil {
				t.Fatalf("Unmarshal %s: %v\n%v", template.ProtoReflect().Descriptor().FullName(), err, raw)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("round trip of %s differs:\nwant %s\n got %s", template.ProtoReflect().Descriptor().FullName(),
					prototext.Format(m), prototext.Format(got))
			}
			again, err := protobson.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, raw) {
				t.Fatalf("re-encoding %s changed the bytes", template.ProtoReflect().Descriptor().FullName())
			}
			doc, err := protobson.MarshalWithID("key", m)
			if err != nil {
				t.Fatalf("MarshalWithID %T: %v", m, err)
			}
			checkWithID(t, doc, "key", m)
		}
	})
}

// FuzzUnmarshal feeds arbitrary bytes to Unmarshal: it must never panic, and
// whatever it accepts must re-encode to a document that decodes to the same
// message.
func FuzzUnmarshal(f *testing.F) {
	g := newGenerator(1)
	for _, template := range storedTypes {
		raw, err := protobson.Marshal(g.message(template))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(raw))
	}
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, template := range storedTypes {
			m := template.ProtoReflect().New().Interface()
			if err := protobson.Unmarshal(data, m); err != nil {
				continue
			}
			raw, err := protobson.Marshal(m)
			if err != nil {
				// Decoding accepts datetimes Marshal would accept too, so
				// this is a bug.
				t.Fatalf("Marshal after a successful Unmarshal: %v", err)
			}
			got := template.ProtoReflect().New().Interface()
			if err := protobson.Unmarshal(raw, got); err != nil {
				t.Fatalf("Unmarshal of re-encoded document: %v", err)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("re-encoded %T differs:\nwant %s\n got %s", m, prototext.Format(m), prototext.Format(got))
			}
		}
	})
}
