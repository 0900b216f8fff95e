package ports

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the spans of the dispatcher's public API.
const tracerName = "github.com/pawnshop/auction/services/dispatcher/ports"

// The server span's attributes, by OpenTelemetry's HTTP semantic
// conventions.
const (
	attrMethod = attribute.Key("http.request.method")
	attrRoute  = attribute.Key("http.route")
	attrPath   = attribute.Key("url.path")
	attrStatus = attribute.Key("http.response.status_code")
)

// startSpan starts the server span of an audited call, named by its route
// ("POST /item/add", or the RPC procedure): it continues the caller's
// trace when the request carries one (W3C traceparent, with the process's
// propagator), and the span's context goes down with the request, so that
// the event published to Kafka carries it on to the worker.
//
// Why not otelhttp: it builds the HTTP attributes of every request and
// records its own HTTP metrics whether or not a span is recorded, and with
// tracing off (the default) that cost about 4 µs of the 38 µs a REST read
// took in the dispatcher (BenchmarkEdgeRead's profile), more in a busy
// process. Here attributes are set only on a span that records, and the
// request metrics are the ones the audit step already counts.
func startSpan(ctx context.Context, tracer trace.Tracer, r *http.Request, route string) (context.Context, trace.Span) {
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
	ctx, span := tracer.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		span.SetAttributes(attrMethod.String(r.Method), attrRoute.String(route), attrPath.String(r.URL.Path))
	}
	return ctx, span
}

// endSpan ends a call's span with the HTTP status written; a 5xx marks it
// failed (a 4xx is the client's error, not the server's, as the
// conventions say for server spans).
func endSpan(span trace.Span, status int) {
	if span.IsRecording() {
		span.SetAttributes(attrStatus.Int(status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}
