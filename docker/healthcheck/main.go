// Command healthcheck is the containers' health probe (docker/compose.yaml):
// the runtime image has no curl or wget, so this small static binary is built
// beside each service. It asks one URL and exits 0 when the answer is 2xx
// (and contains -expect, when given), 1 otherwise, saying why on stderr.
//
//	healthcheck http://127.0.0.1:8080/healthz
//	healthcheck -post '{}' -expect SERVING http://127.0.0.1:9101/grpc.health.v1.Health/Check
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	post := fs.String("post", "", "send this JSON body with POST instead of a GET")
	expect := fs.String("expect", "", "text the answer's body must contain")
	timeout := fs.Duration("timeout", 3*time.Second, "time allowed for the whole check")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: healthcheck [-post JSON] [-expect TEXT] [-timeout D] URL")
		return 2
	}
	if err := check(fs.Arg(0), *post, *expect, *timeout); err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	return 0
}

func check(url, post, expect string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	method, body := http.MethodGet, io.Reader(nil)
	if post != "" {
		method, body = http.MethodPost, strings.NewReader(post)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if post != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s %s: status %d: %s", method, url, res.StatusCode, strings.TrimSpace(string(got)))
	}
	if expect != "" && !strings.Contains(string(got), expect) {
		return fmt.Errorf("%s %s: the answer does not contain %q: %s", method, url, expect, strings.TrimSpace(string(got)))
	}
	return nil
}
