package stack

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/auth"
)

// TestKeyFileHoldsOnlyTheHash checks what the dispatcher's API_KEYS_FILE of
// the dev stack holds: the key's hash with every scope, readable by its
// owner only, and never the key.
func TestKeyFileHoldsOnlyTheHash(t *testing.T) {
	dir := t.TempDir()
	key := auth.NewAPIKey()
	path, err := writeKeyFile(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), key) || strings.Contains(string(raw), strings.TrimPrefix(key, auth.APIKeyPrefix)) {
		t.Fatalf("the key file holds the key itself:\n%s", raw)
	}
	var f auth.KeyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Keys) != 1 {
		t.Fatalf("%d keys, want 1:\n%s", len(f.Keys), raw)
	}
	k := f.Keys[0]
	if k.ID != DevAPIKeyID || k.Hash != auth.HashAPIKey(key) || k.Client != "" || !slices.Equal(k.Scopes, auth.AllScopes) {
		t.Errorf("key entry %+v, want id %q, the key's hash, every scope, no client", k, DevAPIKeyID)
	}
	// A second start with another key replaces the file.
	other := auth.NewAPIKey()
	if _, err := writeKeyFile(dir, other); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(path)
	if !strings.Contains(string(raw), auth.HashAPIKey(other)) || strings.Contains(string(raw), auth.HashAPIKey(key)) {
		t.Errorf("the file was not replaced:\n%s", raw)
	}
	if ents, _ := os.ReadDir(dir + "/auth"); len(ents) != 1 {
		t.Errorf("the auth directory holds %d entries, want only api-keys.json", len(ents))
	}
}

func TestCheckAPIKey(t *testing.T) {
	for key, ok := range map[string]bool{
		auth.NewAPIKey():             true,
		"ak_0123456789abcdef":        true,
		"ak_short":                   false,
		"0123456789abcdef0123456789": false, // no prefix: read as a JWT
		"ak_0123456789 abcdef":       false,
		"":                           false,
	} {
		if err := CheckAPIKey(key); (err == nil) != ok {
			t.Errorf("CheckAPIKey(%q) = %v, want ok %v", key, err, ok)
		}
	}
}
