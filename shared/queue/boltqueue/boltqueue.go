// Package boltqueue is the embedded durable queue of the local server, on bbolt.
//
// Send returns only after the message is committed and fsynced. A single writer
// goroutine turns every operation that arrives while a commit is in flight into the next
// commit (group commit), so concurrent webhooks share one fsync without a fixed delay.
// Consumers get SQS-like semantics: receive with a visibility timeout, delete on success,
// a persisted receive count on failure, and a dead-letter bucket after MaxReceiveCount.
package boltqueue

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/callkit-records/callkit-records/shared/queue"
)

var (
	bucketMsgs = []byte("messages")
	bucketDead = []byte("dead")
)

// ErrClosed is returned by operations on a closed queue.
var ErrClosed = errors.New("boltqueue: closed")

// Options tune the queue; zero values take the defaults.
type Options struct {
	MaxReceiveCount int                             // default 5 (like the template's redrive policy)
	Backoff         func(attempt int) time.Duration // delay before a failed message is visible again
	Now             func() time.Time
}

// Queue is a durable FIFO queue in one bbolt file.
type Queue struct {
	db   *bolt.DB
	opts Options

	ops        chan *op
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	mu     sync.Mutex
	hidden map[uint64]time.Time // in flight or backing off: visible again at
	wake   chan struct{}        // closed after each commit that added messages

	depth atomic.Int64
	dead  atomic.Int64
}

type opKind uint8

const (
	opSend opKind = iota
	opDelete
	opFail
	opRedrive
	opReceived // a delivery happened: count it durably, as SQS counts receives
)

type op struct {
	kind   opKind
	body   []byte
	id     uint64
	reason string
	done   chan error // nil for fire-and-forget operations
	force  bool       // opFail: dead-letter now, whatever the count
	moved  bool       // set by commit: a failed message went to the dead-letter bucket
	retry  time.Time  // set by commit: when a failed message is visible again
}

// Delivery is a received message.
type Delivery struct {
	ID           uint64
	Body         []byte
	ReceiveCount int   // 1 on first delivery
	SentAt       int64 // Unix milliseconds
}

// MessageID renders a delivery id the way the local server reports it.
func MessageID(id uint64) string { return fmt.Sprintf("%016x", id) }

// ParseMessageID reverses MessageID.
func ParseMessageID(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

// DeadLetter is a message that exhausted its receives.
type DeadLetter struct {
	ID       uint64          `json:"id"`
	Body     json.RawMessage `json:"body"`    // the message, when it is JSON (envelopes are)
	RawBody  []byte          `json:"rawBody"` // the message, when it is not JSON (else null)
	Attempts int             `json:"attempts"`
	Reason   string          `json:"reason"`
	FailedAt int64           `json:"failedAt"` // Unix milliseconds
	SentAt   int64           `json:"sentAt"`
}

// Open opens (or creates) the queue file at path.
func Open(path string, opts Options) (*Queue, error) {
	if opts.MaxReceiveCount <= 0 {
		opts.MaxReceiveCount = 5
	}
	if opts.Backoff == nil {
		opts.Backoff = func(attempt int) time.Duration {
			d := 100 * time.Millisecond << min(attempt, 8) // 200ms, 400ms … ~25s
			return d
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         2 * time.Second, // another process holds the file: fail, don't hang
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("boltqueue: open %s: %w", path, err)
	}
	q := &Queue{
		db:         db,
		opts:       opts,
		ops:        make(chan *op, 8192),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		hidden:     make(map[uint64]time.Time),
		wake:       make(chan struct{}),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMsgs)
		if err != nil {
			return err
		}
		d, err := tx.CreateBucketIfNotExists(bucketDead)
		if err != nil {
			return err
		}
		q.depth.Store(int64(m.Stats().KeyN))
		q.dead.Store(int64(d.Stats().KeyN))
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltqueue: init %s: %w", path, err)
	}
	go q.writer()
	return q, nil
}

// Send durably enqueues m (queue.Sender). It returns queue.ErrUnavailable-wrapped errors.
func (q *Queue) Send(ctx context.Context, m queue.Message) error {
	_, err := q.SendID(ctx, m.Body)
	return err
}

// SendID enqueues body and returns its id once committed.
func (q *Queue) SendID(ctx context.Context, body []byte) (uint64, error) {
	o := &op{kind: opSend, body: body, done: make(chan error, 1)}
	if err := q.submit(ctx, o); err != nil {
		return 0, err
	}
	select {
	case err := <-o.done:
		if err != nil {
			return 0, fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
		}
		return o.id, nil
	case <-ctx.Done():
		// It may still commit; the webhook did not ack, so Tencent retries: a duplicate.
		return 0, fmt.Errorf("%w: %w", queue.ErrUnavailable, ctx.Err())
	case <-q.writerDone:
		select {
		case err := <-o.done:
			if err == nil {
				return o.id, nil
			}
		default:
		}
		return 0, fmt.Errorf("%w: %w", queue.ErrUnavailable, ErrClosed)
	}
}

func (q *Queue) submit(ctx context.Context, o *op) error {
	select {
	case <-q.closing:
		return fmt.Errorf("%w: %w", queue.ErrUnavailable, ErrClosed)
	default:
	}
	select {
	case q.ops <- o:
		return nil
	case <-q.closing:
		return fmt.Errorf("%w: %w", queue.ErrUnavailable, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", queue.ErrUnavailable, ctx.Err())
	}
}

// Receive returns up to max visible messages, hiding them for visibility. It waits up to
// wait for messages to arrive.
func (q *Queue) Receive(ctx context.Context, max int, visibility, wait time.Duration) ([]Delivery, error) {
	deadline := q.opts.Now().Add(wait)
	for {
		select {
		case <-q.closing:
			return nil, ErrClosed
		default:
		}
		out, wake, err := q.scan(max, visibility)
		if err != nil || len(out) > 0 {
			return out, err
		}
		left := deadline.Sub(q.opts.Now())
		if left <= 0 {
			return nil, nil
		}
		// Hidden messages become visible without a commit, so poll at a short interval too.
		t := time.NewTimer(min(left, 100*time.Millisecond))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-q.closing:
			t.Stop()
			return nil, ErrClosed
		}
		t.Stop()
	}
}

func (q *Queue) scan(max int, visibility time.Duration) ([]Delivery, chan struct{}, error) {
	out, exhausted, wake, err := q.scanLocked(max, visibility)
	// Submitted outside the lock: the writer takes it after each commit.
	for _, d := range out {
		_ = q.submit(context.Background(), &op{kind: opReceived, id: d.ID})
	}
	for _, d := range exhausted {
		reason := fmt.Sprintf("received %d times without completing (the consumer crashed or timed out)", d.ReceiveCount-1)
		_ = q.submit(context.Background(), &op{kind: opFail, id: d.ID, reason: reason, force: true})
	}
	return out, wake, err
}

// scanLocked picks visible messages. A message already received MaxReceiveCount times
// without being deleted or failed (its consumer crashed) is not delivered again but
// dead-lettered, so a poison message cannot loop forever.
func (q *Queue) scanLocked(max int, visibility time.Duration) (out, exhausted []Delivery, wake chan struct{}, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	wake = q.wake
	now := q.opts.Now()
	err = q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMsgs).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			id := binary.BigEndian.Uint64(k)
			if until, ok := q.hidden[id]; ok && until.After(now) {
				continue
			}
			attempts, sent, body := decode(v)
			d := Delivery{ID: id, ReceiveCount: attempts + 1, SentAt: sent}
			if attempts >= q.opts.MaxReceiveCount {
				exhausted = append(exhausted, d)
				continue
			}
			d.Body = append([]byte(nil), body...)
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, nil, wake, err
	}
	for _, d := range out {
		q.hidden[d.ID] = now.Add(visibility)
	}
	for _, d := range exhausted {
		q.hidden[d.ID] = now.Add(time.Hour) // until the dead-lettering commits
	}
	return out, exhausted, wake, nil
}

// Delete removes successfully processed messages. It does not wait for the commit: a
// delete lost in a crash only causes a redelivery, which persistence absorbs.
func (q *Queue) Delete(ids ...uint64) {
	for _, id := range ids {
		_ = q.submit(context.Background(), &op{kind: opDelete, id: id})
	}
}

// Fail records a failed attempt: the message becomes visible again after a backoff, or
// moves to the dead-letter bucket once it has been received MaxReceiveCount times.
// Receives are counted when they happen, so a consumer that crashes mid-batch (and
// never calls Fail) also exhausts a poison message's receives.
func (q *Queue) Fail(id uint64, reason string) {
	q.mu.Lock()
	q.hidden[id] = q.opts.Now().Add(q.opts.Backoff(1))
	q.mu.Unlock()
	_ = q.submit(context.Background(), &op{kind: opFail, id: id, reason: reason})
}

// Redrive moves dead letters back to the queue (all of them when ids is empty) and
// returns how many moved.
func (q *Queue) Redrive(ctx context.Context, ids ...uint64) (int, error) {
	if len(ids) == 0 {
		for _, d := range q.mustDead() {
			ids = append(ids, d.ID)
		}
	}
	var errs []error
	n := 0
	for _, id := range ids {
		o := &op{kind: opRedrive, id: id, done: make(chan error, 1)}
		if err := q.submit(ctx, o); err != nil {
			return n, err
		}
		if err := <-o.done; err != nil {
			errs = append(errs, err)
			continue
		}
		if o.moved {
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (q *Queue) mustDead() []DeadLetter {
	d, _ := q.DeadLetters(0)
	return d
}

// DeadLetters lists up to limit dead letters (all when limit ≤ 0), oldest first.
func (q *Queue) DeadLetters(limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("boltqueue: dead letter %x: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Stats is a snapshot of the queue.
type Stats struct {
	Depth    int64 // messages not yet deleted (visible or in flight)
	InFlight int   // hidden: being processed or backing off
	Dead     int64
}

// Stats returns the current counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	now, n := q.opts.Now(), 0
	for _, until := range q.hidden {
		if until.After(now) { // an expired visibility timeout is no longer in flight
			n++
		}
	}
	q.mu.Unlock()
	return Stats{Depth: q.depth.Load(), InFlight: n, Dead: q.dead.Load()}
}

// Close commits pending operations, stops the writer and closes the file.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { close(q.closing) })
	<-q.writerDone
	return q.db.Close()
}

// --- writer -------------------------------------------------------------------------

const maxCommitOps = 4096

func (q *Queue) writer() {
	defer close(q.writerDone)
	batch := make([]*op, 0, 256)
	for {
		batch = batch[:0]
		select {
		case o := <-q.ops:
			batch = append(batch, o)
		case <-q.closing:
			// Commit whatever was submitted before closing began.
			for {
				select {
				case o := <-q.ops:
					batch = append(batch, o)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				q.apply(batch)
			}
			return
		}
	drain:
		for len(batch) < maxCommitOps {
			select {
			case o := <-q.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		q.apply(batch)
	}
}

func (q *Queue) apply(batch []*op) {
	now := q.opts.Now()
	err := q.db.Update(func(tx *bolt.Tx) error {
		msgs, dead := tx.Bucket(bucketMsgs), tx.Bucket(bucketDead)
		for _, o := range batch {
			o.moved, o.retry = false, time.Time{}
			switch o.kind {
			case opSend:
				seq, err := msgs.NextSequence()
				if err != nil {
					return err
				}
				o.id = seq
				if err := msgs.Put(key(seq), encode(0, now.UnixMilli(), o.body)); err != nil {
					return err
				}
			case opDelete:
				if msgs.Get(key(o.id)) == nil {
					continue // deleted before, or dead-lettered meanwhile
				}
				if err := msgs.Delete(key(o.id)); err != nil {
					return err
				}
				o.moved = true
			case opFail:
				if err := q.applyFail(msgs, dead, o, now); err != nil {
					return err
				}
			case opReceived:
				v := msgs.Get(key(o.id))
				if v == nil {
					continue // processed and deleted already
				}
				attempts, sent, body := decode(v)
				if err := msgs.Put(key(o.id), encode(attempts+1, sent, body)); err != nil {
					return err
				}
			case opRedrive:
				v := dead.Get(key(o.id))
				if v == nil {
					continue
				}
				var d DeadLetter
				if err := json.Unmarshal(v, &d); err != nil {
					return err
				}
				body := []byte(d.Body)
				if d.RawBody != nil {
					body = d.RawBody
				}
				if err := msgs.Put(key(o.id), encode(0, d.SentAt, body)); err != nil {
					return err
				}
				if err := dead.Delete(key(o.id)); err != nil {
					return err
				}
				o.moved = true
			}
		}
		return nil
	})

	sent := false
	q.mu.Lock()
	for _, o := range batch {
		switch {
		case err != nil:
		case o.kind == opSend:
			q.depth.Add(1)
			sent = true
		case o.kind == opDelete:
			delete(q.hidden, o.id)
			if o.moved {
				q.depth.Add(-1)
			}
		case o.kind == opFail && o.moved:
			delete(q.hidden, o.id)
			q.depth.Add(-1)
			q.dead.Add(1)
		case o.kind == opFail && !o.retry.IsZero():
			q.hidden[o.id] = o.retry
		case o.kind == opFail: // the message was deleted meanwhile
			delete(q.hidden, o.id)
		case o.kind == opRedrive && o.moved:
			delete(q.hidden, o.id)
			q.depth.Add(1)
			q.dead.Add(-1)
			sent = true
		}
	}
	if sent {
		close(q.wake)
		q.wake = make(chan struct{})
	}
	q.mu.Unlock()
	for _, o := range batch {
		if o.done != nil {
			o.done <- err
		}
	}
}

func (q *Queue) applyFail(msgs, dead *bolt.Bucket, o *op, now time.Time) error {
	v := msgs.Get(key(o.id))
	if v == nil {
		return nil // deleted meanwhile (a concurrent success)
	}
	// The receive that led to this failure was already counted (opReceived precedes it).
	attempts, sent, body := decode(v)
	if !o.force && attempts < q.opts.MaxReceiveCount {
		o.retry = now.Add(q.opts.Backoff(attempts))
		return msgs.Put(key(o.id), encode(attempts, sent, body))
	}
	dl := DeadLetter{ID: o.id, Attempts: attempts, Reason: o.reason, FailedAt: now.UnixMilli(), SentAt: sent}
	if json.Valid(body) {
		dl.Body = body
	} else {
		// A RawMessage that is not JSON fails json.Marshal, which would roll back the
		// whole group commit (and every Send in it) and never dead-letter the message.
		dl.RawBody = body
	}
	d, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	if err := dead.Put(key(o.id), d); err != nil {
		return err
	}
	o.moved = true
	return msgs.Delete(key(o.id))
}

func key(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// Record layout: attempts (uint32) | sentAt ms (int64) | body.
func encode(attempts int, sentAt int64, body []byte) []byte {
	b := make([]byte, 12+len(body))
	binary.BigEndian.PutUint32(b, uint32(attempts))
	binary.BigEndian.PutUint64(b[4:], uint64(sentAt))
	copy(b[12:], body)
	return b
}

func decode(v []byte) (attempts int, sentAt int64, body []byte) {
	if len(v) < 12 {
		return 0, 0, v
	}
	return int(binary.BigEndian.Uint32(v)), int64(binary.BigEndian.Uint64(v[4:])), v[12:]
}
