package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pawnshop/auction/internal/auth"
)

// apiKeyCommand is the local subcommand that makes API keys; it calls no
// server, so it is not in commands (which all make an RPC).
const apiKeyCommand = "apikey"

// apiKeySummary is the one-line help of apikey.
const apiKeySummary = "Make a new API key and print it with its entry for API_KEYS_FILE (no server is called)."

// apiKeyOptions are apikey's flags.
type apiKeyOptions struct {
	id, scopes, client string
	stdin              bool
}

// apiKeyFlags defines apikey's flags on fs; help and parsing share it.
func apiKeyFlags(fs *flag.FlagSet, o *apiKeyOptions) {
	fs.StringVar(&o.id, "id", "", "key `id` shown in audit records (1-64 letters, digits, '.', '_', '-'); required")
	fs.StringVar(&o.scopes, "scopes", "", "comma-separated `scopes`: "+scopeList()+"; required")
	fs.StringVar(&o.client, "client", "", "client `id` the key is bound to (it may act only as that client); empty: none")
	fs.BoolVar(&o.stdin, "stdin", false, "hash the key read from standard input instead of making a new one")
}

// scopeList is every scope, comma-separated, for the help.
func scopeList() string {
	s := make([]string, len(auth.AllScopes))
	for i, sc := range auth.AllScopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

// apiKeyUsage prints apikey's usage.
func apiKeyUsage(w io.Writer) {
	fmt.Fprintf(w, "auctionctl %s [flags]\n  %s\n", apiKeyCommand, apiKeySummary)
	var o apiKeyOptions
	fs := flag.NewFlagSet(apiKeyCommand, flag.ContinueOnError)
	apiKeyFlags(fs, &o)
	fmt.Fprint(w, defaults(fs))
}

// apiKey runs `auctionctl apikey`: a new key (auth.NewAPIKey), or one read
// from stdin, and the key file entry that stores only its hash, checked by
// the same parser the dispatcher loads API_KEYS_FILE with. The key goes to
// stdout once; nothing is written to disk.
func apiKey(stdout, stderr io.Writer, args []string) int {
	return apiKeyFrom(os.Stdin, stdout, stderr, args)
}

// apiKeyFrom is apiKey with standard input given, for tests.
func apiKeyFrom(stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	var o apiKeyOptions
	fs := flag.NewFlagSet("auctionctl "+apiKeyCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	apiKeyFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			apiKeyUsage(stdout)
			return exitOK
		}
		return usageError(stderr, apiKeyCommand, "")
	}
	if fs.NArg() > 0 {
		return usageError(stderr, apiKeyCommand, fmt.Sprintf("unexpected argument %q (values are given as flags)", fs.Arg(0)))
	}
	if o.id == "" || o.scopes == "" {
		return usageError(stderr, apiKeyCommand, "-id and -scopes are required")
	}
	entry := auth.KeyEntry{ID: o.id, Client: o.client}
	for _, s := range strings.Split(o.scopes, ",") {
		entry.Scopes = append(entry.Scopes, auth.Scope(strings.TrimSpace(s)))
	}
	key := auth.NewAPIKey()
	if o.stdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "auctionctl %s: read the key: %v\n", apiKeyCommand, err)
			return exitCall
		}
		key = strings.TrimSpace(line)
		if !auth.IsAPIKey(key) || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' }) {
			return usageError(stderr, apiKeyCommand, fmt.Sprintf("standard input must hold one API key starting with %q", auth.APIKeyPrefix))
		}
	}
	entry.Hash = auth.HashAPIKey(key)
	line, err := json.Marshal(entry)
	if err != nil {
		fmt.Fprintf(stderr, "auctionctl %s: %v\n", apiKeyCommand, err)
		return exitCall
	}
	// The dispatcher's own check of the file, on a file of this one entry.
	if _, err := auth.ParseKeyFile(fmt.Appendf(nil, `{"keys":[%s]}`, line)); err != nil {
		return usageError(stderr, apiKeyCommand, err.Error())
	}
	if !o.stdin {
		fmt.Fprintf(stdout, "# The key: hand it to its user now; only its hash is kept.\nexport %s=%s\n", tokenEnv, key)
	}
	fmt.Fprintf(stdout, "# Its entry, for the \"keys\" list of API_KEYS_FILE:\n%s\n", line)
	return exitOK
}
