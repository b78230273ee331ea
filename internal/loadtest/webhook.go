package loadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// ServeWebhook serves the webhook alone — the real ingest handler over the real embedded
// queue (fsynced group commit), with no persister and no query API — so the harness can
// separate the cost of a durable acknowledgement from the persister's work that shares
// the local server's CPU. Configuration comes from the environment, as for the local
// server; logs go to logOut as JSON.
func ServeWebhook(ctx context.Context, addr, dataDir string, announce, logOut io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("webhook server: address %q must be on 127.0.0.1", addr)
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	log := logging.New(logOut, cfg.LogLevel, "webhook")
	mux, q, err := webhookMux(cfg, dataDir, log)
	if err != nil {
		return err
	}
	defer q.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveUntil(ctx, ln, localserver.HTTPServer(mux, log), announce, 10*time.Second)
}

// webhookMux wires the webhook over a new embedded queue in dataDir, as the local
// server does.
func webhookMux(cfg config.Config, dataDir string, log *slog.Logger) (*http.ServeMux, *boltqueue.Queue, error) {
	cfg, _ = localserver.WithDemoDefaults(cfg)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	q, err := boltqueue.Open(filepath.Join(dataDir, "queue.db"), boltqueue.Options{})
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(ingest.Route, ingest.New(ingest.ConfigFrom(cfg), q, log))
	return mux, q, nil
}
