// Package boltdlq is the dead-letter port over the embedded queue's dead-letter bucket.
// The local server serves it on its admin socket; the CLI opens queue.db directly when
// the server is stopped (bbolt allows one process per file).
package boltdlq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// Queue adapts a *boltqueue.Queue.
type Queue struct {
	q     *boltqueue.Queue
	owned bool // opened by OpenFile: Close closes the file
}

var _ dlq.Queue = (*Queue)(nil)

// New adapts an open queue (the local server's).
func New(q *boltqueue.Queue) *Queue { return &Queue{q: q} }

// OpenFile opens the queue file of a stopped local server. It never creates one:
// a missing file is dlq.ErrNoQueue (a wrong data directory), a file another process
// holds is dlq.ErrLocked.
func OpenFile(path string) (*Queue, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", dlq.ErrNoQueue, path)
		}
		return nil, fmt.Errorf("%w: %w", dlq.ErrUnavailable, err)
	}
	q, err := boltqueue.Open(path, boltqueue.Options{})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", dlq.ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", dlq.ErrUnavailable, err)
	}
	return &Queue{q: q, owned: true}, nil
}

// Close closes a queue opened by OpenFile, committing what Redrive moved.
func (a *Queue) Close() error {
	if !a.owned {
		return nil
	}
	return a.q.Close()
}

// List returns the oldest dead letters with the reason the consumer gave last.
func (a *Queue) List(_ context.Context, max int) (dlq.Page, error) {
	ds, err := a.q.DeadLetters(dlq.ClampMax(max))
	if err != nil {
		return dlq.Page{}, fmt.Errorf("%w: %w", dlq.ErrUnavailable, err)
	}
	p := dlq.Page{Messages: make([]dlq.Message, 0, len(ds)), Total: a.q.Stats().Dead}
	for _, d := range ds {
		body := []byte(d.Body)
		if d.RawBody != nil {
			body = d.RawBody
		}
		m := dlq.NewMessage(boltqueue.MessageID(d.ID), body)
		m.ReceiveCount, m.SentAt, m.FailedAt, m.Reason = d.Attempts, d.SentAt, d.FailedAt, d.Reason
		p.Messages = append(p.Messages, m)
	}
	return p, nil
}

// Redrive moves each selected dead letter back in one transaction (copy and delete
// commit together), keeping its id.
func (a *Queue) Redrive(ctx context.Context, sel dlq.Selection) ([]dlq.Outcome, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	ids := sel.IDs
	if sel.All {
		ds, err := a.q.DeadLetters(sel.Max)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", dlq.ErrUnavailable, err)
		}
		ids = make([]string, len(ds))
		for i, d := range ds {
			ids[i] = boltqueue.MessageID(d.ID)
		}
	}
	out := make([]dlq.Outcome, 0, len(ids))
	for _, s := range ids {
		id, err := boltqueue.ParseMessageID(s)
		if err != nil {
			out = append(out, dlq.Outcome{ID: s, Status: dlq.NotFound, Error: "not a message id of the embedded queue (16 hex digits)"})
			continue
		}
		n, err := a.q.Redrive(ctx, id)
		switch {
		case errors.Is(err, queue.ErrUnavailable): // closed or cancelled before the move was submitted
			return out, fmt.Errorf("%w: %w", dlq.ErrUnavailable, err)
		case err != nil:
			out = append(out, dlq.Outcome{ID: s, Status: dlq.SendFailed, Error: "the queue could not commit the move"})
		case n == 0:
			out = append(out, dlq.Outcome{ID: s, Status: dlq.NotFound})
		default:
			out = append(out, dlq.Outcome{ID: s, Status: dlq.Redriven, NewID: s})
		}
	}
	return out, nil
}
