// Package localserver is the all-in-one local process: the webhook, the persister and
// the query API over an embedded durable queue and an embedded store, on one port.
package localserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

// Demo settings used when CALLKIT_SDKAPPIDS is not set, so `make run` works out of the box.
const (
	DemoSDKAppID = 1400000001
	DemoKey      = "callkit-records-local-demo-key-not-for-production"
	DefaultAddr  = "127.0.0.1:3000"
	DefaultData  = ".data"
)

// Options configure a server.
type Options struct {
	Addr    string        // listen address; DefaultAddr when empty
	DataDir string        // DefaultData when empty
	Config  config.Config // from the environment; demo app and key filled in when empty
	Log     *slog.Logger
	Banner  io.Writer         // where the start-up banner goes (nil: none)
	Queue   boltqueue.Options // retries and dead-lettering of the embedded queue
}

// Server is a running local server.
type Server struct {
	opts     Options
	ln       net.Listener
	http     *http.Server
	admin    *http.Server // the admin socket's (nil when it could not be created)
	queue    *boltqueue.Queue
	store    *boltstore.Store
	consumer *Consumer
	query    *query.Handler
	done     chan error
	demo     bool
}

// WithDemoDefaults fills in the demo app id and key when none are configured, and the
// default admin when a caller built the Config by hand rather than with FromEnv.
func WithDemoDefaults(c config.Config) (config.Config, bool) {
	if len(c.Admins) == 0 {
		c.Admins = []string{config.DefaultAdmin}
	}
	if len(c.SDKAppIDs) > 0 {
		return c, false
	}
	c.SDKAppIDs = []uint64{DemoSDKAppID}
	if len(c.SecretKeys) == 0 {
		c.SecretKeys = map[uint64]string{DemoSDKAppID: DemoKey}
	}
	return c, true
}

// HTTPServer is the local server's http.Server around h: bounded reads and headers, idle
// connections kept for Tencent's retries. The benchmark servers use it too, so they differ
// from the local server only in their handler.
func HTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Start opens the data directory, binds the listener and starts serving.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.DataDir == "" {
		opts.DataDir = DefaultData
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var demo bool
	opts.Config, demo = WithDemoDefaults(opts.Config)
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	q, err := boltqueue.Open(QueuePath(opts.DataDir), opts.Queue)
	if err != nil {
		return nil, err
	}
	st, err := boltstore.Open(filepath.Join(opts.DataDir, RecordsFile), boltstore.Options{RetentionDays: opts.Config.RetentionDays})
	if err != nil {
		_ = q.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		_ = q.Close()
		_ = st.Close()
		return nil, fmt.Errorf("listen %s: %w", opts.Addr, err)
	}
	s := &Server{opts: opts, ln: ln, queue: q, store: st, done: make(chan error, 1), demo: demo}
	// One store commit per received batch: the chunking that lets a Lambda stop before its
	// deadline only multiplies commits here.
	s.consumer = &Consumer{Queue: q, Handler: persist.New(st, nil, opts.Log, persist.Options{ChunkCalls: consumerBatch}), Log: opts.Log, BatchSize: consumerBatch}
	s.consumer.Start()
	s.startAdmin()

	webhook := ingest.New(ingest.ConfigFrom(opts.Config), q, opts.Log)
	s.query = query.New(st, auth.NewVerifier(opts.Config.SecretKeys, opts.Config.Admins, nil), ratelimit.New(opts.Config.QueryRPS), opts.Log, nil)
	mux := http.NewServeMux()
	mux.Handle(ingest.Route, webhook)
	// Everything under /callback/ is the webhook's, so a malformed token path gets
	// Tencent's answer shape (403, path token) rather than the query API's 404.
	mux.Handle(ingest.Route+"/", webhook)
	mux.Handle("/", s.query)

	s.http = HTTPServer(mux, opts.Log)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	if opts.Banner != nil {
		s.printBanner(opts.Banner)
	}
	opts.Log.Info("local server started", slog.String("addr", s.Addr()), slog.String("dataDir", opts.DataDir), slog.Bool("demo", demo))
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Queue exposes the embedded queue (DLQ tooling and tests).
func (s *Server) Queue() *boltqueue.Queue { return s.queue }

// Store exposes the embedded store (tests, tools).
func (s *Server) Store() *boltstore.Store { return s.store }

// Done reports the serve loop's end.
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops accepting requests, lets in-flight ones finish, lets the consumer finish
// its batches, then closes the queue (committing pending operations) and the store.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	aerr := s.stopAdmin(ctx)
	s.consumer.Stop()
	return errors.Join(err, aerr, s.queue.Close(), s.store.Close())
}

// Run starts the server and blocks until ctx is cancelled (SIGTERM), then shuts down.
func Run(ctx context.Context, opts Options) error {
	s, err := Start(opts)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-s.done:
		if err != nil {
			_ = s.Shutdown(context.Background())
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

func (s *Server) printBanner(w io.Writer) {
	base := "http://" + s.Addr()
	app := s.opts.Config.SDKAppIDs[0]
	fmt.Fprintf(w, "callkit-records local server on %s (data in %s)\n", base, s.opts.DataDir)
	if s.demo {
		fmt.Fprintf(w, "demo mode: sdkappid %d, secret key %q (set CALLKIT_SDKAPPIDS and CALLKIT_SECRET_KEY for your own app)\n", app, DemoKey)
	}
	token := ""
	if s.opts.Config.PathToken != "" {
		token = "/<CALLKIT_PATH_TOKEN>"
	}
	fmt.Fprintf(w, "\nsend a callback:\n  curl -s -X POST '%s%s%s?sdkappid=%d&command=caller_start_call&contenttype=json&clientip=127.0.0.1&optplatform=iOS' \\\n"+
		"    -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"UserId\":\"alice\",\"RoomId\":\"room-1\",\"TotalNum\":2,\"MediaType\":\"video\",\"CallType\":\"single\",\"CallId\":\"demo-call-1\",\"Role\":\"caller\",\"Event\":\"start_call\",\"CallResult\":\"\",\"EventTime\":%d}'\n",
		base, ingest.Route, token, app, time.Now().Unix())
	admin := s.opts.Config.Admins[0]
	if key := s.opts.Config.SecretKeys[app]; key != "" {
		sig, err := tencentyun.GenUserSig(int(app), key, admin, 86400)
		if err == nil {
			auth := fmt.Sprintf("sdkappid=%d&identifier=%s&usersig=%s&random=%d&contenttype=json", app, admin, sig, time.Now().UnixNano()%4294967296)
			fmt.Fprintf(w, "\nquery it (UserSig of %q, valid 24 h):\n  curl -s '%s/v1/calls/demo-call-1?include=events&%s'\n"+
				"  curl -s -X POST '%s/v1/records/get_records_by_filter?%s' -d '{\"startTimestamp\":%d}'\n",
				admin, base, auth, base, auth, time.Now().Add(-24*time.Hour).Unix())
		}
	}
}
