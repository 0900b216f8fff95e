// Package e2e holds the end-to-end tests of the platform: each test starts
// the whole platform in-process (stacktest.Start: embedded Kafka, MongoDB, S3
// and Redis on loopback ports) and drives it from outside, through the
// generated Connect client, the REST API where REST itself is under test,
// grpcurl, the TypeScript client (clients/ts) and a browser (e2e/browser,
// playwright-core driving Debian's Chromium). The package has no code of its
// own; `go test ./e2e/...` runs it.
package e2e
