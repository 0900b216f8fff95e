package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/services/devstack/stack"
)

// readmeMarker precedes each README block the README test runs: a ```sh
// fence right after it. Blocks without it (production settings, Docker,
// one-time installs) are documentation only.
const readmeMarker = "<!-- readme-test -->"

// readmeStatusTag is what the curl wrapper of TestReadme appends to curl's
// output, to learn each answer's HTTP status without changing the command.
const readmeStatusTag = "__README_STATUS__"

// readmeStep is one command of a marked README block with what the README
// says about its result.
type readmeStep struct {
	line    int    // README line of the command
	command string // continuation lines joined
	// expected holds the comment lines right after the command (no blank
	// line between): its output as the README shows it.
	expected []string
	exit     int // "# exits N" on the command line; default 0
}

var (
	readmeExitsRE = regexp.MustCompile(`\s#\s.*\bexits (\d+)\b`)
	// readmeStatusRE reads "(HTTP 403)" or a status line "HTTP/1.1 401 …".
	readmeStatusRE = regexp.MustCompile(`\(HTTP (\d{3})\)|^HTTP/[0-9.]+ (\d{3})\b`)
	readmePairRE   = regexp.MustCompile(`"(\w+)":\s*"((?:[^"\\]|\\.)*)"`)
	// readmeReadRE matches the commands that only read: right after a write
	// they may not find what it stored yet, so they are retried.
	readmeReadRE = regexp.MustCompile(`/item/fetch|/GetItem\b|/ListItems\b|auctionctl( -\S+)* (get|list)\b`)
)

// parseReadme returns the commands of the README's marked blocks, in order.
func parseReadme(text string) ([]readmeStep, error) {
	lines := strings.Split(text, "\n")
	var steps []readmeStep
	blocks := 0
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != readmeMarker {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) || strings.TrimSpace(lines[j]) != "```sh" {
			return nil, fmt.Errorf("README line %d: %s is not followed by a ```sh block", i+1, readmeMarker)
		}
		blocks++
		var cur *readmeStep // the last command, while its expected output may follow
		for j++; ; j++ {
			if j == len(lines) {
				return nil, fmt.Errorf("README line %d: the block never ends", i+1)
			}
			line := lines[j]
			trimmed := strings.TrimSpace(line)
			switch {
			case trimmed == "```":
			case trimmed == "":
				cur = nil
				continue
			case strings.HasPrefix(trimmed, "#"):
				if cur != nil {
					cur.expected = append(cur.expected, strings.TrimSpace(strings.TrimPrefix(trimmed, "#")))
				}
				continue
			default:
				step := readmeStep{line: j + 1}
				for strings.HasSuffix(line, `\`) && j+1 < len(lines) {
					step.command += strings.TrimSuffix(line, `\`) + " "
					j++
					line = lines[j]
				}
				step.command += line
				if m := readmeExitsRE.FindStringSubmatch(step.command); m != nil {
					step.exit, _ = strconv.Atoi(m[1])
				}
				steps = append(steps, step)
				cur = &steps[len(steps)-1]
				continue
			}
			i = j
			break
		}
	}
	if blocks == 0 {
		return nil, fmt.Errorf("no block is marked %s", readmeMarker)
	}
	return steps, nil
}

// check compares a run of the step (its combined output without the status
// tags, the HTTP statuses curl saw, its exit code) with what the README says.
func (s readmeStep) check(out string, statuses []int, exit int) error {
	if exit != s.exit {
		return fmt.Errorf("exit status %d, the README expects %d", exit, s.exit)
	}
	want := 0
	lower := strings.ToLower(out)
	for _, e := range s.expected {
		if m := readmeStatusRE.FindStringSubmatch(e); m != nil {
			want, _ = strconv.Atoi(m[1] + m[2])
		}
		if strings.HasPrefix(e, "{") {
			// JSON: each "key":"value" shown whole (no …) must be in the
			// answer; spacing may differ (protojson varies it).
			for _, p := range readmePairRE.FindAllStringSubmatch(e, -1) {
				if strings.Contains(p[2], "…") {
					continue
				}
				if !jsonHasPair(out, p[1], p[2]) {
					return fmt.Errorf("the output lacks %s", p[0])
				}
			}
			continue
		}
		// Text: every piece between the elisions (…) must be in the output.
		text := regexp.MustCompile(`\s*\(HTTP \d{3}\)\s*$`).ReplaceAllString(e, "")
		for _, frag := range strings.Split(text, "…") {
			frag = strings.TrimSpace(frag)
			if frag != "" && !strings.Contains(lower, strings.ToLower(frag)) {
				return fmt.Errorf("the output lacks %q", frag)
			}
		}
	}
	for _, got := range statuses {
		switch {
		case want != 0 && got != want:
			return fmt.Errorf("HTTP status %d, the README shows %d", got, want)
		case want == 0 && got >= 400:
			return fmt.Errorf("HTTP status %d, and the README shows no error", got)
		}
	}
	if want != 0 && len(statuses) == 0 {
		return fmt.Errorf("the README shows HTTP %d, but curl reported no status", want)
	}
	return nil
}

// jsonHasPair reports whether out has the JSON member "key": "value", value
// compared decoded (the README writes <, the server may send \u003c).
func jsonHasPair(out, key, value string) bool {
	var want string
	if err := json.Unmarshal([]byte(`"`+value+`"`), &want); err != nil {
		return false
	}
	re := regexp.MustCompile(`"` + regexp.QuoteMeta(key) + `":\s*("(?:[^"\\]|\\.)*")`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		var got string
		if json.Unmarshal([]byte(m[1]), &got) == nil && got == want {
			return true
		}
	}
	return false
}

// TestReadme runs the shell examples of README.md, in order, against a dev
// stack of their own (random ports, a known API key exported as
// AUCTION_TOKEN), so the README cannot drift from what the platform does:
// every marked block (readmeMarker), each command through bash from the
// repository's root with localhost:8080 and 127.0.0.1:9000 replaced by the
// stack's addresses. Each command must exit as the README says (0 unless it
// says "# exits N"); where the README shows an output, that output (its
// HTTP status, its JSON fields, its text between elisions); any other curl
// answer must not be an error. Reads are retried for a while, as the README
// tells its readers to: writes are stored asynchronously.
func TestReadme(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseReadme(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	// The examples the README must keep runnable: a block losing its marker
	// fails here rather than silently going untested.
	for _, want := range []string{"curl ", "printf ", "grpcurl ", "auctionctl ", "npm run example", "npm test"} {
		found := false
		for _, s := range steps {
			found = found || strings.Contains(s.command, want)
		}
		if !found {
			t.Errorf("no marked README example runs %q", want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, tool := range []string{"bash", "curl", "npm", "npx", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's examples need %s on PATH (see README \"The two commands\"): %v", tool, err)
		}
	}

	const key = "ak_readme-test-0123456789abcdefghijklmnop"
	// The feeder runs every second, so the README's "sleep 6" after a
	// fraud-list change leaves it several passes.
	s := startStackWith(t, stack.Config{Workers: 2, FeedInterval: time.Second, APIKey: envconfig.Secret(key)})
	hostport := strings.TrimPrefix(s.URL(), "http://")
	s3 := s.S3Endpoint()
	replacer := strings.NewReplacer(
		"http://127.0.0.1:8080", s.URL(),
		"127.0.0.1:8080", hostport,
		"localhost:8080", hostport,
		"http://127.0.0.1:9000", s3,
		"127.0.0.1:9000", strings.TrimPrefix(s3, "http://"),
		"ak_…", key,
	)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir() // GOBIN: go install puts grpcurl and auctionctl here
	env := []string{"AUCTION_TOKEN=" + key, "GOBIN=" + bin, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "GOTOOLCHAIN=auto"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "AUCTION_TOKEN", "AUCTION_URL", "GOBIN", "PATH", "GOTOOLCHAIN":
		default:
			env = append(env, kv)
		}
	}
	// curl reports each answer's status after its output; auctionctl's
	// default -addr is the README's address, so it gets the stack's.
	prelude := "set -o pipefail\n" +
		"curl() { command curl -w '\\n" + readmeStatusTag + " %{http_code}\\n' \"$@\"; }\n" +
		"auctionctl() { command auctionctl -addr '" + s.URL() + "' \"$@\"; }\n"
	statusRE := regexp.MustCompile(`(?m)^` + readmeStatusTag + ` (\d{3})\n?`)

	for _, step := range steps {
		command := replacer.Replace(step.command)
		run := func() (string, []int, int) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", prelude+command)
			cmd.Dir, cmd.Env = root, env
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			exit := 0
			if err != nil {
				exit = -1
				if ee, ok := err.(*exec.ExitError); ok {
					exit = ee.ExitCode()
				}
			}
			var statuses []int
			for _, m := range statusRE.FindAllStringSubmatch(out.String(), -1) {
				code, _ := strconv.Atoi(m[1])
				statuses = append(statuses, code)
			}
			return statusRE.ReplaceAllString(out.String(), ""), statuses, exit
		}
		start := time.Now()
		out, statuses, exit := run()
		err := step.check(out, statuses, exit)
		if readmeReadRE.MatchString(step.command) {
			for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				out, statuses, exit = run()
				err = step.check(out, statuses, exit)
			}
		}
		if err != nil {
			t.Fatalf("README line %d: %s\n%v\noutput:\n%s", step.line, step.command, err, out)
		}
		t.Logf("README line %d (%s): %s", step.line, time.Since(start).Round(time.Millisecond), step.command)
	}
}

// TestReadmeParse checks the README test's reading of a block: markers,
// continuation lines, expected output right after a command only, "# exits
// N", and that a mismatch in status, JSON field, text or exit code fails.
func TestReadmeParse(t *testing.T) {
	text := "```sh\nnot run\n```\n" + readmeMarker + "\n```sh\n" +
		"# a description\n" +
		"curl -s a \\\n  b\n" +
		"# {\"code\":\"permission_denied\",\"id\":\"01a2…\"}   (HTTP 403)\n" +
		"\n# another description\n" +
		"tool -x            # exits 1\n" +
		"# tool: failed … see the manual\n" +
		"```\n"
	steps, err := parseReadme(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 {
		t.Fatalf("got %d steps, want 2: %+v", len(steps), steps)
	}
	if got, want := steps[0].command, "curl -s a    b"; got != want {
		t.Errorf("command %q, want %q", got, want)
	}
	if len(steps[0].expected) != 1 || steps[1].exit != 1 || steps[0].exit != 0 {
		t.Errorf("steps %+v", steps)
	}
	ok := `{"code": "permission_denied", "id": "x"}`
	for _, c := range []struct {
		step     readmeStep
		out      string
		statuses []int
		exit     int
		pass     bool
	}{
		{steps[0], ok, []int{403}, 0, true},
		{steps[0], ok, []int{200}, 0, false},
		{steps[0], ok, nil, 0, false},
		{steps[0], `{"code":"not_found"}`, []int{403}, 0, false},
		{steps[0], ok, []int{403}, 7, false},
		{steps[1], "Tool: FAILED, please see the manual", nil, 1, true},
		{steps[1], "tool: failed", nil, 1, false},
		{steps[1], "tool: failed … see the manual", nil, 0, false},
		{readmeStep{}, "", []int{200, 202}, 0, true},
		{readmeStep{}, "", []int{404}, 0, false},
	} {
		if err := c.step.check(c.out, c.statuses, c.exit); (err == nil) != c.pass {
			t.Errorf("check(%q, %v, %d) = %v, want pass %v", c.out, c.statuses, c.exit, err, c.pass)
		}
	}
	if _, err := parseReadme("no marker"); err == nil {
		t.Error("a README without a marked block was accepted")
	}
	if _, err := parseReadme(readmeMarker + "\n```ts\nx\n```\n"); err == nil {
		t.Error("a marker before a non-sh block was accepted")
	}
}
