// Package domain holds the dispatcher's pure rules: which workers may join the
// quorum, and how a join request is judged. Nothing here does I/O.
package domain

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Worker is a member of the quorum: a worker process that serves fetch RPCs
// at Address.
type Worker struct {
	ID       string
	Address  string
	JoinedAt time.Time
	LastSeen time.Time
}

// Live reports whether w has been heard from within ttl of now.
func (w Worker) Live(now time.Time, ttl time.Duration) bool {
	return now.Sub(w.LastSeen) <= ttl
}

// RejectReason says why a join is refused.
type RejectReason int

// The reasons a join can be refused; they mirror cluster.v1.RejectReason.
const (
	RejectBadToken RejectReason = iota + 1
	RejectBadAddress
	RejectDuplicateID
	RejectIdentity
)

// Rejection is a refused join.
type Rejection struct {
	Reason  RejectReason
	Message string
}

func (r *Rejection) Error() string { return r.Message }

// ErrBadToken is returned when a request carries the wrong cluster token.
var ErrBadToken = errors.New("wrong cluster token")

// CheckToken compares a presented cluster token with the expected one in
// constant time. An empty expected token means the cluster has none (mutual
// TLS admits the workers): any presented one is ignored.
func CheckToken(presented, expected string) error {
	if expected == "" {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(presented), []byte(expected)) != 1 {
		return ErrBadToken
	}
	return nil
}

// ParseWorkerAddress checks that addr is an http(s) base URL with a host (a
// DNS name or an IP address without zone) and a numeric port and nothing
// else (no path, query or credentials), and returns it in canonical form:
// lower-case host, port without leading zeros.
func ParseWorkerAddress(addr string) (string, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("address %q is not a URL", addr)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("address %q must use http or https", addr)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return "", fmt.Errorf("address %q must have a host and a port", addr)
	}
	if !validHost(host) {
		return "", fmt.Errorf("address %q must name its host by a DNS name or an IP address", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("address %q has an invalid port", addr)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
		return "", fmt.Errorf("address %q must be a base URL without credentials, path or query", addr)
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(host), strconv.Itoa(p)), nil
}

// AddressRules are the deployment's limits on join addresses, beyond their
// form (ParseWorkerAddress).
type AddressRules struct {
	// RequireHTTPS refuses http:// addresses: under mutual TLS every worker
	// serves https.
	RequireHTTPS bool
	// AllowLinkLocal admits link-local addresses (169.254.0.0/16,
	// fe80::/10) and the cloud metadata endpoints, refused by default so
	// that a join cannot point the dispatcher's reads at them.
	AllowLinkLocal bool
}

// metadataHosts are the cloud instance metadata endpoints by name and by
// address (AWS IPv4 and IPv6, GCP's name; Azure and GCP share 169.254.169.254).
var metadataHosts = map[string]bool{
	"169.254.169.254":          true,
	"fd00:ec2::254":            true,
	"metadata.google.internal": true,
	"metadata":                 true,
}

// Check parses addr (ParseWorkerAddress) and applies the rules; it returns
// the canonical address.
func (r AddressRules) Check(addr string) (string, error) {
	canon, err := ParseWorkerAddress(addr)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(canon)
	if r.RequireHTTPS && u.Scheme != "https" {
		return "", fmt.Errorf("address %q must use https (the cluster runs mutual TLS)", addr)
	}
	if r.AllowLinkLocal {
		return canon, nil
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || metadataHosts[ip.String()] {
			return "", fmt.Errorf("address %q is link-local or a metadata endpoint (ALLOW_LINK_LOCAL_WORKERS=true admits it)", addr)
		}
	} else if metadataHosts[host] {
		return "", fmt.Errorf("address %q is a metadata endpoint (ALLOW_LINK_LOCAL_WORKERS=true admits it)", addr)
	}
	return canon, nil
}

// validHost accepts an IP address without zone, or a DNS name of letters,
// digits, '-', '_' (compose service names) and '.' of at most 253 characters.
func validHost(h string) bool {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Zone() == ""
	}
	if len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasPrefix(h, "-") {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// JudgeJoin decides a join against the current members: a wrong token or an
// unusable address (rules) is rejected, and so is an id held by a live worker at
// another address. A worker that rejoins at its own address (after a restart)
// is admitted. The caller's identity is checked before (ports).
func JudgeJoin(id, addr, token, expectedToken string, rules AddressRules, current map[string]Worker, now time.Time, ttl time.Duration) (string, *Rejection) {
	if CheckToken(token, expectedToken) != nil {
		return "", &Rejection{Reason: RejectBadToken, Message: "wrong cluster token"}
	}
	canon, err := rules.Check(addr)
	if err != nil {
		return "", &Rejection{Reason: RejectBadAddress, Message: err.Error()}
	}
	if w, ok := current[id]; ok && w.Address != canon && w.Live(now, ttl) {
		return "", &Rejection{Reason: RejectDuplicateID,
			Message: fmt.Sprintf("worker id %q is held by a live worker at %s", id, w.Address)}
	}
	return canon, nil
}

// workerID is the form of a worker id (cluster.v1 JoinRequest.worker_id):
// letters, digits, '_' and '-' in parts joined by single dots.
var workerID = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// MaxWorkerIDLen is the longest worker id.
const MaxWorkerIDLen = 64

// ValidWorkerID reports whether id has the form a join accepts. Entries read
// back from the shared registry are checked with it: the registry is
// outside the dispatcher's trust.
func ValidWorkerID(id string) bool {
	return len(id) >= 1 && len(id) <= MaxWorkerIDLen && workerID.MatchString(id)
}
