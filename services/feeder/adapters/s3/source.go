// Package s3 is the feeder's S3 adapter: it reads the one object holding
// the fraudsters list, from AWS S3 or from an S3-compatible server (MinIO,
// the embedded gofakes3 of tests and the dev stack).
package s3

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/pawnshop/auction/services/feeder/app"
)

// Config says where the object is.
type Config struct {
	// Endpoint is the base URL of an S3-compatible server
	// ("http://127.0.0.1:9000"); empty means AWS S3 itself, found by the
	// SDK from Region. With an endpoint, requests use path-style addressing
	// ("endpoint/bucket/key"), which MinIO and gofakes3 need.
	Endpoint string
	Region   string
	Bucket   string
	Key      string
}

// Source reads the object at Bucket/Key.
type Source struct {
	cfg    Config
	log    *slog.Logger
	client *awss3.Client
}

var _ app.Source = (*Source)(nil)

// New returns the source of cfg. It does no I/O: Connect, when the
// application starts, builds the S3 client; until then the source must not
// be used.
func New(cfg Config, log *slog.Logger) *Source {
	return &Source{cfg: cfg, log: log}
}

// Connect builds the S3 client. Credentials come from the SDK's usual chain
// (AWS_ACCESS_KEY_ID and friends, AWS_PROFILE and the shared files, web
// identity, container and instance roles).
//
// With an Endpoint, two things differ, both for S3-compatible servers:
//   - The EC2 instance metadata service is not asked for credentials
//     (unless AWS_EC2_METADATA_DISABLED is set explicitly): an instance
//     role is for AWS, not for MinIO, and off EC2 the probe only costs
//     seconds of timeouts and traffic to a link-local address.
//   - When the chain then yields no credentials at all, requests go
//     unsigned (anonymous). That is what a dev MinIO with a public bucket or
//     gofakes3 (which checks no signature) needs, and it is decided once,
//     here, by asking the chain, so that configured credentials always win.
//     Against AWS itself (no Endpoint) there is no such fallback: missing
//     credentials must fail loudly, not turn into anonymous reads.
func (s *Source) Connect(ctx context.Context) error {
	cfg, log := s.cfg, s.log
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithLogger(sdkLogger{log}),
	}
	if _, set := os.LookupEnv("AWS_EC2_METADATA_DISABLED"); cfg.Endpoint != "" && !set {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("load the AWS configuration: %w", err)
	}
	if cfg.Endpoint != "" {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := awsCfg.Credentials.Retrieve(rctx)
		cancel()
		if err != nil {
			// Expected with gofakes3 or a public MinIO bucket (the dev
			// stack), so no warning: one line says what was decided, the
			// chain's long explanation is for debugging.
			log.Info("S3 requests go unsigned: no AWS credentials configured for the custom endpoint", "endpoint", cfg.Endpoint)
			log.Debug("AWS credential chain", "err", err)
			awsCfg.Credentials = aws.AnonymousCredentials{}
		}
	}
	s.client = awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		// An object uploaded without a checksum (curl, older tools, most
		// S3-compatible servers) would log a warning on every download.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return nil
}

// Stat returns the object's ETag and size without its body (HeadObject).
func (s *Source) Stat(ctx context.Context) (app.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &s.cfg.Key})
	if err != nil {
		return app.ObjectInfo{}, fmt.Errorf("head s3://%s/%s: %w", s.cfg.Bucket, s.cfg.Key, err)
	}
	return info(out.ETag, out.ContentLength), nil
}

// Open starts the download of the object (GetObject).
func (s *Source) Open(ctx context.Context) (io.ReadCloser, app.ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &s.cfg.Key})
	if err != nil {
		return nil, app.ObjectInfo{}, fmt.Errorf("get s3://%s/%s: %w", s.cfg.Bucket, s.cfg.Key, err)
	}
	return out.Body, info(out.ETag, out.ContentLength), nil
}

func info(etag *string, length *int64) app.ObjectInfo {
	size := int64(-1)
	if length != nil {
		size = *length
	}
	return app.ObjectInfo{ETag: aws.ToString(etag), Size: size}
}

// sdkLogger sends the SDK's own log lines (retries, deprecations) to the
// service's structured log instead of plain text on stderr.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "aws-sdk")
}
