// Package dlqsock carries dead-letter operations over a Unix socket: the local server
// holds an exclusive lock on its queue file while it runs, so the CLI asks the server
// instead. The socket lives in the server's data directory with mode 0600 — only the
// user who runs the server can connect — and speaks HTTP/JSON on routes that exist only
// there (the TCP port serves exactly the webhook and the query API).
//
//	GET  /v1/ping
//	GET  /v1/dlq?max=N          → dlq.Page
//	POST /v1/dlq/redrive        dlq.Selection → {"outcomes":[dlq.Outcome…]}
//
// Errors are {"error":{"code","message"}}: bad_request (400, the message says what),
// unavailable (503), not_found (404).
package dlqsock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/callkit-records/callkit-records/shared/dlq"
)

// ErrNoServer: nothing listens on the socket (the server is stopped; a stale file).
var ErrNoServer = errors.New("dlqsock: no server on the admin socket")

// ErrInUse: a live server already listens on the socket.
var ErrInUse = errors.New("dlqsock: admin socket in use")

const maxRequestBytes = 64 << 10

// --- server ---------------------------------------------------------------------------

// Listen creates the socket at path, readable and writable by the owner only. A socket
// file nobody answers on is left over from a killed server and is replaced; any other
// file at path is an error, never deleted.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("dlqsock: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("dlqsock: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("dlqsock: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("dlqsock: chmod: %w", err)
	}
	return ln, nil
}

// Handler serves q.
func Handler(q dlq.Queue, log *slog.Logger) http.Handler {
	h := &handler{q: q, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) })
	mux.HandleFunc("GET /v1/dlq", h.list)
	mux.HandleFunc("POST /v1/dlq/redrive", h.redrive)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such admin route")
	})
	return mux
}

// NewServer returns an http.Server for Handler with bounded timeouts (a redrive of
// dlq.MaxMax messages commits one by one, so writes get a minute).
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

type handler struct {
	q   dlq.Queue
	log *slog.Logger
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type redriveBody struct {
	Outcomes []dlq.Outcome `json:"outcomes"`
	Error    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	max := 0
	if s := r.URL.Query().Get("max"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > dlq.MaxMax {
			writeError(w, http.StatusBadRequest, "bad_request", "max must be an integer between 1 and 1000")
			return
		}
		max = n
	}
	p, err := h.q.List(r.Context(), max)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *handler) redrive(w http.ResponseWriter, r *http.Request) {
	var sel dlq.Selection
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "body must be a JSON selection {ids|all, max}")
		return
	}
	if err := sel.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", strings.TrimPrefix(err.Error(), dlq.ErrBadRequest.Error()+": "))
		return
	}
	outs, err := h.q.Redrive(r.Context(), sel)
	moved := 0
	for _, o := range outs {
		if o.Status == dlq.Redriven {
			moved++
		}
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "admin: dead letters redriven",
		slog.Int("selected", len(outs)), slog.Int("redriven", moved), slog.Bool("all", sel.All))
	if err != nil && len(outs) == 0 {
		h.fail(w, r, "redrive", err)
		return
	}
	body := redriveBody{Outcomes: outs}
	status := http.StatusOK
	if err != nil { // stopped part-way: say so, with what was done
		h.log.LogAttrs(r.Context(), slog.LevelError, "admin: redrive stopped", slog.String("error", err.Error()))
		body.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{"unavailable", "the queue stopped during the redrive; the outcomes listed happened"}
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// fail answers with the error's class; infrastructure details go to the log only.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	if errors.Is(err, dlq.ErrBadRequest) { // our own validation message
		writeError(w, http.StatusBadRequest, "bad_request", strings.TrimPrefix(err.Error(), dlq.ErrBadRequest.Error()+": "))
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, "admin: "+op+" failed", slog.String("error", err.Error()))
	writeError(w, http.StatusServiceUnavailable, "unavailable", "the dead-letter queue is unavailable; see the server log")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e errorBody
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

// --- client ---------------------------------------------------------------------------

// Client is a dlq.Queue served by a local server's admin socket.
type Client struct {
	path string
	hc   *http.Client
}

var _ dlq.Queue = (*Client)(nil)

// Dial returns a client of the socket at path; nothing is connected until a call.
func Dial(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 1,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Ping reports whether a server answers; ErrNoServer when none does.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/v1/ping", nil, &map[string]bool{})
}

// List asks the server for its dead letters.
func (c *Client) List(ctx context.Context, max int) (dlq.Page, error) {
	var p dlq.Page
	err := c.do(ctx, http.MethodGet, "/v1/dlq?max="+strconv.Itoa(dlq.ClampMax(max)), nil, &p)
	return p, err
}

// Redrive asks the server to redrive.
func (c *Client) Redrive(ctx context.Context, sel dlq.Selection) ([]dlq.Outcome, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(sel)
	var body redriveBody
	err := c.do(ctx, http.MethodPost, "/v1/dlq/redrive", b, &body)
	return body.Outcomes, err
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://admin"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w: %s", ErrNoServer, c.path)
		}
		return fmt.Errorf("%w: admin socket: %w", dlq.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%w: admin socket: %w", dlq.ErrUnavailable, err)
	}
	// A redrive that stopped part-way answers 503 with the outcomes so far.
	if err := json.Unmarshal(raw, out); err != nil && resp.StatusCode == http.StatusOK {
		return fmt.Errorf("%w: admin socket: bad answer: %w", dlq.ErrUnavailable, err)
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e errorBody
	_ = json.Unmarshal(raw, &e)
	switch e.Error.Code {
	case "bad_request":
		return fmt.Errorf("%w: %s", dlq.ErrBadRequest, e.Error.Message)
	case "unavailable":
		return fmt.Errorf("%w: %s", dlq.ErrUnavailable, e.Error.Message)
	}
	return fmt.Errorf("%w: admin socket answered HTTP %d", dlq.ErrUnavailable, resp.StatusCode)
}
