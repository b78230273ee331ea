// Package persist turns a batch of queued callbacks into record updates: the SQS
// consumer in Lambda and the embedded-queue consumer of the local server run this same
// code.
//
// Failure policy (README "Persist"): a message that cannot be decoded is permanent — it
// is logged, its reason recorded, and it is reported failed so the queue moves it to the
// dead-letter queue after maxReceiveCount receives (never dropped silently). Store
// errors (throttling, timeouts, conflicts that kept coming back) are transient: the
// message is reported failed and redelivered. Near the invocation deadline the handler
// stops and reports what it has not done.
package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/store"
)

// ErrPermanent marks a message no retry can fix.
var ErrPermanent = errors.New("persist: permanent failure")

// ErrDeadline marks a message left undone because the invocation was about to time out.
var ErrDeadline = errors.New("persist: stopped before the deadline")

// Message is one queued envelope.
type Message struct {
	ID           string
	Body         []byte
	ReceiveCount int
}

// FailureRecorder keeps the reason a message failed, for the dead-letter tooling (SQS
// itself has no place for it).
type FailureRecorder interface {
	RecordFailure(ctx context.Context, messageID, reason string, receiveCount int) error
}

// Options tune the handler.
type Options struct {
	// DeadlineMargin: stop starting work this long before the context deadline.
	DeadlineMargin time.Duration // default 2s
	// ChunkCalls: calls merged per store round; the deadline is checked between rounds.
	ChunkCalls int // default 25
	// RecordTransientAfter: record the reason of a transient failure from this receive on
	// (permanent failures are always recorded).
	RecordTransientAfter int // default 3
}

// Handler processes batches.
type Handler struct {
	store    store.Writer
	failures FailureRecorder // may be nil
	log      *slog.Logger
	opts     Options
}

// New returns a handler writing to st.
func New(st store.Writer, failures FailureRecorder, log *slog.Logger, opts Options) *Handler {
	if opts.DeadlineMargin == 0 {
		opts.DeadlineMargin = 2 * time.Second
	}
	if opts.ChunkCalls <= 0 {
		opts.ChunkCalls = 25
	}
	if opts.RecordTransientAfter <= 0 {
		opts.RecordTransientAfter = 3
	}
	return &Handler{store: st, failures: failures, log: log, opts: opts}
}

// HandleSQS is the Lambda handler: failed messages are returned as batchItemFailures.
// When every message failed it also returns an error, so the invocation counts as
// failed in metrics (the effect on the queue is the same).
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	msgs := make([]Message, len(ev.Records))
	for i, r := range ev.Records {
		n, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
		msgs[i] = Message{ID: r.MessageId, Body: []byte(r.Body), ReceiveCount: n}
	}
	errs := h.Process(ctx, msgs)
	var res events.SQSEventResponse
	for i, err := range errs {
		if err != nil {
			res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msgs[i].ID})
		}
	}
	if len(msgs) > 0 && len(res.BatchItemFailures) == len(msgs) {
		return res, fmt.Errorf("persist: all %d messages failed", len(msgs))
	}
	return res, nil
}

type decoded struct {
	env envelope.Envelope
	inc store.Incoming
}

// Process handles a batch and returns one error per message (nil: applied).
func (h *Handler) Process(ctx context.Context, msgs []Message) []error {
	start := time.Now()
	errs := make([]error, len(msgs))
	dec := make([]decoded, len(msgs))
	for i := range msgs {
		dec[i], errs[i] = decode(msgs[i].Body)
	}

	// One update per call; each call is written once per round.
	type group struct {
		update store.Update
		msgs   []int
	}
	var groups []*group
	byKey := map[store.CallKey]*group{}
	for i := range msgs {
		if errs[i] != nil {
			continue
		}
		cb := &dec[i].inc.Callback
		k := store.CallKey{App: cb.SDKAppID, CallID: cb.CallID}
		g := byKey[k]
		if g == nil {
			g = &group{update: store.Update{Key: k}}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.update.Callbacks = append(g.update.Callbacks, dec[i].inc)
		g.update.Redelivered = g.update.Redelivered || msgs[i].ReceiveCount > 1
		g.msgs = append(g.msgs, i)
	}

	wctx, cancel := h.workContext(ctx)
	defer cancel()
	for lo := 0; lo < len(groups); lo += h.opts.ChunkCalls {
		chunk := groups[lo:min(lo+h.opts.ChunkCalls, len(groups))]
		if wctx.Err() != nil {
			for _, g := range chunk {
				for _, i := range g.msgs {
					errs[i] = ErrDeadline
				}
			}
			continue
		}
		updates := make([]store.Update, len(chunk))
		for j, g := range chunk {
			updates[j] = g.update
		}
		for j, err := range h.store.Apply(wctx, updates) {
			for _, i := range chunk[j].msgs {
				errs[i] = err
			}
		}
	}

	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		h.reportFailure(ctx, msgs[i], dec[i].env, err)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "batch persisted",
		slog.Int("messages", len(msgs)), slog.Int("calls", len(groups)), slog.Int("failed", failed),
		slog.Duration("took", time.Since(start)))
	return errs
}

// workContext ends DeadlineMargin before ctx's deadline, so writes stop in time to
// report the rest instead of the whole invocation timing out.
func (h *Handler) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-h.opts.DeadlineMargin))
	}
	return context.WithCancel(ctx)
}

func decode(body []byte) (decoded, error) {
	env, err := envelope.Unmarshal(body)
	if err != nil {
		return decoded{}, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	cb, err := callback.Parse(env.Values(), env.Body)
	if err != nil {
		return decoded{env: env}, fmt.Errorf("%w: callback no longer valid: %w", ErrPermanent, err)
	}
	if cb.SDKAppID != env.SDKAppID || cb.CallID != env.CallID {
		return decoded{env: env}, fmt.Errorf("%w: envelope says app %d call %q, callback says app %d call %q", ErrPermanent, env.SDKAppID, env.CallID, cb.SDKAppID, cb.CallID)
	}
	return decoded{env: env, inc: store.Incoming{Callback: cb, ReceivedAt: env.ReceivedAt, Body: env.Body, Query: env.Query}}, nil
}

// Classify names an error's class for logs and reason records.
func Classify(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrPermanent), errors.Is(err, store.ErrCorrupt):
		return "permanent"
	case errors.Is(err, ErrDeadline):
		return "deadline"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	default:
		return "transient"
	}
}

func (h *Handler) reportFailure(ctx context.Context, m Message, env envelope.Envelope, err error) {
	class := Classify(err)
	level := slog.LevelWarn
	if class == "permanent" {
		level = slog.LevelError
	}
	h.log.LogAttrs(ctx, level, "message failed",
		slog.String("messageId", m.ID), slog.String("class", class), slog.Int("receiveCount", m.ReceiveCount),
		slog.String("callId", env.CallID), slog.String("eventKey", env.EventKey), slog.String("error", err.Error()))
	if h.failures == nil || (class != "permanent" && m.ReceiveCount < h.opts.RecordTransientAfter) {
		return
	}
	if rerr := h.failures.RecordFailure(ctx, m.ID, class+": "+err.Error(), m.ReceiveCount); rerr != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "recording failure reason", slog.String("messageId", m.ID), slog.String("error", rerr.Error()))
	}
}
