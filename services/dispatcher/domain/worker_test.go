package domain_test

import (
	"testing"
	"time"

	"github.com/pawnshop/auction/services/dispatcher/domain"
)

func TestParseWorkerAddress(t *testing.T) {
	good := map[string]string{
		"http://127.0.0.1:9101":  "http://127.0.0.1:9101",
		"http://127.0.0.1:9101/": "http://127.0.0.1:9101",
		"https://w1.local:443":   "https://w1.local:443",
		"http://[::1]:80":        "http://[::1]:80",
		"http://W1.Local:0080/":  "http://w1.local:80",
	}
	for in, want := range good {
		got, err := domain.ParseWorkerAddress(in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:9101", "ftp://h:1", "http://h", "http://:80", "http://h:0",
		"http://h:99999", "http://u:p@h:1", "http://h:1/x", "http://h:1?q=1", "::::",
		"http://[fe80::1%25eth0]:80", "http://h:1?"} {
		if _, err := domain.ParseWorkerAddress(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestJudgeJoin(t *testing.T) {
	now := time.Now()
	ttl := 10 * time.Second
	current := map[string]domain.Worker{
		"w1": {ID: "w1", Address: "http://127.0.0.1:1", LastSeen: now},
		"w2": {ID: "w2", Address: "http://127.0.0.1:2", LastSeen: now.Add(-time.Minute)},
	}
	cases := []struct {
		name, id, addr, token string
		want                  domain.RejectReason
	}{
		{"new worker", "w3", "http://127.0.0.1:3", "tok", 0},
		{"wrong token", "w3", "http://127.0.0.1:3", "nope", domain.RejectBadToken},
		{"bad address", "w3", "127.0.0.1:3", "tok", domain.RejectBadAddress},
		{"duplicate live id elsewhere", "w1", "http://127.0.0.1:9", "tok", domain.RejectDuplicateID},
		{"rejoin at the same address", "w1", "http://127.0.0.1:1", "tok", 0},
		{"stale holder is replaced", "w2", "http://127.0.0.1:9", "tok", 0},
	}
	for _, c := range cases {
		_, rej := domain.JudgeJoin(c.id, c.addr, c.token, "tok", domain.AddressRules{}, current, now, ttl)
		var got domain.RejectReason
		if rej != nil {
			got = rej.Reason
		}
		if got != c.want {
			t.Errorf("%s: got reason %d (%v), want %d", c.name, got, rej, c.want)
		}
	}
}

// TestAddressRules: link-local and metadata addresses are refused unless
// allowed, in every spelling (IPv4-mapped IPv6, a trailing dot, upper case),
// and http is refused under mutual TLS.
func TestAddressRules(t *testing.T) {
	refused := []string{
		"https://169.254.169.254:80", "https://169.254.1.1:9101", "https://[::ffff:169.254.169.254]:80",
		"https://[fe80::1]:9101", "https://[fd00:ec2::254]:80", "https://metadata.google.internal:80",
		"https://METADATA.GOOGLE.INTERNAL.:80", "https://metadata:80",
	}
	strict := domain.AddressRules{RequireHTTPS: true}
	for _, a := range refused {
		if _, err := strict.Check(a); err == nil {
			t.Errorf("%q admitted", a)
		}
		if _, err := (domain.AddressRules{RequireHTTPS: true, AllowLinkLocal: true}).Check(a); err != nil {
			t.Errorf("%q refused with AllowLinkLocal: %v", a, err)
		}
	}
	if _, err := strict.Check("http://10.0.0.7:9101"); err == nil {
		t.Error("http admitted under RequireHTTPS")
	}
	for _, a := range []string{"https://10.0.0.7:9101", "https://worker-1.svc:9101", "https://[2001:db8::1]:9101"} {
		if _, err := strict.Check(a); err != nil {
			t.Errorf("%q refused: %v", a, err)
		}
	}
	if _, err := (domain.AddressRules{}).Check("http://127.0.0.1:9101"); err != nil {
		t.Errorf("http refused without RequireHTTPS: %v", err)
	}
}

// TestCheckTokenOptional: a cluster without a token ignores the presented
// one; a cluster with one refuses a missing or wrong one.
func TestCheckTokenOptional(t *testing.T) {
	if domain.CheckToken("anything", "") != nil || domain.CheckToken("", "") != nil {
		t.Error("a cluster without a token refused a join")
	}
	if domain.CheckToken("", "tok") == nil || domain.CheckToken("tox", "tok") == nil {
		t.Error("a missing or wrong token admitted")
	}
}
