// Command auctionctl is a command-line client of the auction platform's
// public API. It is built on the generated Connect client, so it speaks
// Connect, gRPC or gRPC-Web exactly as any other generated client would, and
// shows a person what the API answers: responses as JSON, errors with every
// violated field.
//
//	auctionctl [-addr URL] [-protocol connect|grpc|grpcweb] COMMAND [flags] [args]
//
// Run `auctionctl -help` for every command and flag.
package main

import (
	"context"
	"os"
	"os/signal"
)

// main runs the command line and exits with its status: 0 on success, 1 when
// the call failed, 2 on a usage error.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
