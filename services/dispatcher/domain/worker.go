// Package domain holds the dispatcher's pure rules: which workers may join the
// quorum, and how a join request is judged. Nothing here does I/O.
package domain

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
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
// constant time.
func CheckToken(presented, expected string) error {
	if subtle.ConstantTimeCompare([]byte(presented), []byte(expected)) != 1 {
		return ErrBadToken
	}
	return nil
}

// ParseWorkerAddress checks that addr is an http(s) base URL with a host and
// a numeric port and nothing else (no path, query or credentials), and
// returns it in canonical form.
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
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("address %q has an invalid port", addr)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("address %q must be a base URL without credentials, path or query", addr)
	}
	return u.Scheme + "://" + u.Host, nil
}

// JudgeJoin decides a join against the current members: a wrong token or an
// unusable address is rejected, and so is an id held by a live worker at
// another address. A worker that rejoins at its own address (after a restart)
// is admitted.
func JudgeJoin(id, addr, token, expectedToken string, current map[string]Worker, now time.Time, ttl time.Duration) (string, *Rejection) {
	if CheckToken(token, expectedToken) != nil {
		return "", &Rejection{Reason: RejectBadToken, Message: "wrong cluster token"}
	}
	canon, err := ParseWorkerAddress(addr)
	if err != nil {
		return "", &Rejection{Reason: RejectBadAddress, Message: err.Error()}
	}
	if w, ok := current[id]; ok && w.Address != canon && w.Live(now, ttl) {
		return "", &Rejection{Reason: RejectDuplicateID,
			Message: fmt.Sprintf("worker id %q is held by a live worker at %s", id, w.Address)}
	}
	return canon, nil
}
