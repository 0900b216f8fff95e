package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		case "/grpc.health.v1.Health/Check":
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || string(b) != "{}" {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, `{"status":"SERVING"}`)
		default:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{srv.URL + "/healthz"}, 0},
		{[]string{"-post", "{}", "-expect", "SERVING", srv.URL + "/grpc.health.v1.Health/Check"}, 0},
		{[]string{"-expect", "SERVING", srv.URL + "/healthz"}, 1},
		{[]string{srv.URL + "/readyz"}, 1},
		{[]string{"http://127.0.0.1:1/healthz"}, 1},
		{[]string{}, 2},
	} {
		var stderr strings.Builder
		if got := run(c.args, &stderr); got != c.want {
			t.Errorf("healthcheck %v: exit %d, want %d (%s)", c.args, got, c.want, stderr.String())
		}
	}
}
