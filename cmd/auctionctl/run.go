package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/pawnshop/auction/gen/go/auction/v1/auctionv1connect"
	"google.golang.org/protobuf/encoding/protojson"
)

// Exit statuses of run, so that scripts can tell a refused call from a typo.
const (
	exitOK    = 0
	exitCall  = 1
	exitUsage = 2
)

// globalOptions are the flags that come before the command: where the
// dispatcher is and how to talk to it.
type globalOptions struct {
	addr     string
	protocol string
	timeout  time.Duration
	// token is the credential sent on every call; -token, else $AUCTION_TOKEN.
	token string
}

// tokenEnv names the environment variable that holds the credential when
// -token is not given: the dev stack's banner prints it ready to paste.
const tokenEnv = "AUCTION_TOKEN"

// globalFlags defines the global flags on fs; usage and run share it so that
// the help shows exactly the flags that are parsed.
func globalFlags(fs *flag.FlagSet, o *globalOptions) {
	fs.StringVar(&o.addr, "addr", "http://127.0.0.1:8080", "dispatcher base `URL`")
	fs.StringVar(&o.protocol, "protocol", "connect", "wire `protocol`: connect, grpc or grpcweb")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the call")
	// No default shown: the help must not print a secret taken from the environment.
	fs.StringVar(&o.token, "token", "", "`credential` (API key or OIDC token) sent as \"Authorization: Bearer\"; default $"+tokenEnv)
}

// run is the whole command line: it parses args, makes one call and prints
// the answer to stdout or the error to stderr, and returns the exit status.
// It is separate from main so that tests can drive it end to end.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, os.Getenv, stdout, stderr)
}

// runEnv is run with the environment given by getenv, so that tests set
// AUCTION_TOKEN without touching the process's environment.
func runEnv(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o globalOptions
	fs := flag.NewFlagSet("auctionctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	globalFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		return usageError(stderr, "", "")
	}
	if o.token == "" {
		o.token = getenv(tokenEnv)
	}
	args = fs.Args()
	if len(args) == 0 {
		return usageError(stderr, "", "a command is required")
	}
	name, args := args[0], args[1:]
	if name == "help" {
		return help(stdout, stderr, args)
	}
	if name == apiKeyCommand {
		return apiKey(stdout, stderr, args)
	}
	cmd, ok := lookup(name)
	if !ok {
		return usageError(stderr, "", fmt.Sprintf("unknown command %q", name))
	}
	cfs := cmd.flagSet(stderr)
	call := cmd.bind(cfs)
	if err := cfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.usage(stdout)
			return exitOK
		}
		return usageError(stderr, cmd.name, "")
	}
	client, err := newClient(o)
	if err != nil {
		return usageError(stderr, "", err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := call(ctx, client, cfs.Args())
	if err != nil {
		var ue usageErr
		if errors.As(err, &ue) {
			return usageError(stderr, cmd.name, ue.msg)
		}
		printError(stderr, cmd.name, err, o.token != "")
		return exitCall
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "auctionctl: %s: print the response: %v\n", cmd.name, err)
		return exitCall
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return exitOK
}

// help answers `auctionctl help [COMMAND]`.
func help(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	if args[0] == apiKeyCommand {
		apiKeyUsage(stdout)
		return exitOK
	}
	cmd, ok := lookup(args[0])
	if !ok {
		return usageError(stderr, "", fmt.Sprintf("unknown command %q", args[0]))
	}
	cmd.usage(stdout)
	return exitOK
}

// usageError prints msg (the flag package has already printed its own
// message when msg is empty) and where to find help, and returns exitUsage.
func usageError(stderr io.Writer, cmd, msg string) int {
	if msg != "" {
		prefix := "auctionctl"
		if cmd != "" {
			prefix += " " + cmd
		}
		fmt.Fprintf(stderr, "%s: %s\n", prefix, msg)
	}
	if cmd != "" {
		fmt.Fprintf(stderr, "Run 'auctionctl %s -help' for its flags.\n", cmd)
	} else {
		fmt.Fprintln(stderr, "Run 'auctionctl -help' for the commands and their flags.")
	}
	return exitUsage
}

// newClient builds the generated Connect client for the chosen address and
// protocol. gRPC needs HTTP/2, which over plain http:// means h2c (prior
// knowledge), as the dispatcher serves it.
func newClient(o globalOptions) (auctionv1connect.AuctionServiceClient, error) {
	u, err := url.Parse(o.addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-addr %q: want a base URL such as http://127.0.0.1:8080", o.addr)
	}
	var opt connect.ClientOption
	h2c := false
	switch strings.ToLower(o.protocol) {
	case "connect":
		opt = connect.WithProtoJSON()
	case "grpc":
		opt, h2c = connect.WithGRPC(), u.Scheme == "http"
	case "grpcweb", "grpc-web":
		opt = connect.WithGRPCWeb()
	default:
		return nil, fmt.Errorf("-protocol %q: want connect, grpc or grpcweb", o.protocol)
	}
	httpClient := http.DefaultClient
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		httpClient = &http.Client{Transport: &http.Transport{Protocols: &p}}
	}
	opts := []connect.ClientOption{opt}
	if o.token != "" {
		bearer, err := bearerHeader(o.token)
		if err != nil {
			return nil, err
		}
		opts = append(opts, connect.WithInterceptors(credential(bearer)))
	}
	return auctionv1connect.NewAuctionServiceClient(httpClient, strings.TrimSuffix(o.addr, "/"), opts...), nil
}

// bearerHeader is the Authorization header value for token: "Bearer " and
// the token, trimmed of the whitespace a paste brings along. A token that
// already starts with "Bearer " is taken as the whole header value.
func bearerHeader(token string) (string, error) {
	token = strings.TrimSpace(token)
	if scheme, rest, _ := strings.Cut(token, " "); strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	if token == "" || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("-token or $%s: the credential must be one word without spaces or control characters", tokenEnv)
	}
	return "Bearer " + token, nil
}

// credential is the interceptor that sends the Authorization header on
// every call, whatever the protocol (Connect, gRPC and gRPC-Web all carry
// it as a request header).
func credential(bearer string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", bearer)
			return next(ctx, req)
		}
	}
}
