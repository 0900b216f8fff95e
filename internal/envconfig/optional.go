package envconfig

// OptionalSecret reads a secret that may be left unset (empty then); like
// Secret, its value is never printed, and Usage shows only whether it has a
// default.
func (l *Loader) OptionalSecret(name, help string) Secret {
	l.vars = append(l.vars, variable{name: name, help: help})
	v, ok := l.lookup(name)
	if !ok {
		return ""
	}
	return Secret(v)
}
