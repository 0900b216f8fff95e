// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables and carries trace context through Kafka headers, so
// that one trace follows a write from the HTTP request into the worker that
// stores it.
package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Enabled reports whether the environment asks for trace export: an OTLP
// endpoint is set or OTEL_TRACES_EXPORTER is "otlp", and the SDK is not
// disabled. Export is off by default.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(getenv("OTEL_TRACES_EXPORTER")) {
	case "none":
		return false
	case "otlp":
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the W3C trace-context propagator and, when Enabled, an
// OTLP/HTTP exporter configured by the OTEL_EXPORTER_OTLP_* variables. The
// returned function flushes and stops the exporter.
func Setup(ctx context.Context, service string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if !Enabled(os.Getenv) {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Headers carries trace context in Kafka record headers (a string map).
type Headers map[string]string

// Get implements propagation.TextMapCarrier.
func (h Headers) Get(key string) string { return h[key] }

// Set implements propagation.TextMapCarrier.
func (h Headers) Set(key, value string) { h[key] = value }

// Keys implements propagation.TextMapCarrier.
func (h Headers) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into h.
func Inject(ctx context.Context, h Headers) {
	otel.GetTextMapPropagator().Inject(ctx, h)
}

// Extract returns ctx with the trace context carried in h.
func Extract(ctx context.Context, h Headers) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, h)
}
