package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawnshop/auction/internal/auth"
)

// DevAPIKeyID is the id of the dev stack's API key: audit records name it
// as the principal of every call made with the banner's key.
const DevAPIKeyID = "devstack"

// minAPIKeyLen is the shortest key the stack accepts after the prefix: a key
// typed by hand must still not be guessable by someone who can reach the
// port.
const minAPIKeyLen = 16

// CheckAPIKey says why key cannot be the dev stack's API key: the
// dispatcher tells an API key from a JWT by its prefix (auth.APIKeyPrefix),
// and a short one could be guessed.
func CheckAPIKey(key string) error {
	rest, ok := strings.CutPrefix(key, auth.APIKeyPrefix)
	switch {
	case !ok:
		return fmt.Errorf("an API key starts with %q", auth.APIKeyPrefix)
	case len(rest) < minAPIKeyLen:
		return fmt.Errorf("an API key has at least %d characters after %q", minAPIKeyLen, auth.APIKeyPrefix)
	case strings.ContainsAny(rest, " \t\r\n"):
		return fmt.Errorf("an API key has no white space")
	}
	return nil
}

// writeKeyFile stores key, hashed, as the only entry of an API_KEYS_FILE in
// dir/auth (created 0700; the file 0600) and returns the file's path. The
// entry has every scope and no client: the developer acts as staff and
// operator. The key itself is never written.
func writeKeyFile(dir, key string) (string, error) {
	authDir := filepath.Join(dir, "auth")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", authDir, err)
	}
	doc, err := json.MarshalIndent(auth.KeyFile{Keys: []auth.KeyEntry{{
		ID: DevAPIKeyID, Hash: auth.HashAPIKey(key), Scopes: auth.AllScopes,
	}}}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode the API key file: %w", err)
	}
	path := filepath.Join(authDir, "api-keys.json")
	// Written beside and renamed, so that a dispatcher watching the file
	// never reads half of it; os.CreateTemp creates it 0600.
	tmp, err := os.CreateTemp(authDir, ".api-keys-*.json")
	if err != nil {
		return "", fmt.Errorf("write the API key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(doc, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write the API key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write the API key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write the API key file: %w", err)
	}
	return path, nil
}

// setUpAPIKey picks the stack's API key (the configured one or a fresh
// one) and writes its hash where the dispatcher reads it.
func (s *Stack) setUpAPIKey() error {
	s.apiKey = s.cfg.APIKey.Reveal()
	if s.apiKey == "" {
		s.apiKey = auth.NewAPIKey()
	} else if err := CheckAPIKey(s.apiKey); err != nil {
		return fmt.Errorf("the stack's API key: %w", err)
	}
	dir := s.cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "devstack-")
		if err != nil {
			return fmt.Errorf("the API key file's directory: %w", err)
		}
		dir, s.authTemp = tmp, tmp
	}
	var err error
	s.keysFile, err = writeKeyFile(dir, s.apiKey)
	return err
}

// APIKey is the key the dispatcher accepts, with every scope: callers send
// it as "Authorization: Bearer <key>".
func (s *Stack) APIKey() string { return s.apiKey }

// APIKeysFile is the dispatcher's API_KEYS_FILE: the key's hash, never the
// key.
func (s *Stack) APIKeysFile() string { return s.keysFile }
