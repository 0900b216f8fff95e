package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// APIKeyPrefix starts every API key, so that a bearer credential is told
// apart from a JWT (which has dots and no such prefix) without trying both.
const APIKeyPrefix = "ak_"

// NewAPIKey returns a fresh random API key: the prefix and 32 random bytes
// in base64url. Its entropy is what makes a fast hash safe to store (see
// HashAPIKey).
func NewAPIKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// IsAPIKey reports whether a bearer credential is meant as an API key.
func IsAPIKey(credential string) bool { return strings.HasPrefix(credential, APIKeyPrefix) }

// HashAPIKey is how an API key is stored: "sha256:" and the hex digest. A
// key holds 256 random bits, so a salted slow hash (made for guessable
// passwords) adds nothing: no dictionary reaches a random key, and a fast
// hash keeps authentication off the request's critical path.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// KeyFile is the JSON document API_KEYS_FILE holds (a file, or a Kubernetes
// Secret mounted as one): the keys' hashes, never the keys.
//
//	{"keys": [{"id": "ops-1", "hash": "sha256:…", "scopes": ["items:read"], "client": ""}]}
type KeyFile struct {
	Keys []KeyEntry `json:"keys"`
}

// KeyEntry is one API key: its id (in audit records), the hash of the key
// (HashAPIKey), its scopes, and the client it is bound to (empty: none).
type KeyEntry struct {
	ID     string  `json:"id"`
	Hash   string  `json:"hash"`
	Scopes []Scope `json:"scopes"`
	Client string  `json:"client,omitempty"`
}
