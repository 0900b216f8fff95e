package main

import (
	"fmt"
	"net/http"
)

// withKey wraps base so that every request carries "Authorization: Bearer
// <key>", the dev stack's API key: the platform's scenarios run with
// authentication on. The baselines receive the same header (and ignore it),
// so both sides send the same bytes.
func withKey(base http.RoundTripper, key string) http.RoundTripper {
	return keyTransport{base: base, value: "Bearer " + key}
}

type keyTransport struct {
	base  http.RoundTripper
	value string
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context()) // a RoundTripper must not change its request
		r.Header.Set("Authorization", k.value)
	}
	return k.base.RoundTrip(r)
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on to base.
func (k keyTransport) CloseIdleConnections() {
	if c, ok := k.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// authCostNote says what authentication costs a request in s (platform:
// with the key; baseline: AUTH_MODE=none): the throughput ratio and the
// median latency added.
func authCostNote(what string, s *Scenario) string {
	return fmt.Sprintf("authentication cost, %s: %.0f req/s with the API key vs %.0f without (ratio %.2f); median latency %.2f ms vs %.2f ms (%+.0f µs per request).",
		what, s.Platform.Rate, s.BaselineResult.Rate, s.Ratio, s.Platform.P50, s.BaselineResult.P50, (s.Platform.P50-s.BaselineResult.P50)*1000)
}
