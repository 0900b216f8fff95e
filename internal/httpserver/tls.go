package httpserver

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/pawnshop/auction/internal/certreload"
	"github.com/pawnshop/auction/internal/envconfig"
)

// TLSFiles names the PEM certificate (with its chain) and private key a
// listener serves TLS with; both empty means plain HTTP.
type TLSFiles struct {
	CertFile string
	KeyFile  string
}

// Enabled reports whether TLS is configured.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" }

// The variables LoadTLS reads.
const (
	EnvTLSCertFile = "TLS_CERT_FILE"
	EnvTLSKeyFile  = "TLS_KEY_FILE"
)

// LoadTLS declares TLS_CERT_FILE and TLS_KEY_FILE on l, the files a service's
// listeners serve TLS from, and checks them: both or neither, and each
// readable. It is the one place every service reads them, so they mean the
// same everywhere.
func LoadTLS(l *envconfig.Loader) TLSFiles {
	f := TLSFiles{
		CertFile: l.String(EnvTLSCertFile, "", "PEM certificate (with intermediates) the listener serves TLS with (h2 by ALPN), reloaded when it changes; empty: plain HTTP (h2c); needs "+EnvTLSKeyFile),
		KeyFile:  l.String(EnvTLSKeyFile, "", "PEM private key of "+EnvTLSCertFile+", reloaded with it"),
	}
	switch {
	case f.CertFile != "" && f.KeyFile == "":
		l.Fail(EnvTLSKeyFile, "is required when %s is set", EnvTLSCertFile)
	case f.CertFile == "" && f.KeyFile != "":
		l.Fail(EnvTLSCertFile, "is required when %s is set", EnvTLSKeyFile)
	}
	for _, v := range []struct{ name, path string }{{EnvTLSCertFile, f.CertFile}, {EnvTLSKeyFile, f.KeyFile}} {
		if v.path == "" {
			continue
		}
		if fh, err := os.Open(v.path); err != nil {
			l.Fail(v.name, "cannot be read: %v", err)
		} else {
			_ = fh.Close()
		}
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return TLSFiles{}
	}
	return f
}

// WithTLS serves TLS with the pair in f, reloaded when the files change
// (internal/certreload); HTTP/2 is offered by ALPN and cleartext h2c is off.
// An empty f leaves the server on plain HTTP. A pair that does not load
// fails Listen (and so Start).
func WithTLS(f TLSFiles) Option {
	return func(o *options) { o.tlsFiles = f }
}

// WithTLSConfig serves TLS with cfg, for listeners that need more than a
// certificate (client certificate verification in mutual TLS). cfg must
// provide a certificate (Certificates, GetCertificate or GetConfigForClient);
// "h2" and "http/1.1" are added to its NextProtos. It takes precedence over
// WithTLS.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) { o.tlsConfig = cfg }
}

func (o *options) tls() bool { return o.tlsConfig != nil || o.tlsFiles.Enabled() }

// serverTLSConfig builds the listener's TLS configuration.
func (s *Server) serverTLSConfig() (*tls.Config, error) {
	var cfg *tls.Config
	if s.opts.tlsConfig != nil {
		cfg = s.opts.tlsConfig.Clone()
	} else {
		kp, err := certreload.New(s.opts.tlsFiles.CertFile, s.opts.tlsFiles.KeyFile, s.log)
		if err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
		cfg = &tls.Config{GetCertificate: kp.GetCertificate}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	cfg.NextProtos = appendMissing(cfg.NextProtos, "h2", "http/1.1")
	return cfg, nil
}

func appendMissing(list []string, add ...string) []string {
	for _, a := range add {
		found := false
		for _, have := range list {
			found = found || have == a
		}
		if !found {
			list = append(list, a)
		}
	}
	return list
}
