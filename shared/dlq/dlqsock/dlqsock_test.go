package dlqsock_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/dlq/boltdlq"
	"github.com/callkit-records/callkit-records/shared/dlq/dlqsock"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// serve runs Handler(q) on a socket in a fresh directory and returns its path.
func serve(t *testing.T, q dlq.Queue) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := dlqsock.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := dlqsock.NewServer(dlqsock.Handler(q, logging.Discard()), logging.Discard())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return path
}

func TestListenOwnerOnlyAndStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := dlqsock.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	go func() { // a live server: accept and hold
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	if _, err := dlqsock.Listen(path); !errors.Is(err, dlqsock.ErrInUse) {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // die like a killed server
	_ = ln.Close()
	ln2, err := dlqsock.Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	_ = ln2.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("socket file left after Close")
	}

	other := filepath.Join(dir, "file")
	if err := os.WriteFile(other, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dlqsock.Listen(other); err == nil {
		t.Fatal("Listen over a regular file")
	}
	if b, _ := os.ReadFile(other); string(b) != "mine" {
		t.Fatal("a regular file was replaced")
	}
}

func TestClientRoundTrip(t *testing.T) {
	ctx := context.Background()
	q, err := boltqueue.Open(filepath.Join(t.TempDir(), "queue.db"), boltqueue.Options{MaxReceiveCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, b := range []string{`{"a":1}`, `{"b":2}`} {
		if _, err := q.SendID(ctx, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ := q.Receive(ctx, 2, time.Minute, time.Second)
	for _, d := range ds {
		q.Fail(d.ID, "because "+string(d.Body))
	}
	for q.Stats().Dead != 2 {
		time.Sleep(5 * time.Millisecond)
	}
	direct := boltdlq.New(q)
	c := dlqsock.Dial(serve(t, direct))
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	want, _ := direct.List(ctx, 10)
	got, err := c.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 || got.Total != 2 || got.Messages[1].Reason != want.Messages[1].Reason || string(got.Messages[0].Body) != `{"a":1}` {
		t.Fatalf("over the socket %+v, direct %+v", got, want)
	}
	outs, err := c.Redrive(ctx, dlq.Selection{IDs: []string{got.Messages[0].ID, "0000000000000099"}})
	if err != nil || len(outs) != 2 || outs[0].Status != dlq.Redriven || outs[1].Status != dlq.NotFound {
		t.Fatalf("redrive %+v %v", outs, err)
	}
	if s := q.Stats(); s.Dead != 1 || s.Depth != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNoServer(t *testing.T) {
	dir := t.TempDir()
	if err := dlqsock.Dial(filepath.Join(dir, "missing.sock")).Ping(context.Background()); !errors.Is(err, dlqsock.ErrNoServer) {
		t.Fatalf("missing socket: %v", err)
	}
	path := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = ln.Close()
	if _, err := dlqsock.Dial(path).List(context.Background(), 1); !errors.Is(err, dlqsock.ErrNoServer) {
		t.Fatalf("stale socket: %v", err)
	}
}

// broken fails with infrastructure detail that must stay in the server's log.
type broken struct{ outs []dlq.Outcome }

var errSecret = errors.New("open /very/secret/path: disk on fire")

func (b broken) List(context.Context, int) (dlq.Page, error) { return dlq.Page{}, errSecret }
func (b broken) Redrive(context.Context, dlq.Selection) ([]dlq.Outcome, error) {
	return b.outs, errSecret
}

func TestErrorsAreClassifiedNotEchoed(t *testing.T) {
	ctx := context.Background()
	c := dlqsock.Dial(serve(t, broken{}))
	_, err := c.List(ctx, 5)
	if !errors.Is(err, dlq.ErrUnavailable) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("list: %v", err)
	}
	// A redrive stopped part-way still reports what it did.
	part := []dlq.Outcome{{ID: "1", Status: dlq.Redriven, NewID: "1"}}
	c2 := dlqsock.Dial(serve(t, broken{outs: part}))
	outs, err := c2.Redrive(ctx, dlq.Selection{All: true})
	if !errors.Is(err, dlq.ErrUnavailable) || len(outs) != 1 || outs[0] != part[0] || strings.Contains(err.Error(), "secret") {
		t.Fatalf("partial redrive: %+v %v", outs, err)
	}

	h := dlqsock.Handler(broken{}, logging.Discard())
	for _, tc := range []struct {
		method, target, body string
		status               int
		want                 string
	}{
		{"POST", "/v1/dlq/redrive", `{"all":true,"ids":["x"]}`, 400, "not both"},
		{"POST", "/v1/dlq/redrive", `{"all":true,"purge":true}`, 400, "bad_request"},
		{"GET", "/v1/dlq?max=0", "", 400, "between 1 and 1000"},
		{"GET", "/v1/dlq?max=5", "", 503, `"unavailable"`},
		{"DELETE", "/v1/dlq", "", 404, "not_found"},
		{"GET", "/callback", "", 404, "not_found"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body)))
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.status || !strings.Contains(string(b), tc.want) || strings.Contains(string(b), "secret") {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.target, rec.Code, b, tc.status, tc.want)
		}
	}
}
