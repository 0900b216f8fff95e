// Package kafkasec reads how the services authenticate to Kafka and encrypt
// the connection (SASL PLAIN, SCRAM or OAUTHBEARER; TLS with a private CA and
// an optional client certificate) from environment variables, checks the
// settings as a whole, and applies them to every librdkafka client, so that
// producers, consumers and admin clients of every service connect the same
// way and none is left in plaintext by mistake.
package kafkasec

import (
	"os"
	"slices"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/pawnshop/auction/internal/envconfig"
)

// The security protocols (librdkafka's security.protocol).
const (
	Plaintext     = "plaintext"
	SSL           = "ssl"
	SASLPlaintext = "sasl_plaintext"
	SASLSSL       = "sasl_ssl"
)

// The SASL mechanisms (librdkafka's sasl.mechanism).
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	OAuthBearer = "OAUTHBEARER"
)

var (
	protocols  = []string{Plaintext, SSL, SASLPlaintext, SASLSSL}
	mechanisms = []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}
)

// Config is the security of the Kafka connections. The zero value is
// plaintext without authentication (the dev stack's).
type Config struct {
	// Protocol is one of plaintext, ssl, sasl_plaintext, sasl_ssl.
	Protocol string

	// Mechanism is the SASL mechanism, set exactly when Protocol is sasl_*.
	Mechanism string
	// Username and Password authenticate PLAIN and SCRAM.
	Username string
	Password envconfig.Secret

	// OAUTHBEARER through librdkafka's built-in OIDC client-credentials
	// flow: it fetches and refreshes the token from TokenEndpointURL.
	TokenEndpointURL string
	ClientID         string
	ClientSecret     envconfig.Secret
	Scope            string

	// TLS (ssl and sasl_ssl): the CA that signed the brokers' certificates
	// (empty: the system's CAs) and an optional client certificate.
	CALocation          string
	CertificateLocation string
	KeyLocation         string
	KeyPassword         envconfig.Secret
}

// TLS reports whether the connections are encrypted.
func (c Config) TLS() bool { return c.Protocol == SSL || c.Protocol == SASLSSL }

// SASL reports whether the clients authenticate with SASL.
func (c Config) SASL() bool { return c.Protocol == SASLPlaintext || c.Protocol == SASLSSL }

// Load declares the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_*
// variables on l and checks them together: a mechanism only with a sasl_*
// protocol and always with one, the credentials that mechanism needs and no
// others, TLS files only with ssl or sasl_ssl and readable, a client key
// with its certificate.
func Load(l *envconfig.Loader) Config {
	c := Config{
		Protocol:  l.OneOf("KAFKA_SECURITY_PROTOCOL", Plaintext, protocols, "how the Kafka clients connect: TLS (ssl, sasl_ssl) and SASL authentication (sasl_*)"),
		Mechanism: strings.ToUpper(l.String("KAFKA_SASL_MECHANISM", "", "SASL mechanism with a sasl_* protocol: "+strings.Join(mechanisms, ", "))),
		Username:  l.String("KAFKA_SASL_USERNAME", "", "SASL user (PLAIN, SCRAM-*)"),
		Password:  l.OptionalSecret("KAFKA_SASL_PASSWORD", "SASL password (PLAIN, SCRAM-*)"),

		TokenEndpointURL: l.String("KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL", "", "OAUTHBEARER: the identity provider's token endpoint (client-credentials grant, fetched and refreshed by librdkafka)"),
		ClientID:         l.String("KAFKA_SASL_OAUTHBEARER_CLIENT_ID", "", "OAUTHBEARER: client id at the token endpoint"),
		ClientSecret:     l.OptionalSecret("KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET", "OAUTHBEARER: client secret at the token endpoint"),
		Scope:            l.String("KAFKA_SASL_OAUTHBEARER_SCOPE", "", "OAUTHBEARER: scope requested with the token (optional)"),

		CALocation:          l.String("KAFKA_SSL_CA_LOCATION", "", "PEM file of the CA(s) that signed the brokers' certificates; empty: the system's CAs"),
		CertificateLocation: l.String("KAFKA_SSL_CERTIFICATE_LOCATION", "", "PEM client certificate, for brokers that require TLS client authentication"),
		KeyLocation:         l.String("KAFKA_SSL_KEY_LOCATION", "", "PEM private key of KAFKA_SSL_CERTIFICATE_LOCATION"),
		KeyPassword:         l.OptionalSecret("KAFKA_SSL_KEY_PASSWORD", "password of an encrypted KAFKA_SSL_KEY_LOCATION"),
	}
	c.check(l)
	return c
}

func (c Config) check(l *envconfig.Loader) {
	switch {
	case c.Mechanism != "" && !slices.Contains(mechanisms, c.Mechanism):
		l.Fail("KAFKA_SASL_MECHANISM", "%q is not one of %s", c.Mechanism, strings.Join(mechanisms, ", "))
	case c.Mechanism != "" && !c.SASL():
		l.Fail("KAFKA_SASL_MECHANISM", "is set but KAFKA_SECURITY_PROTOCOL is %s; use sasl_ssl (or sasl_plaintext)", c.Protocol)
	case c.Mechanism == "" && c.SASL():
		l.Fail("KAFKA_SASL_MECHANISM", "is required with KAFKA_SECURITY_PROTOCOL=%s (one of %s)", c.Protocol, strings.Join(mechanisms, ", "))
	}

	userPass := c.Mechanism == Plain || c.Mechanism == ScramSHA256 || c.Mechanism == ScramSHA512
	oauth := c.Mechanism == OAuthBearer
	for _, v := range []struct {
		name     string
		set      bool
		required bool // by the mechanism
		allowed  bool // by the mechanism
	}{
		{"KAFKA_SASL_USERNAME", c.Username != "", userPass, userPass},
		{"KAFKA_SASL_PASSWORD", c.Password != "", userPass, userPass},
		{"KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL", c.TokenEndpointURL != "", oauth, oauth},
		{"KAFKA_SASL_OAUTHBEARER_CLIENT_ID", c.ClientID != "", oauth, oauth},
		{"KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET", c.ClientSecret != "", oauth, oauth},
		{"KAFKA_SASL_OAUTHBEARER_SCOPE", c.Scope != "", false, oauth},
	} {
		switch {
		case v.required && !v.set:
			l.Fail(v.name, "is required with KAFKA_SASL_MECHANISM=%s", c.Mechanism)
		case v.set && !v.allowed && c.Mechanism == "":
			l.Fail(v.name, "is set but no KAFKA_SASL_MECHANISM is")
		case v.set && !v.allowed:
			l.Fail(v.name, "does not apply to KAFKA_SASL_MECHANISM=%s", c.Mechanism)
		}
	}
	if c.TokenEndpointURL != "" && !strings.HasPrefix(c.TokenEndpointURL, "https://") && !strings.HasPrefix(c.TokenEndpointURL, "http://") {
		l.Fail("KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL", "%q is not an http(s) URL", c.TokenEndpointURL)
	}

	for _, f := range []struct{ name, path string }{
		{"KAFKA_SSL_CA_LOCATION", c.CALocation},
		{"KAFKA_SSL_CERTIFICATE_LOCATION", c.CertificateLocation},
		{"KAFKA_SSL_KEY_LOCATION", c.KeyLocation},
	} {
		if f.path == "" {
			continue
		}
		if !c.TLS() {
			l.Fail(f.name, "is set but KAFKA_SECURITY_PROTOCOL is %s; use ssl or sasl_ssl", c.Protocol)
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			l.Fail(f.name, "cannot be read: %v", err)
		} else {
			_ = fh.Close()
		}
	}
	switch {
	case c.CertificateLocation != "" && c.KeyLocation == "":
		l.Fail("KAFKA_SSL_KEY_LOCATION", "is required when KAFKA_SSL_CERTIFICATE_LOCATION is set")
	case c.CertificateLocation == "" && c.KeyLocation != "":
		l.Fail("KAFKA_SSL_CERTIFICATE_LOCATION", "is required when KAFKA_SSL_KEY_LOCATION is set")
	}
	if c.KeyPassword != "" && c.KeyLocation == "" {
		l.Fail("KAFKA_SSL_KEY_PASSWORD", "is set but KAFKA_SSL_KEY_LOCATION is not")
	}
}

// Apply sets the librdkafka security keys of c on m (a producer's,
// consumer's or admin client's configuration). With TLS the brokers'
// certificates and host names are always verified.
func (c Config) Apply(m kafka.ConfigMap) {
	if c.Protocol == "" {
		c.Protocol = Plaintext
	}
	m["security.protocol"] = c.Protocol
	if c.SASL() {
		m["sasl.mechanism"] = c.Mechanism
		switch c.Mechanism {
		case OAuthBearer:
			m["sasl.oauthbearer.method"] = "oidc"
			m["sasl.oauthbearer.token.endpoint.url"] = c.TokenEndpointURL
			m["sasl.oauthbearer.client.id"] = c.ClientID
			m["sasl.oauthbearer.client.secret"] = c.ClientSecret.Reveal()
			if c.Scope != "" {
				m["sasl.oauthbearer.scope"] = c.Scope
			}
		default:
			m["sasl.username"] = c.Username
			m["sasl.password"] = c.Password.Reveal()
		}
	}
	if c.TLS() {
		m["enable.ssl.certificate.verification"] = true
		m["ssl.endpoint.identification.algorithm"] = "https"
		if c.CALocation != "" {
			m["ssl.ca.location"] = c.CALocation
		} else {
			// The bundled librdkafka's OpenSSL does not know the system's CA
			// directory; probe finds it on the usual distributions.
			m["ssl.ca.location"] = "probe"
		}
		if c.CertificateLocation != "" {
			m["ssl.certificate.location"] = c.CertificateLocation
			m["ssl.key.location"] = c.KeyLocation
			if c.KeyPassword != "" {
				m["ssl.key.password"] = c.KeyPassword.Reveal()
			}
		}
	}
}
