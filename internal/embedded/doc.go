// Package embedded starts in-process stand-ins for the platform's backends:
// Kafka (kfake), MongoDB (FerretDB on SQLite), Redis (miniredis) and S3
// (gofakes3). They let the dev stack and the tests run the real services on
// one machine without containers.
package embedded
