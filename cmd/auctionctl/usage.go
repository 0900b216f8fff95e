package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usage prints the full help: the global flags, then every command with its
// flags, generated from the same flag definitions that run parses.
func usage(w io.Writer) {
	fmt.Fprint(w, `auctionctl is a command-line client of the pawn shop auction API (the
dispatcher's AuctionService), over Connect, gRPC or gRPC-Web.

Usage:
  auctionctl [global flags] COMMAND [flags] [args]
  auctionctl help [COMMAND]

Every call sends the credential of -token, else of $AUCTION_TOKEN, as
"Authorization: Bearer <credential>": an API key (ak_...) or an OIDC token.
The dev stack prints its key in its banner as a ready-to-paste
export AUCTION_TOKEN=ak_...

Responses are printed as JSON. Money is in cents. Exit status: 0 success,
1 the call failed (the error and every violated field are printed), 2 usage error.

Global flags:
`)
	var o globalOptions
	fs := flag.NewFlagSet("auctionctl", flag.ContinueOnError)
	globalFlags(fs, &o)
	fmt.Fprint(w, defaults(fs))
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-6s %s\n", apiKeyCommand, apiKeySummary)
	for _, c := range commands {
		fmt.Fprintln(w)
		c.usage(w)
	}
	fmt.Fprintln(w)
	apiKeyUsage(w)
	fmt.Fprint(w, `
Examples:
  export AUCTION_TOKEN=ak_...   # from the dev stack's banner
  auctionctl add -name Lamp -category DECORATION -price-cents 1999 -state GOOD -age-months 120
  auctionctl -protocol grpc buy -client alice -item lamp-1 -price-cents 1500
  auctionctl get lamp-1
  auctionctl list -category decoration -limit 20
  auctionctl apikey -id reports-1 -scopes items:read
`)
}

// usage prints one command's usage line, summary and flags.
func (c command) usage(w io.Writer) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.bind(fs)
	line := "auctionctl [global flags] " + c.name
	if hasFlags(fs) {
		line += " [flags]"
	}
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "%s\n  %s\n", line, c.summary)
	fmt.Fprint(w, defaults(fs))
}

// hasFlags reports whether the command takes flags, to write its usage line.
func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// defaults is fs.PrintDefaults as a string.
func defaults(fs *flag.FlagSet) string {
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return strings.ReplaceAll(b.String(), "\t", "    ")
}
