package faults_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/faults"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/store"
)

// swappable is a queue.Sender over whichever embedded queue is current, so a test can
// close the file under a running webhook and open it again.
type swappable struct {
	q atomic.Pointer[boltqueue.Queue]
}

func (s *swappable) Send(ctx context.Context, m queue.Message) error { return s.q.Load().Send(ctx, m) }

// drainFile opens a queue file and returns how many copies of each event key it holds.
func drainFile(t *testing.T, path string) map[string]int {
	t.Helper()
	q, err := boltqueue.Open(path, boltqueue.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer q.Close()
	got := map[string]int{}
	for {
		ds, err := q.Receive(context.Background(), 1000, time.Hour, 0)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if len(ds) == 0 {
			return got
		}
		for _, d := range ds {
			env, err := envelope.Unmarshal(d.Body)
			if err != nil {
				t.Fatalf("queued message is not an envelope: %v", err)
			}
			got[env.EventKey]++
		}
	}
}

// TestWebhookOverEmbeddedQueueClosed: the webhook over the embedded queue, whose file is
// closed mid-run under Tencent-style traffic and reopened half a second later. While it
// is closed every attempt gets 503 / ErrorCode 1; afterwards the retries land, and the
// reopened file holds every acknowledged callback (duplicates allowed, nothing else).
func TestWebhookOverEmbeddedQueueClosed(t *testing.T) {
	r := seeded(t)
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := boltqueue.Open(path, boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sw := &swappable{}
	sw.q.Store(q)
	h := ingest.New(ingest.Config{AppAllowed: func(id uint64) bool { return id == app }}, sw, logging.Discard())
	hs := httptest.NewServer(h)
	defer hs.Close()

	calls := genCalls(t, r, 12)
	ds := flatten(calls)
	done := make(chan [][]faults.Attempt)
	go func() {
		done <- tencent(t.Context(), newClient(), ds, func(d delivery) string { return hs.URL + ingest.Route + "?" + d.query.Encode() },
			time.Second, faults.Scale(faults.Schedule, 0.25))
	}()
	time.Sleep(400 * time.Millisecond)
	if err := q.Close(); err != nil { // pending commits finish; later sends fail
		t.Fatalf("Close: %v", err)
	}
	down := time.Now()
	time.Sleep(500 * time.Millisecond)
	up := time.Now()
	q2, err := boltqueue.Open(path, boltqueue.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	sw.q.Store(q2)
	all := <-done
	if err := q2.Close(); err != nil {
		t.Fatal(err)
	}

	o := summarise(all, down, up, unavailable503)
	got := drainFile(t, path)
	t.Logf("%d callbacks, %d attempts; closed for %v: %d attempts saw only the closed queue (%d acked); %d acked in the end; %d messages in the file",
		len(ds), o.attempts, up.Sub(down).Round(time.Millisecond), o.duringOutage, o.ackedDuringOutage, o.acked, sum(got))
	checkQueued(t, ds, all, got, o)
}

// TestLocalServerQueueClosedAndRestarted: the same fault under the whole local server:
// its queue file is closed while Tencent-style traffic runs (503 / ErrorCode 1), then the
// server is shut down and started again on the same port and data directory (connection
// refused meanwhile). Every callback is acknowledged in the end and every one of them is
// persisted exactly once in its call's timeline, with the records Derive gives.
func TestLocalServerQueueClosedAndRestarted(t *testing.T) {
	r := seeded(t)
	dir := t.TempDir()
	cfg := config.Config{SDKAppIDs: []uint64{app}, SecretKeys: map[uint64]string{app: secretKey}, MaxBodyBytes: config.DefaultMaxBodyBytes}
	s, err := localserver.Start(localserver.Options{Addr: "127.0.0.1:0", DataDir: dir, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	var cur atomic.Pointer[localserver.Server]
	cur.Store(s)
	t.Cleanup(func() { _ = cur.Load().Shutdown(context.Background()) })

	calls := genCalls(t, r, 12)
	ds := flatten(calls)
	done := make(chan [][]faults.Attempt)
	go func() {
		done <- tencent(t.Context(), newClient(), ds, func(d delivery) string { return "http://" + addr + ingest.Route + "?" + d.query.Encode() },
			time.Second, faults.Scale(faults.Schedule, 0.25))
	}()
	time.Sleep(400 * time.Millisecond)
	if err := s.Queue().Close(); err != nil {
		t.Fatalf("closing the server's queue: %v", err)
	}
	down := time.Now()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, boltqueue.ErrClosed) {
		t.Fatalf("Shutdown: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	up := time.Now()
	s2, err := localserver.Start(localserver.Options{Addr: addr, DataDir: dir, Config: cfg})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	cur.Store(s2)
	all := <-done

	// "Refused" while down: 503/1 while the server ran on a closed queue, no response
	// at all while it was not running.
	o := summarise(all, down, up, func(a faults.Attempt) bool { return unavailable503(a) || (a.Status == 0 && a.Err != nil) })
	t.Logf("%d callbacks, %d attempts; down for %v: %d attempts saw only the outage (%d acked); %d acked in the end",
		len(ds), o.attempts, up.Sub(down).Round(time.Millisecond), o.duringOutage, o.ackedDuringOutage, o.acked)
	if o.duringOutage == 0 || o.ackedDuringOutage != 0 || o.wrongRefusal != 0 || o.exhausted != 0 {
		t.Fatalf("outage: %+v (want attempts during the outage, none acknowledged, all refused with 503/1 or no answer, none given up)", o)
	}
	waitPersisted(t, s2, calls)
	checkConverged(t, "local server", s2.Store(), calls, nil)
	if st := s2.Queue().Stats(); st.Depth != 0 || st.Dead != 0 {
		t.Errorf("queue after drain: %+v", st)
	}
}

// waitPersisted waits until every call's timeline holds all its callbacks.
func waitPersisted(t *testing.T, s *localserver.Server, calls []call) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < len(calls); {
		_, evs, err := s.Store().Get(context.Background(), calls[i].storeKey(), true)
		if (err == nil || errors.Is(err, store.ErrNotFound)) && len(evs) >= len(calls[i].sent) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s: %d of %d callbacks persisted after 20 s (err %v); queue %+v", calls[i].CallID, len(evs), len(calls[i].sent), err, s.Queue().Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for s.Queue().Stats().Depth != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v", s.Queue().Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkQueued: no acknowledgement while down, all acknowledged in the end, every
// acknowledged callback in the queue and nothing that was not sent.
func checkQueued(t *testing.T, ds []delivery, all [][]faults.Attempt, got map[string]int, o outcome) {
	t.Helper()
	if o.duringOutage == 0 {
		t.Errorf("no attempt fell inside the outage; the fault was not exercised")
	}
	if o.ackedDuringOutage != 0 || o.wrongRefusal != 0 {
		t.Errorf("during the outage %d attempts were acknowledged and %d refused otherwise than 503 / ErrorCode 1", o.ackedDuringOutage, o.wrongRefusal)
	}
	sent := map[string]bool{}
	for i, d := range ds {
		sent[d.key] = true
		as := all[i]
		acked := len(as) > 0 && as[len(as)-1].Acked()
		if !acked {
			t.Errorf("%s was never acknowledged (%d attempts)", d.key, len(as))
			continue
		}
		if got[d.key] == 0 {
			t.Errorf("acknowledged %s is not in the queue", d.key)
		}
	}
	for k := range got {
		if !sent[k] {
			t.Errorf("the queue holds %s, which was never sent", k)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
