package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/callkit-records/callkit-records/shared/localserver"
)

// AckBody is the webhook's acknowledgement of an accepted v1 callback, byte for byte
// (DESIGN §4). The harness requires exactly this answer from both servers.
var AckBody = []byte(`{"ErrorCode":0,"ErrorMessage":"Success"}`)

// BareHandler is the baseline: the cheapest correct-looking webhook, which reads the
// body and answers the acknowledgement without validating, queueing or logging anything.
func BareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(AckBody)
	})
}

// ServeBare serves BareHandler on addr (127.0.0.1 only) with the local server's
// http.Server settings, announces "listening on http://ADDR" on announce, and stops
// when ctx ends.
func ServeBare(ctx context.Context, addr string, announce io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return fmt.Errorf("bare server: address %q must be on 127.0.0.1", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveUntil(ctx, ln, localserver.HTTPServer(BareHandler(), slog.Default()), announce, 5*time.Second)
}

// serveUntil serves srv on ln, announces it, and shuts it down gracefully when ctx ends.
func serveUntil(ctx context.Context, ln net.Listener, srv *http.Server, announce io.Writer, grace time.Duration) error {
	fmt.Fprintf(announce, "listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
