package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Results is the JSON file.
type Results struct {
	StartedAt time.Time `json:"startedAt"`
	Seconds   float64   `json:"seconds"`
	Mode      string    `json:"mode"`
	Machine   Machine   `json:"machine"`
	Settings  Settings  `json:"settings"`
	Backends  string    `json:"backends"`
	// Baselines says what each baseline does.
	Baselines map[string]string `json:"baselines"`
	Scenarios []*Scenario       `json:"scenarios"`
	Memory    Memory            `json:"memory"`
	// Overload is the overload scenario's saturation search and summary
	// (its rows are in Scenarios).
	Overload *Overload `json:"overload,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
}

// Machine is what the run ran on.
type Machine struct {
	Cores     int    `json:"cores"`
	MemoryGiB string `json:"memoryGiB"`
	CPU       string `json:"cpu"`
	Go        string `json:"go"`
	OS        string `json:"os"`
}

// Settings echoes the options that shaped the numbers.
type Settings struct {
	Rounds      int `json:"rounds"`
	Concurrency int `json:"concurrency"`
	// ReadConcurrency is the read rounds' requests in flight.
	ReadConcurrency int     `json:"readConcurrency"`
	RunSeconds      float64 `json:"runSeconds"`
	Items           int     `json:"items"`
	IngestItems     int     `json:"ingestItems"`
	Backlog         int     `json:"backlogEvents"`
	FreshRate       float64 `json:"freshWritesPerSecond"`
	FreshReads      float64 `json:"freshReadsPerSecond"`
	// UpsertsPerCommand caps the direct model write's BulkWrites.
	UpsertsPerCommand int `json:"upsertsPerCommand"`
	BatchSize         int `json:"batchSize"`
}

// Scenario is one row of the table: the platform against one baseline.
type Scenario struct {
	Name     string `json:"name"`
	Title    string `json:"title"`
	Metric   string `json:"metric"` // what Ratio compares
	Baseline string `json:"baseline"`
	// Platform and BaselineResult are the medians of the rounds.
	Platform       Sample `json:"platform"`
	BaselineResult Sample `json:"baselineResult"`
	// Ratio is platform/baseline for rates; for freshness it is the target
	// over the measured p99 (at least 1 meets the target).
	Ratio  float64 `json:"ratio"`
	Target float64 `json:"target,omitempty"` // the ratio wanted, 0 when none
	// AtMost makes Target an upper bound of Ratio (a latency ratio)
	// instead of a lower one.
	AtMost bool   `json:"atMost,omitempty"`
	Goal   string `json:"goal"`
	Met    *bool  `json:"met,omitempty"`
	// Rounds are the individual runs, in the order they ran.
	Rounds []Round `json:"rounds"`
}

// Round is one run of one side.
type Round struct {
	Round  int    `json:"round"`
	Side   string `json:"side"` // "baseline" or "platform"
	Sample Sample `json:"sample"`
}

// Memory is the peak resident memory.
type Memory struct {
	// InProcess is this process's VmHWM after each phase: the dev stack
	// runs everything (brokers, database, dispatcher, workers, the load
	// generator) in this one process, so it cannot be split by service.
	InProcess []Phase `json:"inProcess"`
	// Processes holds the peaks of a dispatcher and a worker run as their
	// own processes under load, when measured.
	Processes []Process `json:"processes,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// Phase is the process's peak resident memory after a phase.
type Phase struct {
	After  string  `json:"after"`
	HWMMiB float64 `json:"vmHWMMiB"`
	RSSMiB float64 `json:"vmRSSMiB"`
}

// Process is the peak resident memory of a separate process.
type Process struct {
	Name   string  `json:"name"`
	HWMMiB float64 `json:"vmHWMMiB"`
	Load   string  `json:"load"`
}

// add appends a scenario's row, deciding whether it met its target unless
// the scenario decided already.
func (r *Results) add(s *Scenario) {
	if s.Met == nil && s.Target > 0 {
		met := s.Ratio >= s.Target
		if s.AtMost {
			met = s.Ratio <= s.Target
		}
		s.Met = &met
	}
	r.Scenarios = append(r.Scenarios, s)
}

// finish computes a scenario's medians and ratio from its rounds.
func (s *Scenario) finish() {
	var plat, base []Sample
	for _, r := range s.Rounds {
		if r.Side == "baseline" {
			base = append(base, r.Sample)
		} else {
			plat = append(plat, r.Sample)
		}
	}
	s.Platform, s.BaselineResult = medianSample(plat), medianSample(base)
	if s.BaselineResult.Rate > 0 {
		s.Ratio = s.Platform.Rate / s.BaselineResult.Rate
	}
}

func writeJSON(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func rate(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func describe(s Sample, metric string) string {
	var b strings.Builder
	switch metric {
	case "p99": // overload.p99: the admitted requests' latency
		fmt.Fprintf(&b, "admitted p50 %s ms, p99 %s ms (%d clients)", ms(s.P50), ms(s.P99), s.Clients)
		return b.String()
	case "refusal": // overload.refusal: the refusals and the other errors
		fmt.Fprintf(&b, "%d refused", s.Refusals)
		if s.Refusals > 0 {
			fmt.Fprintf(&b, " (%s), p50 %s ms, p99 %s ms, %d with Retry-After",
				describeErrors(s.RefusalKinds), ms(s.RefusalP50), ms(s.RefusalP99), s.RefusalsWithRetryAfter)
		}
		fmt.Fprintf(&b, "; %d other errors", s.Errors)
		if s.Errors > 0 {
			fmt.Fprintf(&b, ": %s", describeErrors(s.ErrorKinds))
		}
		fmt.Fprintf(&b, " (%d clients)", s.Clients)
		return b.String()
	}
	if metric != "freshness" && metric != "alone" {
		fmt.Fprintf(&b, "%s /s", rate(s.Rate))
	}
	if s.P50 > 0 || s.P99 > 0 {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "p50 %s ms, p99 %s ms", ms(s.P50), ms(s.P99))
	}
	var extra []string
	if s.StartupMs > 0 {
		extra = append(extra, fmt.Sprintf("start-up %s ms not counted", ms(s.StartupMs)))
	}
	if s.BatchDocs > 0 {
		extra = append(extra, fmt.Sprintf("%.0f events per batch write", s.BatchDocs))
	}
	if s.RebalanceMs > 0 {
		extra = append(extra, fmt.Sprintf("last worker assigned %s ms after the first", ms(s.RebalanceMs)))
	}
	if s.Uncommitted > 0 {
		extra = append(extra, fmt.Sprintf("%d events stored but never committed", s.Uncommitted))
	}
	if s.AloneMs > 0 {
		extra = append(extra, fmt.Sprintf("one call alone %s ms", ms(s.AloneMs)))
	}
	if s.Clients > 0 {
		extra = append(extra, fmt.Sprintf("%d clients", s.Clients))
	}
	if s.Refusals > 0 {
		extra = append(extra, fmt.Sprintf("%d refused (%s), refusal p50 %s ms, p99 %s ms, %d with Retry-After",
			s.Refusals, describeErrors(s.RefusalKinds), ms(s.RefusalP50), ms(s.RefusalP99), s.RefusalsWithRetryAfter))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(extra, "; "))
	}
	if s.Errors > 0 {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d errors", s.Errors)
		if s.TransportErrors > 0 {
			fmt.Fprintf(&b, " (%d without an HTTP answer)", s.TransportErrors)
		}
		if len(s.ErrorKinds) > 0 {
			fmt.Fprintf(&b, ": %s", describeErrors(s.ErrorKinds))
		}
	}
	if s.Note != "" {
		fmt.Fprintf(&b, " (%s)", s.Note)
	}
	return b.String()
}

// printTable writes the Markdown report.
func printTable(w io.Writer, r *Results) {
	fmt.Fprintf(w, "Machine: %d cores, %s GiB, %s; %s, %s. Backends: %s. Mode: %s; %d rounds, concurrency %d (reads %d), %.1fs per run, %d items with history on the read path, ingest backlog %d items (%d events), freshness %.0f writes/s with %.0f reads/s.\n\n",
		r.Machine.Cores, r.Machine.MemoryGiB, r.Machine.CPU, r.Machine.Go, r.Machine.OS, r.Backends, r.Mode,
		r.Settings.Rounds, r.Settings.Concurrency, r.Settings.ReadConcurrency, r.Settings.RunSeconds, r.Settings.Items, r.Settings.IngestItems, r.Settings.Backlog,
		r.Settings.FreshRate, r.Settings.FreshReads)
	fmt.Fprintln(w, "| scenario | platform (median) | baseline | baseline (median) | ratio | target | met |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | ---: | --- | --- |")
	for _, s := range r.Scenarios {
		met := "–"
		if s.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*s.Met]
		}
		base := describe(s.BaselineResult, s.Metric)
		if s.Metric == "freshness" || s.Metric == "refusal" {
			base = "–"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f | %s | %s |\n", s.Title, describe(s.Platform, s.Metric), s.Baseline, base, s.Ratio, s.Goal, met)
	}
	fmt.Fprintln(w)
	if r.Overload != nil {
		printOverload(w, r.Overload)
	}
	fmt.Fprintln(w, "Resident memory (VmHWM: the peak so far; VmRSS: at that moment):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measured | peak RSS (VmHWM) | RSS (VmRSS) | under |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
	for _, p := range r.Memory.InProcess {
		fmt.Fprintf(w, "| whole bench process (stack + load) | %.0f MiB | %.0f MiB | after %s |\n", p.HWMMiB, p.RSSMiB, p.After)
	}
	for _, p := range r.Memory.Processes {
		fmt.Fprintf(w, "| %s | %.0f MiB | – | %s |\n", p.Name, p.HWMMiB, p.Load)
	}
	if r.Memory.Note != "" {
		fmt.Fprintf(w, "\n%s\n", r.Memory.Note)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Baselines:")
	fmt.Fprintln(w)
	printed := map[string]bool{}
	for _, s := range r.Scenarios {
		if d, ok := r.Baselines[s.Baseline]; ok && !printed[s.Baseline] {
			printed[s.Baseline] = true
			fmt.Fprintf(w, "- **%s**: %s\n", s.Baseline, d)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
}

// machine describes the host.
func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: "unknown", MemoryGiB: "?"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if kb := procField("/proc/meminfo", "MemTotal"); kb > 0 {
		m.MemoryGiB = strconv.FormatFloat(kb/1024/1024, 'f', 1, 64)
	}
	return m
}

// procField reads a "Name: 123 kB" field of a /proc file, in kB (0 when absent).
func procField(path, name string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n
			}
		}
	}
	return 0
}
