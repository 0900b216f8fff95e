package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickRun runs the harness in quick mode on the embedded stack and
// checks the JSON it writes: every scenario is there with a ratio and its
// rounds, and the memory section is filled. It asserts no timing.
func TestQuickRun(t *testing.T) {
	// The embedded backends only: a developer's KAFKA_BROKERS, MONGO_URI or
	// REDIS_URL must not send the test's load elsewhere.
	for _, v := range []string{"KAFKA_BROKERS", "MONGO_URI", "REDIS_URL"} {
		t.Setenv(v, "")
	}
	out := filepath.Join(t.TempDir(), "results.json")
	// A deployment name other than the default: the harness must follow it
	// in the topics it fills and the groups it positions and watches.
	// -timeout: quick mode takes about 80 s alone, but CI runs it under the
	// race detector beside every other package (e2e included), where it took
	// 240 s, at the quick default's 4 minutes; the package's own go test
	// timeout (20 minutes) stays the outer bound.
	o, err := parseOptions([]string{"-quick", "-out", out, "-cluster-name", "bench-quick", "-timeout", "12m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterName.String() != "bench-quick" {
		t.Fatalf("-cluster-name: %q", o.ClusterName)
	}
	if _, err := parseOptions([]string{"-cluster-name", "Bad_Name"}, io.Discard); err == nil {
		t.Error("-cluster-name Bad_Name accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	var log io.Writer = io.Discard
	if testing.Verbose() {
		log = os.Stderr
		o.Verbose = true
	}
	if _, err := run(ctx, o, log); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res quickResults
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("results are not JSON: %v", err)
	}
	if res.Mode != "quick" {
		t.Errorf("mode %q, want quick", res.Mode)
	}
	checkScenarios(t, res)
	checkOverload(t, res)
	if len(res.Memory.InProcess) == 0 || res.Memory.InProcess[len(res.Memory.InProcess)-1].HWMMiB <= 0 {
		t.Errorf("no peak memory recorded: %+v", res.Memory)
	}
}

// quickResults is what TestQuickRun reads of the JSON results.
type quickResults struct {
	Mode      string
	Scenarios []struct {
		Name   string
		Ratio  *float64
		Rounds []struct {
			Side   string
			Sample struct {
				Rate            *float64
				N               int
				Errors          int
				Clients         int
				TransportErrors int `json:"transportErrors"`
			}
		}
	}
	Overload *struct {
		Steps []struct {
			Concurrency int
			Sample      struct {
				Rate            *float64
				TransportErrors int `json:"transportErrors"`
			}
		}
		Saturating int `json:"saturatingConcurrency"`
		Clients    int
		Targets    []struct {
			Name  string
			Value *float64
			Met   *bool
		}
	}
	Memory struct {
		InProcess []struct {
			HWMMiB float64 `json:"vmHWMMiB"`
		}
	}
}

// checkScenarios checks that every scenario is in the results with a ratio
// and at least 3 rounds of each side, and that no overload round had a
// request without an HTTP answer.
func checkScenarios(t *testing.T, res quickResults) {
	t.Helper()
	want := []string{"ingest.1w", "ingest.2w", "ingest.1w.insert", "ingest.2w.insert", "read.alone", "read.query", "read.rpc", "read.relay",
		"read.hop.query", "read.hop.rpc", "read.hop.relay", "list.name", "list.category", "list.state",
		"write.rest", "write.connect", "write.auth", "freshness.light", "freshness", "overload.goodput", "overload.p99", "overload.refusal"}
	got := map[string]bool{}
	for _, s := range res.Scenarios {
		got[s.Name] = true
		if s.Ratio == nil {
			t.Errorf("%s has no ratio", s.Name)
		}
		sides := map[string]int{}
		for _, r := range s.Rounds {
			sides[r.Side]++
		}
		if sides["platform"] < 3 || (!strings.HasPrefix(s.Name, "freshness") && sides["baseline"] < 3) {
			t.Errorf("%s: rounds %v, want at least 3 of each side", s.Name, sides)
		}
		// The platform side authenticates every request with the stack's
		// key, the baseline runs without authentication: a refused key
		// would show as errors here.
		if s.Name == "write.auth" {
			for _, r := range s.Rounds {
				if r.Sample.N == 0 || r.Sample.Errors > 0 {
					t.Errorf("%s: a %s round with %d successes and %d errors", s.Name, r.Side, r.Sample.N, r.Sample.Errors)
				}
			}
		}
		if strings.HasPrefix(s.Name, "overload.") {
			for _, r := range s.Rounds {
				if r.Sample.Rate == nil || r.Sample.Clients < 1 {
					t.Errorf("%s: a %s round without goodput or clients: %+v", s.Name, r.Side, r.Sample)
				}
				// No answer at all (connection refused or reset) is a
				// fault at any load; slowness is not asserted here.
				if r.Sample.TransportErrors > 0 {
					t.Errorf("%s: %d requests of a %s round got no HTTP answer", s.Name, r.Sample.TransportErrors, r.Side)
				}
			}
		}
	}
	for _, name := range want {
		if !got[name] {
			t.Errorf("scenario %s is missing from the results", name)
		}
	}
}

// checkOverload checks the overload section: a saturation search of at
// least two steps with goodputs, and three targets with values and verdicts.
func checkOverload(t *testing.T, res quickResults) {
	t.Helper()
	ov := res.Overload
	if ov == nil {
		t.Error("no overload section in the results")
		return
	}
	if len(ov.Steps) < 2 || ov.Saturating < 1 || ov.Clients < ov.Saturating {
		t.Errorf("overload: %d search steps, saturating concurrency %d, %d clients", len(ov.Steps), ov.Saturating, ov.Clients)
	}
	for _, st := range ov.Steps {
		if st.Concurrency < 1 || st.Sample.Rate == nil || st.Sample.TransportErrors > 0 {
			t.Errorf("overload search step %+v: want a concurrency, a goodput and no request without an HTTP answer", st)
		}
	}
	if len(ov.Targets) != 3 {
		t.Errorf("overload: %d targets, want 3", len(ov.Targets))
	}
	for _, tg := range ov.Targets {
		if tg.Value == nil || tg.Met == nil {
			t.Errorf("overload target %q without a value or a verdict", tg.Name)
		}
	}
}
