package ports

import (
	"net/http"
	"testing"

	"github.com/pawnshop/auction/services/dispatcher/app"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recordSpans installs a tracer provider that records every span, and the
// W3C propagator, for the rest of the test.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(t.Context())
	})
	return rec
}

func attr(sp sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, a := range sp.Attributes() {
		if a.Key == k {
			return a.Value
		}
	}
	return attribute.Value{}
}

// TestEveryAuditedCallHasAServerSpan checks the span of each API call: named
// by its route or procedure, a child of the caller's trace when it sends
// one, with the status written; a 5xx fails the span, other paths have none.
func TestEveryAuditedCallHasAServerSpan(t *testing.T) {
	rec := recordSpans(t)
	f := newFixture(t, fixtureOpts{})
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if r := f.do("GET", restGet, "", "", "traceparent", parent); r.status != http.StatusOK {
		t.Fatalf("REST read: %d %s", r.status, r.body)
	}
	if r := f.do("POST", connectGet, jsonType, `{"id":"ring-1"}`); r.status != http.StatusOK {
		t.Fatalf("Connect read: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/healthz", "", ""); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		names := []string{}
		for _, sp := range spans {
			names = append(names, sp.Name())
		}
		t.Fatalf("spans %q, want one per API call (health checks have none)", names)
	}
	rest, conn := spans[0], spans[1]
	if rest.Name() != "GET /item/fetch/{id}" || conn.Name() != connectGet {
		t.Errorf("span names %q, %q", rest.Name(), conn.Name())
	}
	if rest.SpanKind() != trace.SpanKindServer {
		t.Errorf("span kind %v, want server", rest.SpanKind())
	}
	if got := rest.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("REST span in trace %s, want the caller's", got)
	}
	if got := rest.Parent().SpanID().String(); got != "00f067aa0ba902b7" || !rest.Parent().IsRemote() {
		t.Errorf("REST span's parent %s (remote %v), want the caller's span", got, rest.Parent().IsRemote())
	}
	if conn.Parent().IsValid() {
		t.Errorf("a call without traceparent got parent %s, want a new trace", conn.Parent().SpanID())
	}
	for _, sp := range spans {
		if got := attr(sp, attrStatus).AsInt64(); got != http.StatusOK {
			t.Errorf("%s: status attribute %d, want 200", sp.Name(), got)
		}
		if sp.Status().Code == codes.Error {
			t.Errorf("%s: span failed on a 200", sp.Name())
		}
	}
	if got := attr(rest, attrMethod).AsString(); got != "GET" {
		t.Errorf("method attribute %q", got)
	}
}

func TestAServerErrorFailsTheSpan(t *testing.T) {
	rec := recordSpans(t)
	f := newFixture(t, fixtureOpts{publishErr: app.ErrPublishUnavailable})
	if r := f.do("POST", "/item/add", jsonType, validAdd); r.status != http.StatusServiceUnavailable {
		t.Fatalf("write with the broker and the buffer down: %d %s", r.status, r.body)
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Status().Code != codes.Error || attr(spans[0], attrStatus).AsInt64() != http.StatusServiceUnavailable {
		t.Fatalf("spans %v, want one failed span with status 503", spans)
	}
}
