package envconfig

import "log/slog"

// Secret is a configuration value such as a token or a password. It prints as
// "***" in logs, %v and JSON so that dumping a config never leaks it; call
// Reveal where the value itself is needed.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string { return mask(s) }

// GoString masks the value for %#v too.
func (s Secret) GoString() string { return mask(s) }

// LogValue masks the value in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(mask(s)) }

// MarshalText masks the value in encoded output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(mask(s)), nil }

func mask(s Secret) string {
	if s == "" {
		return ""
	}
	return "***"
}
