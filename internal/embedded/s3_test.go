package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/pawnshop/auction/internal/embedded"
)

func startS3(t *testing.T, cfg embedded.S3Config) *embedded.S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := embedded.StartS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// sdkClient is an aws-sdk-go-v2 client configured as the feeder configures
// one for a custom endpoint: path-style, with (dummy) signing credentials.
func sdkClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func TestS3UnsignedPutThenSDKGet(t *testing.T) {
	s := startS3(t, embedded.S3Config{Bucket: "auction", Seed: map[string][]byte{"seeded.txt": []byte("seed\n")}})
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("endpoint %q", s.Endpoint())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// What `curl -X PUT --data-binary @file URL` sends: no signature, no
	// x-amz-* headers, a form content type.
	body := []byte("mallory\neve@example.com\n")
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.Endpoint()+"/auction/fraud/fraudsters.txt", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
		t.Fatalf("unsigned PUT: %s, ETag %q", resp.Status, resp.Header.Get("ETag"))
	}

	c := sdkClient(s.Endpoint())
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auction"), Key: aws.String("fraud/fraudsters.txt")})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(got.Body)
	_ = got.Body.Close()
	if err != nil || !bytes.Equal(data, body) {
		t.Fatalf("GetObject: %q, %v", data, err)
	}
	if aws.ToString(got.ETag) != resp.Header.Get("ETag") || aws.ToInt64(got.ContentLength) != int64(len(body)) {
		t.Fatalf("GetObject ETag %q length %d; PUT answered ETag %q", aws.ToString(got.ETag), aws.ToInt64(got.ContentLength), resp.Header.Get("ETag"))
	}

	// HeadObject gives the same ETag without the body; that is how the
	// feeder skips an unchanged list.
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("auction"), Key: aws.String("fraud/fraudsters.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != aws.ToString(got.ETag) || aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Fatalf("HeadObject ETag %q length %d", aws.ToString(head.ETag), aws.ToInt64(head.ContentLength))
	}

	// Seeded objects are there from the start.
	seeded, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auction"), Key: aws.String("seeded.txt")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(seeded.Body)
	_ = seeded.Body.Close()
	if string(data) != "seed\n" {
		t.Fatalf("seeded object: %q", data)
	}

	// A missing key is NoSuchKey, as on S3.
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("auction"), Key: aws.String("nope")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("HeadObject of a missing key: %v", err)
	}
}

func TestS3SDKPutAndAnonymousGet(t *testing.T) {
	s := startS3(t, embedded.S3Config{Bucket: "auction"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sdkClient(s.Endpoint()).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("auction"), Key: aws.String("k"), Body: strings.NewReader("v1"),
	}); err != nil {
		t.Fatal(err)
	}
	anon := s3.New(s3.Options{BaseEndpoint: aws.String(s.Endpoint()), UsePathStyle: true, Region: "us-east-1", Credentials: aws.AnonymousCredentials{}})
	got, err := anon.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auction"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	_ = got.Body.Close()
	if string(data) != "v1" {
		t.Fatalf("got %q", data)
	}
}

func TestS3SeedNeedsBucket(t *testing.T) {
	if _, err := embedded.StartS3(context.Background(), embedded.S3Config{Seed: map[string][]byte{"k": nil}}); err == nil {
		t.Fatal("want an error for Seed without Bucket")
	}
}
