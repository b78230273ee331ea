// Command callkit-bench is the load and benchmark harness behind `make bench`
// (scripts/bench.sh runs it):
//
//	callkit-bench bare -addr 127.0.0.1:0          the baseline server (same ack, no work)
//	callkit-bench webhook -addr … -data DIR        the webhook alone over the durable queue
//	callkit-bench load -local BIN -work DIR -out FILE
//	                                              webhook and query load, local vs bare
//	callkit-bench report -dir DIR -md FILE -json FILE
//	                                              results file from the collected figures
//
// It only parses flags; the logic is in internal/loadtest, internal/awscost and
// internal/benchreport.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/callkit-records/callkit-records/internal/awscost"
	"github.com/callkit-records/callkit-records/internal/benchreport"
	"github.com/callkit-records/callkit-records/internal/loadtest"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "bare":
		err = bare(ctx, os.Args[2:])
	case "webhook":
		err = webhook(ctx, os.Args[2:])
	case "load":
		err = load(ctx, os.Args[2:])
	case "report":
		err = report(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("callkit-bench "+os.Args[1]+" failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: callkit-bench bare|webhook|load|report [flags] (-h for each)")
	os.Exit(2)
}

func bare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (127.0.0.1 only)")
	_ = fs.Parse(args)
	return loadtest.ServeBare(ctx, *addr, os.Stdout)
}

func webhook(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("webhook", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (127.0.0.1 only)")
	data := fs.String("data", "", "data directory (required)")
	_ = fs.Parse(args)
	if *data == "" {
		return fmt.Errorf("-data is required")
	}
	return loadtest.ServeWebhook(ctx, *addr, *data, os.Stdout, os.Stderr)
}

func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	var cfg loadtest.SuiteConfig
	fs.StringVar(&cfg.LocalBinary, "local", "", "the built cmd/callkit-local binary (required)")
	fs.StringVar(&cfg.WorkDir, "work", ".bench/load", "directory for the data directory and server logs")
	out := fs.String("out", "", "write the figures as JSON here (required)")
	fs.IntVar(&cfg.Workers, "workers", 64, "concurrent webhook requests in the throughput runs")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "length of each throughput run")
	fs.IntVar(&cfg.PerRun, "per-run", 60000, "distinct callbacks available to each run (the count bound)")
	fs.IntVar(&cfg.Pairs, "pairs", 2, "A/B pairs of each comparison")
	fs.IntVar(&cfg.FixedRate, "rate", 1000, "callbacks/s of the open-loop latency runs")
	fs.DurationVar(&cfg.FixedDur, "rate-duration", 3*time.Second, "length of each open-loop run")
	fs.IntVar(&cfg.QueryRate, "query-rate", 50, "queries/s of the query runs")
	fs.DurationVar(&cfg.QueryDur, "query-duration", 8*time.Second, "length of each query run")
	fs.Float64Var(&cfg.QueryIngestShare, "query-ingest-share", 0.25, "webhook load beside the queries, as a share of the local server's measured throughput")
	_ = fs.Parse(args)
	if cfg.LocalBinary == "" || *out == "" {
		return fmt.Errorf("-local and -out are required")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Self = []string{self}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return err
	}
	cfg.Log = func(s string) { fmt.Fprintln(os.Stderr, s) }
	res, err := loadtest.RunSuite(ctx, cfg)
	if res.Durability.Acked > 0 || err == nil {
		b, merr := json.MarshalIndent(res, "", "  ")
		if merr != nil {
			return merr
		}
		if werr := os.WriteFile(*out, append(b, '\n'), 0o644); werr != nil {
			return werr
		}
	}
	return err
}

func report(args []string) error {
	fl := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fl.String("dir", ".bench/run", "directory holding load.json, cost.json and the *.txt benchmark outputs")
	md := fl.String("md", "bench/results.md", "Markdown results file")
	js := fl.String("json", "bench/results.json", "JSON results file")
	command := fl.String("command", "make bench", "the command that produced the results")
	started := fl.Int64("started", 0, "Unix time the run started")
	loadStart := fl.String("loadavg-start", "", "load average when the run started")
	lambdaNote := fl.String("lambda-note", "", "why the Lambda benchmarks did not run, when they did not")
	_ = fl.Parse(args)

	in := benchreport.Inputs{Command: *command, Started: time.Unix(*started, 0), Finished: time.Now(), LoadAvgStart: *loadStart, LambdaNote: *lambdaNote}
	if *started == 0 {
		in.Started = in.Finished
	}
	var load loadtest.SuiteResult
	if ok, err := readJSON(filepath.Join(*dir, "load.json"), &load); err != nil {
		return err
	} else if ok {
		in.Load = &load
	}
	var cost awscost.Measured
	if ok, err := readJSON(filepath.Join(*dir, "cost.json"), &cost); err != nil {
		return err
	} else if ok {
		in.Cost = &cost
	}
	for _, f := range []struct {
		name string
		dst  *[]benchreport.Bench
	}{{"query1m.txt", &in.Query1M}, {"lambda.txt", &in.Lambda}, {"micro.txt", &in.Micro}} {
		b, err := os.ReadFile(filepath.Join(*dir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if *f.dst, err = benchreport.ParseBench(bytes.NewReader(b)); err != nil {
			return err
		}
	}
	r := benchreport.Build(in)
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*js, append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(*md, []byte(benchreport.Markdown(r)), 0o644)
}

// readJSON decodes path into v; false when the file does not exist.
func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}
