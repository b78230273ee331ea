package boltqueue_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// clock is a manual clock for visibility and backoff tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1795342500, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, path string, opts boltqueue.Options) *boltqueue.Queue {
	t.Helper()
	q, err := boltqueue.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// barrier returns once every operation submitted before it is committed: the writer
// applies operations in submission order, and Redrive waits for its commit (redriving
// an id that does not exist changes nothing).
func barrier(t *testing.T, q *boltqueue.Queue) {
	t.Helper()
	if n, err := q.Redrive(context.Background(), math.MaxUint64); err != nil || n != 0 {
		t.Fatalf("barrier: %d, %v", n, err)
	}
}

func send(t *testing.T, q *boltqueue.Queue, body string) uint64 {
	t.Helper()
	id, err := q.SendID(context.Background(), []byte(body))
	if err != nil {
		t.Fatalf("SendID(%q): %v", body, err)
	}
	return id
}

// receive polls without waiting (the manual clock does not move by itself).
func receive(t *testing.T, q *boltqueue.Queue, max int) []boltqueue.Delivery {
	t.Helper()
	ds, err := q.Receive(context.Background(), max, 30*time.Second, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return ds
}

func bodies(ds []boltqueue.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d.Body)
	}
	return out
}

func wantStats(t *testing.T, q *boltqueue.Queue, want boltqueue.Stats) {
	t.Helper()
	if got := q.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestSendReceiveDelete(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now})
	var ids []uint64
	for _, b := range []string{"one", "two", "three"} {
		ids = append(ids, send(t, q, b))
	}
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Fatalf("ids %v are not increasing", ids)
	}
	wantStats(t, q, boltqueue.Stats{Depth: 3})

	ds := receive(t, q, 10)
	if got := bodies(ds); fmt.Sprint(got) != "[one two three]" {
		t.Fatalf("received %v, want FIFO [one two three]", got)
	}
	for i, d := range ds {
		if d.ID != ids[i] || d.ReceiveCount != 1 || d.SentAt != clk.Now().UnixMilli() {
			t.Errorf("delivery %d = %+v, want id %d, ReceiveCount 1, SentAt %d", i, d, ids[i], clk.Now().UnixMilli())
		}
		if boltqueue.MessageID(d.ID) == "" {
			t.Errorf("empty MessageID")
		}
		if back, err := boltqueue.ParseMessageID(boltqueue.MessageID(d.ID)); err != nil || back != d.ID {
			t.Errorf("ParseMessageID(MessageID(%d)) = %d, %v", d.ID, back, err)
		}
	}
	wantStats(t, q, boltqueue.Stats{Depth: 3, InFlight: 3})

	q.Delete(ids[1])
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{Depth: 2, InFlight: 2})

	clk.Advance(31 * time.Second)
	if got := bodies(receive(t, q, 10)); fmt.Sprint(got) != "[one three]" {
		t.Fatalf("after visibility expiry received %v, want [one three]", got)
	}
	q.Delete(ids[0], ids[2])
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{})
	clk.Advance(time.Hour)
	if ds := receive(t, q, 10); len(ds) != 0 {
		t.Fatalf("deleted messages came back: %v", bodies(ds))
	}
}

func TestVisibility(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now})
	for _, b := range []string{"a", "b", "c"} {
		send(t, q, b)
	}
	if got := bodies(receive(t, q, 1)); fmt.Sprint(got) != "[a]" {
		t.Fatalf("Receive(max 1) = %v", got)
	}
	if got := bodies(receive(t, q, 10)); fmt.Sprint(got) != "[b c]" {
		t.Fatalf("second Receive = %v, want the two others", got)
	}
	if got := receive(t, q, 10); len(got) != 0 {
		t.Fatalf("in-flight messages were delivered again: %v", bodies(got))
	}
	clk.Advance(30*time.Second - time.Millisecond)
	if got := receive(t, q, 10); len(got) != 0 {
		t.Fatalf("messages visible before their timeout: %v", bodies(got))
	}
	wantStats(t, q, boltqueue.Stats{Depth: 3, InFlight: 3})
	clk.Advance(time.Millisecond)
	barrier(t, q) // receive counts are committed asynchronously
	// a's visibility started first; all three are visible now, in order, and — as in
	// SQS — every receive counts, whether or not the consumer reported back.
	ds := receive(t, q, 10)
	if got := bodies(ds); fmt.Sprint(got) != "[a b c]" {
		t.Fatalf("after the timeout received %v", got)
	}
	for _, d := range ds {
		if d.ReceiveCount != 2 {
			t.Errorf("%s: ReceiveCount %d on the second receive, want 2", d.Body, d.ReceiveCount)
		}
	}
}

// TestCrashLoopDeadLetters: a message whose consumer dies every time (no Delete, no
// Fail — only its visibility expires) is dead-lettered after MaxReceiveCount receives
// instead of being redelivered forever (DESIGN invariant 2).
func TestCrashLoopDeadLetters(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now, MaxReceiveCount: 3})
	id := send(t, q, `{"poison":true}`)
	for i := 1; i <= 3; i++ {
		ds := receive(t, q, 10)
		if len(ds) != 1 || ds[0].ReceiveCount != i {
			t.Fatalf("receive %d: %+v", i, ds)
		}
		barrier(t, q)
		clk.Advance(31 * time.Second) // the consumer crashed: visibility expires
	}
	if ds := receive(t, q, 10); len(ds) != 0 {
		t.Fatalf("delivered a 4th time: %+v", ds)
	}
	barrier(t, q)
	dead, err := q.DeadLetters(0)
	if err != nil || len(dead) != 1 || dead[0].ID != id || !strings.Contains(dead[0].Reason, "received 3 times") {
		t.Fatalf("dead letters %+v, err %v", dead, err)
	}
	wantStats(t, q, boltqueue.Stats{Depth: 0, InFlight: 0, Dead: 1})
}

func TestExpiredVisibilityIsNotInFlight(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now})
	send(t, q, "a")
	receive(t, q, 1)
	wantStats(t, q, boltqueue.Stats{Depth: 1, InFlight: 1})
	clk.Advance(time.Minute)
	wantStats(t, q, boltqueue.Stats{Depth: 1, InFlight: 0})
}

func TestReceiveWaitsForSend(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{})
	got := make(chan []boltqueue.Delivery, 1)
	start := time.Now()
	go func() {
		ds, err := q.Receive(context.Background(), 10, time.Minute, 20*time.Second)
		if err != nil {
			t.Errorf("Receive: %v", err)
		}
		got <- ds
	}()
	send(t, q, "late")
	select {
	case ds := <-got:
		if fmt.Sprint(bodies(ds)) != "[late]" {
			t.Fatalf("got %v", bodies(ds))
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("Receive returned only after %v", time.Since(start))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a waiting Receive did not wake up on Send")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Receive(ctx, 10, time.Minute, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context = %v", err)
	}
}

func TestFailBackoffDeadLetterRedrive(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	opts := boltqueue.Options{
		Now:             clk.Now,
		MaxReceiveCount: 3,
		Backoff:         func(attempt int) time.Duration { return time.Duration(attempt) * 10 * time.Second },
	}
	q := open(t, path, opts)
	sentAt := clk.Now().UnixMilli()
	id := send(t, q, `{"callId":"c1"}`)

	deliver := func(wantCount int) {
		t.Helper()
		ds := receive(t, q, 10)
		if len(ds) != 1 || ds[0].ID != id || ds[0].ReceiveCount != wantCount || string(ds[0].Body) != `{"callId":"c1"}` {
			t.Fatalf("got %+v, want id %d with ReceiveCount %d", ds, id, wantCount)
		}
	}
	nothing := func(when string) {
		t.Helper()
		if ds := receive(t, q, 10); len(ds) != 0 {
			t.Fatalf("%s: delivered %+v", when, ds)
		}
	}

	deliver(1)
	q.Fail(id, "boom 1")
	nothing("right after Fail")
	barrier(t, q)
	clk.Advance(10*time.Second - time.Millisecond)
	nothing("during the first backoff (10 s)")
	clk.Advance(time.Millisecond)
	deliver(2)

	q.Fail(id, "boom 2")
	barrier(t, q)
	clk.Advance(20*time.Second - time.Millisecond)
	nothing("during the second backoff (20 s)")
	clk.Advance(time.Millisecond)

	// The attempt count is persisted: it survives a restart.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, path, opts)
	deliver(3)
	wantStats(t, q, boltqueue.Stats{Depth: 1, InFlight: 1})

	q.Fail(id, "boom 3")
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{Depth: 0, InFlight: 0, Dead: 1})
	clk.Advance(time.Hour)
	nothing("after the last allowed receive")

	dl, err := q.DeadLetters(0)
	if err != nil || len(dl) != 1 {
		t.Fatalf("DeadLetters = %+v, %v", dl, err)
	}
	d := dl[0]
	if d.ID != id || string(d.Body) != `{"callId":"c1"}` || d.Attempts != 3 || d.Reason != "boom 3" || d.SentAt != sentAt || d.FailedAt != clk.Now().Add(-time.Hour).UnixMilli() {
		t.Errorf("dead letter %+v", d)
	}

	n, err := q.Redrive(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	wantStats(t, q, boltqueue.Stats{Depth: 1})
	deliver(1) // a redriven message starts over
	if dl, _ := q.DeadLetters(0); len(dl) != 0 {
		t.Errorf("dead letters after redrive: %+v", dl)
	}
	if n, err := q.Redrive(context.Background()); err != nil || n != 0 {
		t.Errorf("second Redrive = %d, %v", n, err)
	}
}

func TestDeadLettersLimitAndSelectiveRedrive(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now, MaxReceiveCount: 1})
	var ids []uint64
	for i := range 3 {
		ids = append(ids, send(t, q, fmt.Sprint("m", i)))
	}
	receive(t, q, 10)
	for _, id := range ids {
		q.Fail(id, "bad")
	}
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{Dead: 3})
	if dl, err := q.DeadLetters(2); err != nil || len(dl) != 2 || dl[0].ID != ids[0] || dl[1].ID != ids[1] {
		t.Fatalf("DeadLetters(2) = %+v, %v", dl, err)
	}
	if n, err := q.Redrive(context.Background(), ids[1]); err != nil || n != 1 {
		t.Fatalf("Redrive(one) = %d, %v", n, err)
	}
	wantStats(t, q, boltqueue.Stats{Depth: 1, Dead: 2})
	if got := bodies(receive(t, q, 10)); fmt.Sprint(got) != "[m1]" {
		t.Fatalf("after redriving m1 received %v", got)
	}
}

// Deleting twice, or deleting a message that was dead-lettered meanwhile, must not
// corrupt the counters.
func TestStatsStayConsistent(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now, MaxReceiveCount: 1})
	a, b, c := send(t, q, "a"), send(t, q, "b"), send(t, q, "c")
	receive(t, q, 10)
	q.Delete(a)
	q.Delete(a)
	q.Fail(b, "bad") // → dead letter
	q.Delete(b)      // a late success report for a message that is already dead
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{Depth: 1, InFlight: 1, Dead: 1})
	q.Delete(c)
	q.Fail(c, "after delete") // a late failure report for a deleted message
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{Depth: 0, InFlight: 0, Dead: 1})
	if dl, _ := q.DeadLetters(0); len(dl) != 1 || dl[0].ID != b {
		t.Errorf("dead letters %+v, want only b", dl)
	}
}

func TestReopenKeepsMessagesAndIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := open(t, path, boltqueue.Options{})
	a, b := send(t, q, "a"), send(t, q, "b")
	q.Delete(a)
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	q = open(t, path, boltqueue.Options{})
	wantStats(t, q, boltqueue.Stats{Depth: 1})
	c := send(t, q, "c")
	if c <= b {
		t.Errorf("id %d reused after restart (last was %d)", c, b)
	}
	ds := receive(t, q, 10)
	if fmt.Sprint(bodies(ds)) != "[b c]" || ds[0].ID != b {
		t.Errorf("after reopen received %v", bodies(ds))
	}
}

func TestClosed(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{})
	send(t, q, "before")
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := q.Send(context.Background(), queue.Message{Body: []byte("after")})
	if !errors.Is(err, queue.ErrUnavailable) || !errors.Is(err, boltqueue.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrUnavailable and ErrClosed", err)
	}
	if _, err := q.Receive(context.Background(), 1, time.Second, 0); !errors.Is(err, boltqueue.ErrClosed) {
		t.Errorf("Receive after Close = %v", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestSendCancelled(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := q.SendID(ctx, []byte("x"))
	// Either it lost the race with the writer and was refused, or it was committed and
	// acknowledged: never a nil error without the message.
	if err != nil {
		if !errors.Is(err, queue.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("SendID with a cancelled context = %v", err)
		}
		return
	}
	barrier(t, q)
	if q.Stats().Depth != 1 {
		t.Errorf("acknowledged but not stored")
	}
}

// 64 concurrent senders: every acknowledged id is distinct and every message is
// received exactly once.
func TestConcurrentSend(t *testing.T) {
	const workers, each = 64, 50
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{})
	var mu sync.Mutex
	sent := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("w%02d-%03d", w, i)
				id, err := q.SendID(context.Background(), []byte(body))
				if err != nil {
					t.Errorf("SendID: %v", err)
					return
				}
				mu.Lock()
				if prev, dup := sent[id]; dup {
					t.Errorf("id %d acknowledged for %s and %s", id, prev, body)
				}
				sent[id] = body
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(sent) != workers*each {
		t.Fatalf("%d distinct ids, want %d", len(sent), workers*each)
	}
	wantStats(t, q, boltqueue.Stats{Depth: workers * each})
	got := map[uint64]int{}
	for {
		ds, err := q.Receive(context.Background(), 500, time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			got[d.ID]++
			if sent[d.ID] != string(d.Body) {
				t.Errorf("id %d: body %q, want %q", d.ID, d.Body, sent[d.ID])
			}
		}
	}
	if len(got) != len(sent) {
		t.Errorf("received %d distinct messages, want %d", len(got), len(sent))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("id %d received %d times", id, n)
		}
	}
}

// A second process (or server) cannot open the same file: Open fails instead of
// hanging or corrupting it.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	open(t, path, boltqueue.Options{})
	start := time.Now()
	q2, err := boltqueue.Open(path, boltqueue.Options{})
	if err == nil {
		q2.Close()
		t.Fatal("opened a queue file that is already open")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Open blocked for %v", time.Since(start))
	}
}

// Dead-lettering must work for any body, and must not fail the commit it shares with
// concurrent sends: a non-JSON body used to make the dead-letter record unencodable,
// rolling back the whole group commit and leaving the message cycling forever.
func TestDeadLetterAnyBody(t *testing.T) {
	clk := newClock()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), boltqueue.Options{Now: clk.Now, MaxReceiveCount: 1})
	bodies := map[uint64][]byte{}
	for _, b := range [][]byte{[]byte(`{"v":1,"body":{"CallId":"c"}}`), []byte("not json"), {0xff, 0x00, 0xfe}, {}} {
		bodies[send(t, q, string(b))] = b
	}
	receive(t, q, 10)
	for id := range bodies {
		q.Fail(id, "permanent")
	}
	if _, err := q.SendID(context.Background(), []byte("sent with the failures")); err != nil {
		t.Fatalf("a send committed with the dead-lettering failed: %v", err)
	}
	barrier(t, q)
	wantStats(t, q, boltqueue.Stats{Depth: 1, Dead: int64(len(bodies))})
	dl, err := q.DeadLetters(0)
	if err != nil || len(dl) != len(bodies) {
		t.Fatalf("DeadLetters = %d entries, %v", len(dl), err)
	}
	for _, d := range dl {
		got := []byte(d.Body)
		if d.RawBody != nil {
			got = d.RawBody
		}
		if string(got) != string(bodies[d.ID]) {
			t.Errorf("dead letter %d holds %q, want %q", d.ID, got, bodies[d.ID])
		}
	}
	if n, err := q.Redrive(context.Background()); err != nil || n != len(bodies) {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	for _, d := range receive(t, q, 10) {
		if want, ok := bodies[d.ID]; ok && string(d.Body) != string(want) {
			t.Errorf("redriven %d = %q, want %q", d.ID, d.Body, want)
		}
	}
}
