package auth

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// keyIDPattern is what a key id may look like: it appears in audit records
// and logs, so it is short and needs no escaping.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// hashPattern is the stored form HashAPIKey produces.
var hashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// maxClientLen bounds a key's client binding (the API's client ids are
// shorter).
const maxClientLen = 128

// maxKeyFileBytes bounds the key file read into memory.
const maxKeyFileBytes = 4 << 20

// ParseKeyFile decodes and checks a key file: ids unique and safe, hashes
// in HashAPIKey's form and unique, scopes known and at least one per key.
// Unknown fields are refused, so that a file that carries a plaintext key
// ("key": …) by mistake is not taken.
func ParseKeyFile(b []byte) (KeyFile, error) {
	var f KeyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return KeyFile{}, fmt.Errorf("decode key file: %w", err)
	}
	if dec.More() {
		return KeyFile{}, fmt.Errorf("decode key file: data after the JSON object")
	}
	ids, hashes := map[string]bool{}, map[string]bool{}
	for i, k := range f.Keys {
		switch {
		case !keyIDPattern.MatchString(k.ID):
			return KeyFile{}, fmt.Errorf("key %d: id %q must be 1-64 letters, digits, '.', '_' or '-'", i, k.ID)
		case ids[k.ID]:
			return KeyFile{}, fmt.Errorf("key %q: id appears twice", k.ID)
		case !hashPattern.MatchString(k.Hash):
			return KeyFile{}, fmt.Errorf("key %q: hash must be \"sha256:\" and 64 lowercase hex digits (the file holds hashes, never keys)", k.ID)
		case hashes[k.Hash]:
			return KeyFile{}, fmt.Errorf("key %q: the same hash appears twice", k.ID)
		case len(k.Scopes) == 0:
			return KeyFile{}, fmt.Errorf("key %q: no scopes", k.ID)
		case len(k.Client) > maxClientLen:
			return KeyFile{}, fmt.Errorf("key %q: client longer than %d bytes", k.ID, maxClientLen)
		}
		for _, s := range k.Scopes {
			if !slices.Contains(AllScopes, s) {
				return KeyFile{}, fmt.Errorf("key %q: unknown scope %q (known: %v)", k.ID, s, AllScopes)
			}
		}
		ids[k.ID], hashes[k.Hash] = true, true
	}
	return f, nil
}

// KeyStore holds the API keys of API_KEYS_FILE, by hash. It rereads the
// file when it changes (checked at most every reloadEvery, on lookups), so
// that keys are added and revoked without a restart; a file that no longer
// parses is logged and the last good set kept.
type KeyStore struct {
	path        string
	reloadEvery time.Duration
	log         *slog.Logger
	now         func() time.Time

	keys      atomic.Pointer[[]KeyEntry]
	nextCheck atomic.Int64 // unix nanoseconds
	mu        sync.Mutex   // one reload at a time
	stamp     fileStamp
}

// fileStamp tells a changed file from the one loaded.
type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadKeyStore reads path; unlike a later reload, a first read that fails
// is an error (the service does not start on a bad key file).
func LoadKeyStore(path string, reloadEvery time.Duration, log *slog.Logger) (*KeyStore, error) {
	s := &KeyStore{path: path, reloadEvery: reloadEvery, log: log, now: time.Now}
	st, err := s.read()
	if err != nil {
		return nil, err
	}
	s.stamp = st
	s.nextCheck.Store(s.now().Add(reloadEvery).UnixNano())
	return s, nil
}

// read loads the file and installs its keys.
func (s *KeyStore) read() (fileStamp, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fileStamp{}, fmt.Errorf("API key file: %w", err)
	}
	if fi.Size() > maxKeyFileBytes {
		return fileStamp{}, fmt.Errorf("API key file %s: larger than %d bytes", s.path, maxKeyFileBytes)
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return fileStamp{}, fmt.Errorf("API key file: %w", err)
	}
	f, err := ParseKeyFile(b)
	if err != nil {
		return fileStamp{}, fmt.Errorf("API key file %s: %w", s.path, err)
	}
	s.keys.Store(&f.Keys)
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// maybeReload rereads the file if the check is due and it changed.
func (s *KeyStore) maybeReload() {
	now := s.now()
	next := s.nextCheck.Load()
	if now.UnixNano() < next || !s.nextCheck.CompareAndSwap(next, now.Add(s.reloadEvery).UnixNano()) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if err != nil {
		s.log.Error("API key file unreadable; keeping the keys loaded before", "path", s.path, "err", err)
		return
	}
	if (fileStamp{fi.ModTime(), fi.Size()}) == s.stamp {
		return
	}
	st, err := s.read()
	if err != nil {
		s.log.Error("API key file changed but is not valid; keeping the keys loaded before", "err", err)
		return
	}
	s.stamp = st
	s.log.Info("API key file reloaded", "path", s.path, "keys", len(*s.keys.Load()))
}

// Lookup returns the principal of an API key. The key is hashed and
// compared with every stored hash in constant time, so that neither the
// comparison nor an early exit tells how much of a guess matched.
func (s *KeyStore) Lookup(key string) (Principal, bool) {
	s.maybeReload()
	h := []byte(HashAPIKey(key))
	var found *KeyEntry
	keys := *s.keys.Load()
	for i := range keys {
		if subtle.ConstantTimeCompare(h, []byte(keys[i].Hash)) == 1 {
			found = &keys[i]
		}
	}
	if found == nil {
		return Principal{}, false
	}
	return Principal{Kind: KindAPIKey, ID: found.ID, Client: found.Client, Scopes: slices.Clone(found.Scopes)}, true
}

// Len is the number of keys loaded.
func (s *KeyStore) Len() int { return len(*s.keys.Load()) }
