// Command callkit-local runs the whole service in one process on an embedded store:
// `make run`. It only wires flags and signals; the logic is in shared/localserver.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
)

func main() {
	addr := flag.String("addr", envOr("CALLKIT_ADDR", localserver.DefaultAddr), "listen address (CALLKIT_ADDR)")
	data := flag.String("data", envOr("CALLKIT_DATA_DIR", localserver.DefaultData), "data directory (CALLKIT_DATA_DIR)")
	flag.Parse()

	cfg, err := config.FromEnv(os.Getenv)
	log := logging.New(os.Stderr, cfg.LogLevel, "local")
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid configuration:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = localserver.Run(ctx, localserver.Options{Addr: *addr, DataDir: *data, Config: cfg, Log: log, Banner: os.Stdout})
	if err != nil {
		log.Error("local server failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
