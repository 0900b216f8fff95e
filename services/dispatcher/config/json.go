package config

import "github.com/pawnshop/auction/internal/envconfig"

// JSONConfig is how JSON request bodies are read (REST and Connect JSON;
// binary protobuf keeps proto's rules and skips unknown fields).
type JSONConfig struct {
	// RejectUnknownFields refuses a body with a field the request does not
	// have (400 naming it) instead of dropping it: a misspelt optional
	// field would otherwise be lost without a word.
	RejectUnknownFields bool
}

// loadJSON reads REJECT_UNKNOWN_FIELDS.
func loadJSON(l *envconfig.Loader) JSONConfig {
	return JSONConfig{
		RejectUnknownFields: l.Bool("REJECT_UNKNOWN_FIELDS", true, "refuse JSON request bodies (REST, Connect) with fields the request does not have, with 400 naming them; false ignores such fields (binary protobuf always ignores them)"),
	}
}
