package domain_test

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pawnshop/auction/services/dispatcher/domain"
)

// FuzzWorkerAddress checks the worker address rules on any input: no panic;
// an accepted address is an http(s) base URL with a host and a port in
// 1..65535 and nothing else, its canonical form is accepted again unchanged,
// and a refusal message stays short.
func FuzzWorkerAddress(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9101", "http://127.0.0.1:9101/", "https://w1.local:443", "http://[::1]:80",
		"http://[fe80::1%25eth0]:80", "", "ftp://h:1", "http://h", "http://h:0", "http://h:99999", "http://u:p@h:1",
		"http://h:1/x", "http://h:1?q=1", "http://h:1#f", "::::", "http://h:+80", "http://h:0080", "HTTP://H:1", "http://%41:1",
		"http://h:1\x00", "http://h\n:1", "http://" + strings.Repeat("a", 300) + ":1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		canon, err := domain.ParseWorkerAddress(addr)
		if err != nil {
			if canon != "" {
				t.Fatalf("%q: refused but returned %q", addr, canon)
			}
			return
		}
		u, perr := url.Parse(canon)
		if perr != nil {
			t.Fatalf("%q: canonical %q does not parse: %v", addr, canon, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("%q: canonical %q has scheme %q", addr, canon, u.Scheme)
		}
		if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("%q: canonical %q is not a bare base URL", addr, canon)
		}
		host, port, serr := net.SplitHostPort(u.Host)
		if serr != nil || host == "" {
			t.Fatalf("%q: canonical %q lacks host:port", addr, canon)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			t.Fatalf("%q: canonical %q has port %q", addr, canon, port)
		}
		if !utf8.ValidString(canon) || strings.ContainsAny(canon, " \t\r\n\x00/?#@") && strings.ContainsAny(canon[len(u.Scheme)+3:], " \t\r\n\x00/?#@") {
			t.Fatalf("%q: canonical %q holds characters a base URL must not", addr, canon)
		}
		again, err := domain.ParseWorkerAddress(canon)
		if err != nil || again != canon {
			t.Fatalf("%q: canonical %q re-parses to %q, %v", addr, canon, again, err)
		}
	})
}
