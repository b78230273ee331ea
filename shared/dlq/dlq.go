// Package dlq is the port of the dead-letter tooling: list the messages a queue gave up
// on, with the reason they failed, and move them back to the main queue once the cause
// is fixed. Adapters: sqsdlq (an SQS dead-letter queue, reasons from the store's failure
// log), boltdlq (the embedded queue's dead-letter bucket) and dlqsock (a running local
// server's dead letters, over its admin socket).
//
// Redriving is safe to repeat: a message is deleted from the dead letters only after the
// main queue holds it, so a failure in between leaves a copy in both places, and the
// persister applies a callback any number of times with the same result.
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/callkit-records/callkit-records/shared/envelope"
)

// Sentinel errors; adapters wrap their causes so callers classify with errors.Is.
var (
	ErrUnavailable = errors.New("dlq: queue unavailable")
	ErrLocked      = errors.New("dlq: queue file is in use by another process")
	ErrNoQueue     = errors.New("dlq: no such queue")
	ErrNoTarget    = errors.New("dlq: cannot tell which queue to redrive to")
	ErrBadRequest  = errors.New("dlq: bad request")
)

// Limits keep every operation bounded.
const (
	DefaultMax = 100
	MaxMax     = 1000
)

// Message is one dead letter.
type Message struct {
	ID         string            `json:"id"`
	Body       json.RawMessage   `json:"body,omitempty"`    // the message, when it is JSON (envelopes are)
	RawBody    []byte            `json:"rawBody,omitempty"` // the message, when it is not JSON (base64 in JSON)
	Attributes map[string]string `json:"attributes,omitempty"`
	// ReceiveCount is how many times consumers received it (as the failure log or the
	// queue counted it; SQS counts approximately).
	ReceiveCount int    `json:"receiveCount"`
	SentAt       int64  `json:"sentAt,omitempty"`   // Unix milliseconds, first enqueued
	FailedAt     int64  `json:"failedAt,omitempty"` // Unix milliseconds, last failure recorded
	Reason       string `json:"reason"`             // "" when none was recorded
	// ReasonError says why the reason could not be looked up (SQS: failure log unreachable).
	ReasonError string `json:"reasonError,omitempty"`
	// From the envelope, when the body is one.
	CallID   string `json:"callId,omitempty"`
	EventKey string `json:"eventKey,omitempty"`
}

// NewMessage fills the body fields and what the envelope says about the callback.
func NewMessage(id string, body []byte) Message {
	m := Message{ID: id}
	if json.Valid(body) {
		m.Body = append(json.RawMessage(nil), body...)
	} else {
		m.RawBody = append([]byte(nil), body...)
	}
	if env, err := envelope.Unmarshal(body); err == nil {
		m.CallID, m.EventKey = env.CallID, env.EventKey
	}
	return m
}

// Bytes returns the message body as queued.
func (m *Message) Bytes() []byte {
	if m.RawBody != nil {
		return m.RawBody
	}
	return m.Body
}

// Page is a listing.
type Page struct {
	Messages []Message `json:"messages"`
	// Total is how many dead letters the queue holds (SQS: approximately, including
	// messages other readers hold invisible).
	Total       int64 `json:"total"`
	Approximate bool  `json:"approximate,omitempty"`
	// Warnings are problems that did not stop the listing.
	Warnings []string `json:"warnings,omitempty"`
}

// Selection names the dead letters to redrive: IDs, or All (at most Max).
type Selection struct {
	IDs []string `json:"ids,omitempty"`
	All bool     `json:"all,omitempty"`
	Max int      `json:"max,omitempty"` // with All: how many to move; with IDs: how many to scan (SQS)
}

// Validate checks the selection and fills the default Max.
func (s *Selection) Validate() error {
	switch {
	case s.All && len(s.IDs) > 0:
		return fmt.Errorf("%w: give message ids or all, not both", ErrBadRequest)
	case !s.All && len(s.IDs) == 0:
		return fmt.Errorf("%w: give message ids, or all", ErrBadRequest)
	case len(s.IDs) > MaxMax:
		return fmt.Errorf("%w: too many ids at once", ErrBadRequest)
	case s.Max < 0 || s.Max > MaxMax:
		return fmt.Errorf("%w: max must be between 1 and 1000", ErrBadRequest)
	}
	if s.Max == 0 {
		s.Max = MaxMax
		if s.All {
			s.Max = DefaultMax
		}
	}
	return nil
}

// Status is the outcome of redriving one message.
type Status string

const (
	Redriven Status = "redriven" // in the main queue, gone from the dead letters
	NotFound Status = "not_found"
	// SendFailed: the main queue did not take it; it is still a dead letter, unchanged.
	SendFailed Status = "send_failed"
	// DeleteFailed: it is in the main queue, and still a dead letter too. Redriving it
	// again queues a second copy, which persistence absorbs.
	DeleteFailed Status = "delete_failed"
)

// Outcome is what happened to one selected message.
type Outcome struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	NewID  string `json:"newId,omitempty"` // its id in the main queue
	Error  string `json:"error,omitempty"`
}

// Queue is a dead-letter queue.
type Queue interface {
	// List returns up to max dead letters, oldest first where the queue knows the order,
	// without consuming them: afterwards they are all still there, visible.
	List(ctx context.Context, max int) (Page, error)
	// Redrive moves the selected dead letters to the main queue and reports each one.
	// The error is for failures that stopped the whole operation; outcomes gathered
	// before it are still returned.
	Redrive(ctx context.Context, sel Selection) ([]Outcome, error)
}

// ClampMax applies the default and the cap to a listing size.
func ClampMax(n int) int {
	if n <= 0 {
		return DefaultMax
	}
	return min(n, MaxMax)
}
