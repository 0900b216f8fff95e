// Package envconfig loads a service's typed configuration from environment
// variables. A Loader reads every variable, parses and checks it, and collects
// every problem instead of stopping at the first, so that a misconfigured
// service reports all of them at once and exits before it starts anything.
package envconfig

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Loader reads variables from a lookup function (os.LookupEnv in services, a
// map in tests) and remembers each variable it was asked for, for Usage.
type Loader struct {
	lookup func(string) (string, bool)
	errs   []error
	vars   []variable
}

type variable struct {
	name, def, help string
}

// New returns a Loader over lookup; nil means os.LookupEnv.
func New(lookup func(string) (string, bool)) *Loader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Loader{lookup: lookup}
}

// FromMap returns a lookup function over m, for tests and for flags.
func FromMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// Error is one configuration problem: the variable and what is wrong with it.
type Error struct {
	Var     string
	Problem string
}

func (e *Error) Error() string { return e.Var + ": " + e.Problem }

func (l *Loader) raw(name, def, help string) (string, bool) {
	l.vars = append(l.vars, variable{name: name, def: def, help: help})
	v, ok := l.lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return def, false
	}
	return v, true
}

// Fail records a problem found by a check that spans several variables.
func (l *Loader) Fail(name, format string, args ...any) {
	l.errs = append(l.errs, &Error{Var: name, Problem: fmt.Sprintf(format, args...)})
}

// String reads a string; required strings with an empty default fail when unset.
func (l *Loader) String(name, def, help string) string {
	v, _ := l.raw(name, def, help)
	return v
}

// Required reads a string that must be set.
func (l *Loader) Required(name, help string) string {
	v, _ := l.raw(name, "", help+" (required)")
	if v == "" {
		l.Fail(name, "is required but not set")
	}
	return v
}

// Secret reads a string whose value is never printed: see Secret.
func (l *Loader) Secret(name, def, help string) Secret {
	l.vars = append(l.vars, variable{name: name, def: secretDefault(def), help: help})
	v, ok := l.lookup(name)
	if !ok || v == "" {
		v = def
	}
	if v == "" {
		l.Fail(name, "is required but not set")
	}
	return Secret(v)
}

// Int reads an integer in [lo, hi].
func (l *Loader) Int(name string, def, lo, hi int, help string) int {
	v, set := l.raw(name, strconv.Itoa(def), help)
	if !set {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.Fail(name, "%q is not an integer", v)
		return def
	}
	if n < lo || n > hi {
		l.Fail(name, "%d is out of range [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

// Bytes reads a size such as "1MiB", "512KiB", "64KB" or a plain byte count,
// in [lo, hi] bytes.
func (l *Loader) Bytes(name string, def, lo, hi int64, help string) int64 {
	v, set := l.raw(name, FormatBytes(def), help)
	if !set {
		return def
	}
	n, err := ParseBytes(v)
	if err != nil {
		l.Fail(name, "%v", err)
		return def
	}
	if n < lo || n > hi {
		l.Fail(name, "%s is out of range [%s, %s]", v, FormatBytes(lo), FormatBytes(hi))
		return def
	}
	return n
}

// Duration reads a Go duration ("250ms", "5s") in [lo, hi].
func (l *Loader) Duration(name string, def, lo, hi time.Duration, help string) time.Duration {
	v, set := l.raw(name, def.String(), help)
	if !set {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.Fail(name, "%q is not a duration (examples: 500ms, 5s, 1m)", v)
		return def
	}
	if d < lo || d > hi {
		l.Fail(name, "%s is out of range [%s, %s]", d, lo, hi)
		return def
	}
	return d
}

// Bool reads true/false (also 1/0, yes/no).
func (l *Loader) Bool(name string, def bool, help string) bool {
	v, set := l.raw(name, strconv.FormatBool(def), help)
	if !set {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	l.Fail(name, "%q is not a boolean (true or false)", v)
	return def
}

// Addr reads a TCP listen or dial address "host:port" with a numeric port.
func (l *Loader) Addr(name, def, help string) string {
	v, _ := l.raw(name, def, help)
	if v == "" {
		return v
	}
	if err := CheckAddr(v); err != nil {
		l.Fail(name, "%v", err)
	}
	return v
}

// Addrs reads a comma-separated list of "host:port" addresses, at least one.
func (l *Loader) Addrs(name, def, help string) []string {
	v, _ := l.raw(name, def, help)
	return l.addrs(name, v)
}

// OptionalAddrs reads a comma-separated list of "host:port" addresses, or
// none when the variable is unset or empty.
func (l *Loader) OptionalAddrs(name, help string) []string {
	v, set := l.raw(name, "", help)
	if !set {
		return nil
	}
	return l.addrs(name, v)
}

func (l *Loader) addrs(name, v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := CheckAddr(a); err != nil {
			l.Fail(name, "%v", err)
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		l.Fail(name, "needs at least one host:port address")
	}
	return out
}

// URL reads an absolute URL whose scheme is one of schemes.
func (l *Loader) URL(name, def string, schemes []string, help string) *url.URL {
	v, _ := l.raw(name, def, help)
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		l.Fail(name, "%q is not a URL", redactURL(v))
		return nil
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok || u.Host == "" {
		l.Fail(name, "%q must be an absolute URL with scheme %s and a host", redactURL(v), strings.Join(schemes, " or "))
		return nil
	}
	return u
}

// OneOf reads a value from a fixed set.
func (l *Loader) OneOf(name, def string, allowed []string, help string) string {
	v, _ := l.raw(name, def, help+" (one of "+strings.Join(allowed, ", ")+")")
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	l.Fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// Err returns every problem found as *Problems, or nil.
func (l *Loader) Err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return &Problems{errs: append([]error(nil), l.errs...)}
}

// Problems is every problem of a configuration. Its message has a header
// line and then one line per problem, each a bullet, so that a service's
// output lists them one under the other:
//
//	invalid configuration (2 problems):
//	  - HTTP_ADDR: "nowhere" is not host:port
//	  - MONGO_URI: not a MongoDB connection string (...): ...
type Problems struct{ errs []error }

func (p *Problems) Error() string {
	var b strings.Builder
	noun := "problems"
	if len(p.errs) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "invalid configuration (%d %s):", len(p.errs), noun)
	for _, e := range p.errs {
		// A problem quoting a wrapped error must still take one line.
		b.WriteString("\n  - " + strings.Join(strings.Fields(e.Error()), " "))
	}
	return b.String()
}

// Unwrap returns each problem (an *Error), for errors.As and errors.Is.
func (p *Problems) Unwrap() []error { return p.errs }

// Usage writes every variable the Loader was asked for with its default
// (none shown when the default is empty).
func (l *Loader) Usage(w io.Writer) {
	for _, v := range l.vars {
		line := fmt.Sprintf("  %-28s %s", v.name, v.help)
		if v.def != "" {
			line += " (default " + v.def + ")"
		}
		fmt.Fprintln(w, line)
	}
}

// Derived reads an optional string whose default is computed from other
// variables (ADVERTISE_URL from HTTP_ADDR): it returns "" when unset, and
// Usage shows shown, a description of that default, as the default.
func (l *Loader) Derived(name, shown, help string) string {
	l.vars = append(l.vars, variable{name: name, def: shown, help: help})
	v, _ := l.lookup(name)
	return strings.TrimSpace(v)
}

// CheckAddr reports whether a is "host:port" with a port in 0..65535.
func CheckAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	_ = host
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has an invalid port", a)
	}
	return nil
}

// secretDefault is how Usage shows a secret's default: a URL (a server
// address such as mongodb://127.0.0.1:27017) as itself with any password
// masked, anything else not at all.
func secretDefault(def string) string {
	if def == "" {
		return ""
	}
	if u, err := url.Parse(def); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Redacted()
	}
	return "built in, not shown"
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
