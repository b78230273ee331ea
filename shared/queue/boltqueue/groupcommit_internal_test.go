package boltqueue

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// pageWrites is bbolt's count of page writes over all committed transactions. Every
// commit writes at least one data page and the meta page, so commits ≤ pageWrites/2.
func pageWrites(q *Queue) int64 {
	s := q.db.Stats()
	return s.TxStats.GetWrite()
}

// Group commit: concurrent Sends share commits. Sequential sends are the control: one
// commit (≥ 2 page writes) each.
func TestGroupCommitBatches(t *testing.T) {
	q, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()

	const sequential = 100
	w0 := pageWrites(q)
	for i := range sequential {
		if _, err := q.SendID(ctx, fmt.Appendf(nil, "seq-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	seqWrites := pageWrites(q) - w0
	if seqWrites < 2*sequential {
		t.Fatalf("control: %d sequential sends made %d page writes; expected ≥ 2 per commit", sequential, seqWrites)
	}

	const workers, each = 64, 40
	w1 := pageWrites(q)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := q.SendID(ctx, fmt.Appendf(nil, "par-%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	parWrites := pageWrites(q) - w1
	n := int64(workers * each)
	t.Logf("sequential: %d sends, %d page writes; concurrent: %d sends, %d page writes (≤ %d commits)",
		sequential, seqWrites, n, parWrites, parWrites/2)
	// Without batching, n commits would need ≥ 2n page writes. Require fewer than n: more
	// than 2 messages per commit on average (in practice it is an order of magnitude more).
	if parWrites >= n {
		t.Errorf("%d concurrent sends made %d page writes: up to %d commits, not batched", n, parWrites, parWrites/2)
	}
}

// Close commits every operation submitted before it, even those still queued for the
// writer.
func TestCloseCommitsPendingOps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	ops := make([]*op, n)
	for i := range ops {
		ops[i] = &op{kind: opSend, body: fmt.Appendf(nil, "pending-%d", i), done: make(chan error, 1)}
		if err := q.submit(context.Background(), ops[i]); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, o := range ops {
		select {
		case err := <-o.done:
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		default:
			t.Fatalf("op %d submitted before Close was never committed", i)
		}
	}
	q, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if d := q.Stats().Depth; d != n {
		t.Fatalf("after reopen Depth = %d, want %d", d, n)
	}
}
