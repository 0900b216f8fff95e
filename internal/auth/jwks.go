package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds a key set document.
const maxJWKSBytes = 1 << 20

// jwks is the issuer's key set, an oidc.KeySet: fetched on first use, kept,
// and fetched again when a token names a key id it does not hold (how
// issuers rotate keys), but at most once per minRefetch. go-oidc's own
// RemoteKeySet refetches on every token that fails to verify, so a stream
// of forged tokens would become a stream of requests to the issuer; here a
// token whose key is held but whose signature is wrong is simply refused.
// Signatures are checked by go-jose.
type jwks struct {
	url        string
	client     *http.Client
	algs       []jose.SignatureAlgorithm
	minRefetch time.Duration
	now        func() time.Time

	mu        sync.Mutex // one fetch at a time; guards the fields below
	keys      []jose.JSONWebKey
	fetchedAt time.Time
	fetched   bool
}

func newJWKS(url string, client *http.Client, algs []string, minRefetch time.Duration) *jwks {
	k := &jwks{url: url, client: client, minRefetch: minRefetch, now: time.Now}
	for _, a := range algs {
		k.algs = append(k.algs, jose.SignatureAlgorithm(a))
	}
	return k
}

// VerifySignature implements oidc.KeySet (go-oidc has already checked the
// algorithm against the allow-list; it is checked again on parsing here).
func (k *jwks) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed JWT: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("exactly one signature expected")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, err := k.keysFor(ctx, kid)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if kid == "" || keys[i].KeyID == kid {
			if payload, err := jws.Verify(&keys[i]); err == nil {
				return payload, nil
			}
		}
	}
	return nil, errors.New("signature does not verify with the issuer's keys")
}

// keysFor returns the key set, fetched again first if it holds no key kid
// and the last fetch is at least minRefetch old.
func (k *jwks) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fetched && (kid == "" || k.holds(kid) || k.now().Sub(k.fetchedAt) < k.minRefetch) {
		return k.keys, nil
	}
	keys, err := k.fetch(ctx)
	k.fetchedAt = k.now() // a failed fetch also waits minRefetch
	if err != nil {
		if k.fetched {
			return k.keys, nil // keep the keys held; the token may still verify
		}
		return nil, fmt.Errorf("%w: JWKS %s: %w", ErrUnavailable, k.url, err)
	}
	k.keys, k.fetched = keys, true
	return keys, nil
}

func (k *jwks) holds(kid string) bool {
	for _, key := range k.keys {
		if key.KeyID == kid {
			return true
		}
	}
	return false
}

func (k *jwks) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	res, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.Use == "" || key.Use == "sig" {
			keys = append(keys, key)
		}
	}
	return keys, nil
}
