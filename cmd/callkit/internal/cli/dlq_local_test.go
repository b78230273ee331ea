package cli_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/cli"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

const (
	goodScenario = "single-video-answered"
)

var poisonScenarios = []string{"single-audio-rejected", "single-video-busy"}

// deadLetterLocally is the broken deployment, run on dir's queue and store files: the
// webhook queues every fixture, the real persist handler and consumer work through them
// over a store that refuses the poison calls, and the embedded queue dead-letters those
// after its MaxReceiveCount. Everything is closed when it returns (the server is
// "stopped").
func deadLetterLocally(t *testing.T, dir string, all, poison []fixture) {
	t.Helper()
	q, err := boltqueue.Open(localserver.QueuePath(dir), boltqueue.Options{
		MaxReceiveCount: 2,
		Backoff:         func(int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(dir, localserver.RecordsFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := persist.New(refusing{Writer: st, calls: callSet(poison)}, nil, logging.Discard(), persist.Options{})
	c := &localserver.Consumer{Queue: q, Handler: h, Log: logging.Discard(), Visibility: time.Second}
	c.Start()
	ingestAll(t, q, all)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := q.Stats()
		if s.Depth == 0 && s.Dead == int64(len(poison)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poison never dead-lettered: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Stop()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func localConfig() config.Config {
	return config.Config{SDKAppIDs: []uint64{app}, MaxBodyBytes: config.DefaultMaxBodyBytes}
}

func startServer(t *testing.T, dir string, cfg config.Config) *localserver.Server {
	t.Helper()
	s, err := localserver.Start(localserver.Options{Addr: "127.0.0.1:0", DataDir: dir, Config: cfg, Log: logging.Discard()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// waitPersisted waits until every call has a record with its whole timeline, and checks
// nothing is left queued or dead.
func waitPersisted(t *testing.T, s *localserver.Server, want map[store.CallKey]int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for key, n := range want {
		for {
			rec, evs, err := s.Store().Get(context.Background(), key, true)
			if err == nil && len(evs) == n {
				if rec.CallID != key.CallID {
					t.Fatalf("record %+v for %v", rec, key)
				}
				break
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("call %s: %d of %d timeline entries (err %v)", key.CallID, len(evs), n, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for {
		st := s.Queue().Stats()
		if st.Depth == 0 && st.Dead == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listIDs(t *testing.T, out string, wantReason string, n int) []string {
	t.Helper()
	ms := jsonLines[dlq.Message](t, out)
	if len(ms) != n {
		t.Fatalf("%d dead letters listed, want %d", len(ms), n)
	}
	var ids []string
	for _, m := range ms {
		if !strings.Contains(m.Reason, wantReason) || m.ReceiveCount < 1 || m.EventKey == "" || m.Body == nil {
			t.Errorf("dead letter %+v: want reason containing %q, receives, event key and body", m, wantReason)
		}
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids
}

// A running local server holds queue.db: the CLI reaches its dead letters through the
// admin socket, lists them with the persister's reason, and a redrive by id brings them
// back to the (now working) server, which persists them.
func TestLocalDLQThroughRunningServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, poison := fixtures(t, goodScenario), fixtures(t, poisonScenarios...)
	all := append(append([]fixture(nil), good...), poison...)
	deadLetterLocally(t, dir, all, poison)

	s := startServer(t, dir, localConfig()) // the fixed deployment
	if fi, err := os.Stat(localserver.AdminSocketPath(dir)); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket: %v %v", fi, err)
	}
	env := cli.Env{}
	code, out, _ := run(t, env, "dlq", "list", "--data", dir, "--json")
	if code != cli.ExitOK {
		t.Fatalf("dlq list exit %d", code)
	}
	ids := listIDs(t, out, "test store refuses call", len(poison))

	code, out, _ = run(t, env, "dlq", "list", "--data", dir)
	if code != cli.ExitOK || !strings.Contains(out, "via "+localserver.AdminSocketPath(dir)) ||
		!strings.Contains(out, ids[0]) || !strings.Contains(out, "transient: ") {
		t.Fatalf("dlq list (text) exit %d", code)
	}
	code, out, _ = run(t, env, "dlq", "peek", ids[0], "--data", dir)
	if code != cli.ExitOK || !strings.Contains(out, `"callId"`) || !strings.Contains(out, "reason") {
		t.Fatalf("dlq peek exit %d", code)
	}

	// Redrive all but one by id, plus an unknown id: per-message outcomes, exit 1.
	args := append([]string{"dlq", "redrive", "--data", dir, "--json"}, ids[1:]...)
	args = append(args, "00000000000fffff")
	code, out, _ = run(t, env, args...)
	if code != cli.ExitFailure {
		t.Fatalf("redrive with an unknown id: exit %d, want 1", code)
	}
	outs := jsonLines[dlq.Outcome](t, out)
	if len(outs) != len(ids) {
		t.Fatalf("%d outcomes for %d ids", len(outs), len(ids))
	}
	for _, o := range outs {
		want := dlq.Redriven
		if o.ID == "00000000000fffff" {
			want = dlq.NotFound
		}
		if o.Status != want {
			t.Errorf("outcome %+v, want %s", o, want)
		}
	}
	code, out, _ = run(t, env, "dlq", "redrive", "--data", dir, ids[0])
	if code != cli.ExitOK || !strings.Contains(out, "1 redriven, 0 not redriven") {
		t.Fatalf("redrive last: exit %d", code)
	}

	want := perCall(all)
	waitPersisted(t, s, want)
	code, out, _ = run(t, env, "dlq", "list", "--data", dir)
	if code != cli.ExitOK || !strings.Contains(out, "no dead letters") {
		t.Fatalf("after redrive: exit %d", code)
	}
}

// With the server stopped the CLI opens queue.db itself — also when a killed server left
// its socket file behind; the server persists the redriven messages when it starts.
func TestLocalDLQServerStopped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, poison := fixtures(t, goodScenario), fixtures(t, poisonScenarios...)
	all := append(append([]fixture(nil), good...), poison...)
	deadLetterLocally(t, dir, all, poison)
	staleSocket(t, localserver.AdminSocketPath(dir))

	env := cli.Env{}
	code, out, _ := run(t, env, "dlq", "list", "--data", dir, "--json")
	if code != cli.ExitOK {
		t.Fatalf("dlq list exit %d", code)
	}
	listIDs(t, out, "test store refuses call", len(poison))
	code, out, _ = run(t, env, "dlq", "redrive", "--all", "--data", dir)
	if code != cli.ExitOK || !strings.Contains(out, "(local server stopped)") ||
		!strings.Contains(out, fmt.Sprintf("%d redriven, 0 not redriven", len(poison))) || !strings.Contains(out, "persists them when it starts") {
		t.Fatalf("redrive --all: exit %d", code)
	}
	q, err := boltqueue.Open(localserver.QueuePath(dir), boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Dead != 0 || s.Depth != int64(len(poison)) {
		t.Fatalf("after redrive: %+v, want %d queued and none dead", s, len(poison))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, dir, localConfig())
	waitPersisted(t, s, perCall(all))
}

// staleSocket leaves a socket file nobody listens on, as a SIGKILLed server does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
}

// A process holding queue.db without an admin socket, and a directory with no queue, are
// clear failures (exit 1), not hangs or empty listings.
func TestLocalDLQLockedOrMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := boltqueue.Open(localserver.QueuePath(dir), boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	code, _, errOut := run(t, cli.Env{}, "dlq", "list", "--data", dir)
	if code != cli.ExitFailure || !strings.Contains(errOut, "is in use by another process") {
		t.Fatalf("locked queue: exit %d", code)
	}
	empty := t.TempDir()
	code, _, errOut = run(t, cli.Env{}, "dlq", "list", "--data", empty)
	if code != cli.ExitFailure || !strings.Contains(errOut, "no local queue at") {
		t.Fatalf("missing queue: exit %d", code)
	}
	if _, err := os.Stat(localserver.QueuePath(empty)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the CLI created a queue file: %v", err)
	}
	// CALLKIT_DATA_DIR is the default directory, as for the server.
	code, _, errOut = run(t, cli.Env{Getenv: func(k string) string {
		if k == "CALLKIT_DATA_DIR" {
			return empty
		}
		return ""
	}}, "dlq", "list")
	if code != cli.ExitFailure || !strings.Contains(errOut, localserver.QueuePath(empty)) {
		t.Fatalf("CALLKIT_DATA_DIR not used: exit %d", code)
	}
}
