package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSaturating checks the saturation rule: the smallest concurrency after
// which no step's goodput exceeds its own by more than 10 %.
func TestSaturating(t *testing.T) {
	steps := func(rates ...float64) []OverloadStep {
		var s []OverloadStep
		for i, r := range rates {
			s = append(s, OverloadStep{Concurrency: 1 << i, Sample: Sample{Rate: r}})
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		steps []OverloadStep
		want  int
	}{
		{"grows then flat", steps(100, 190, 360, 380, 370), 4},
		{"a dip then growth", steps(100, 200, 150, 400, 410, 400), 8},
		{"within 10 % of later steps", steps(100, 200, 215, 219), 2},
		{"grows to the end", steps(100, 200, 400), 4},
		{"flat from the start", steps(100, 105, 95), 1},
		{"nothing served", steps(0, 0, 0), 1},
	} {
		if got := saturating(tc.steps); got != tc.want {
			t.Errorf("%s: saturating = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRefusalPause checks that a refused client honours Retry-After within
// the bounds, jittered ×0.5–1.5.
func TestRefusalPause(t *testing.T) {
	for _, tc := range []struct {
		header   string
		min, max time.Duration
	}{
		{"2", time.Second, 3 * time.Second},
		{"", overloadPause / 2, overloadPause * 3 / 2},
		{"Wed, 21 Oct 2015 07:28:00 GMT", overloadPause / 2, overloadPause * 3 / 2},
		{"0", overloadMinPause / 2, overloadMinPause * 3 / 2},
		{"3600", overloadMaxPause / 2, overloadMaxPause * 3 / 2},
	} {
		for range 20 {
			if got := refusalPause(tc.header); got < tc.min || got > tc.max {
				t.Errorf("Retry-After %q: pause %s, want %s to %s", tc.header, got, tc.min, tc.max)
			}
		}
	}
}

// TestOverloadLoopClassifies checks that overloadLoop tells admitted
// requests, refusals (503, 429, with or without Retry-After), other statuses
// and requests without an HTTP answer apart.
func TestOverloadLoopClassifies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"item":{}}`))
		case "/busy":
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/limited":
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "/broken":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "/hangup":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	t.Cleanup(srv.Close)
	paths := []string{"/ok", "/busy", "/limited", "/broken", "/hangup", "/ok"}
	c := newOverloadClient(8)
	t.Cleanup(c.CloseIdleConnections)
	s := overloadLoop(context.Background(), c, 6, 300*time.Millisecond, func(i int) string { return srv.URL + paths[i%len(paths)] })
	if s.Clients != 6 || s.N == 0 || s.Rate <= 0 || s.P99 <= 0 {
		t.Errorf("admitted: %+v", s)
	}
	if s.RefusalKinds["503"] == 0 || s.RefusalKinds["429"] == 0 || s.Refusals != s.RefusalKinds["503"]+s.RefusalKinds["429"] || s.RefusalP99 <= 0 {
		t.Errorf("refusals: %d, kinds %v, p99 %v", s.Refusals, s.RefusalKinds, s.RefusalP99)
	}
	if s.RefusalsWithRetryAfter != s.RefusalKinds["503"] {
		t.Errorf("%d refusals with Retry-After, want the %d 503s", s.RefusalsWithRetryAfter, s.RefusalKinds["503"])
	}
	if s.ErrorKinds["status 500"] == 0 || s.TransportErrors == 0 || s.Errors != s.ErrorKinds["status 500"]+s.TransportErrors {
		t.Errorf("errors: %d (%d without an answer), kinds %v", s.Errors, s.TransportErrors, s.ErrorKinds)
	}
	for k := range s.ErrorKinds {
		if k != "status 500" && !strings.HasPrefix(k, "no answer: ") {
			t.Errorf("unexpected error kind %q", k)
		}
	}
}

// TestMedianSampleSumsTheCounts: the rounds' error and refusal kinds add up;
// rounds that counted none leave the maps out.
func TestMedianSampleSumsTheCounts(t *testing.T) {
	got := medianSample([]Sample{
		{ErrorKinds: map[string]int{"timeout": 1}, RefusalKinds: map[string]int{"503": 2}},
		{ErrorKinds: map[string]int{"timeout": 2, "status 500": 1}},
		{},
	})
	if got.ErrorKinds["timeout"] != 3 || got.ErrorKinds["status 500"] != 1 || got.RefusalKinds["503"] != 2 {
		t.Fatalf("summed kinds: errors %v, refusals %v", got.ErrorKinds, got.RefusalKinds)
	}
	if none := medianSample([]Sample{{}, {}}); none.ErrorKinds != nil || none.RefusalKinds != nil {
		t.Fatalf("no counts made maps: %v %v", none.ErrorKinds, none.RefusalKinds)
	}
}
