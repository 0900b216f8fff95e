// Command bench benchmarks the auction platform against minimal baselines
// over loopback, bounded in count and time, and reports medians and ratios as
// a Markdown table and a JSON file. `go run ./cmd/bench -help`; see
// BENCHMARKS.md.
package main

import "os"

func main() { os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr)) }
