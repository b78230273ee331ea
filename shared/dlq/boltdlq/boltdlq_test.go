package boltdlq_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/dlq/boltdlq"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// deadLetters puts bodies into a queue at path and fails each once with MaxReceiveCount
// 1, so all of them are dead letters with reason "reason <n>".
func deadLetters(t *testing.T, q *boltqueue.Queue, bodies ...string) []uint64 {
	t.Helper()
	ctx := context.Background()
	var ids []uint64
	for _, b := range bodies {
		id, err := q.SendID(ctx, []byte(b))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	ds, err := q.Receive(ctx, len(bodies), time.Minute, time.Second)
	if err != nil || len(ds) != len(bodies) {
		t.Fatalf("received %d: %v", len(ds), err)
	}
	for _, d := range ds {
		q.Fail(d.ID, "reason "+string(d.Body))
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.Stats().Dead != int64(len(bodies)) {
		if time.Now().After(deadline) {
			t.Fatalf("not dead-lettered: %+v", q.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ids
}

func open(t *testing.T, path string) *boltqueue.Queue {
	t.Helper()
	q, err := boltqueue.Open(path, boltqueue.Options{MaxReceiveCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestListAndRedrive(t *testing.T) {
	ctx := context.Background()
	q := open(t, filepath.Join(t.TempDir(), "queue.db"))
	defer q.Close()
	ids := deadLetters(t, q, `{"a":1}`, `{"b":2}`, "not json")
	a := boltdlq.New(q)

	p, err := a.List(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 2 || p.Total != 3 || p.Approximate {
		t.Fatalf("page %+v", p)
	}
	m := p.Messages[0]
	if m.ID != boltqueue.MessageID(ids[0]) || m.Reason != `reason {"a":1}` || m.ReceiveCount != 1 || m.FailedAt == 0 || m.SentAt == 0 || string(m.Body) != `{"a":1}` {
		t.Fatalf("message %+v", m)
	}
	all, _ := a.List(ctx, 0)
	if len(all.Messages) != 3 || string(all.Messages[2].RawBody) != "not json" {
		t.Fatalf("all %+v", all)
	}

	outs, err := a.Redrive(ctx, dlq.Selection{IDs: []string{boltqueue.MessageID(ids[1]), "00000000000000ff", "xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []dlq.Status{dlq.Redriven, dlq.NotFound, dlq.NotFound}
	for i, o := range outs {
		if o.Status != want[i] {
			t.Errorf("outcome %d %+v, want %s", i, o, want[i])
		}
	}
	ds, err := q.Receive(ctx, 10, time.Minute, time.Second)
	if err != nil || len(ds) != 1 || ds[0].ID != ids[1] || string(ds[0].Body) != `{"b":2}` || ds[0].ReceiveCount != 1 {
		t.Fatalf("redriven message: %+v %v", ds, err)
	}
	q.Delete(ds[0].ID)

	// --all is bounded by Max, oldest first.
	outs, err = a.Redrive(ctx, dlq.Selection{All: true, Max: 1})
	if err != nil || len(outs) != 1 || outs[0].ID != boltqueue.MessageID(ids[0]) || outs[0].Status != dlq.Redriven {
		t.Fatalf("all max 1: %+v %v", outs, err)
	}
	if s := q.Stats(); s.Dead != 1 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := a.Redrive(ctx, dlq.Selection{}); !errors.Is(err, dlq.ErrBadRequest) {
		t.Fatalf("empty selection: %v", err)
	}
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	if _, err := boltdlq.OpenFile(path); !errors.Is(err, dlq.ErrNoQueue) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("OpenFile created the queue file")
	}
	q := open(t, path)
	deadLetters(t, q, `{"x":1}`)
	if _, err := boltdlq.OpenFile(path); !errors.Is(err, dlq.ErrLocked) {
		t.Fatalf("held by another opener: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := boltdlq.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := a.Redrive(context.Background(), dlq.Selection{All: true})
	if err != nil || len(outs) != 1 || outs[0].Status != dlq.Redriven {
		t.Fatalf("%+v %v", outs, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, path) // the move was committed on Close
	defer q.Close()
	if s := q.Stats(); s.Dead != 0 || s.Depth != 1 {
		t.Fatalf("after reopen %+v", s)
	}
}

func TestClosedQueueIsUnavailable(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "queue.db"))
	ids := deadLetters(t, q, `{"x":1}`)
	a := boltdlq.New(q)
	_ = q.Close()
	if _, err := a.Redrive(context.Background(), dlq.Selection{IDs: []string{boltqueue.MessageID(ids[0])}}); !errors.Is(err, dlq.ErrUnavailable) {
		t.Fatalf("redrive on a closed queue: %v", err)
	}
}
