// Package queue is the port between the webhook and the durable queue. Adapters:
// sqsqueue (AWS SQS) and boltqueue (embedded, for the local server).
package queue

import (
	"context"
	"errors"
)

// ErrUnavailable wraps every failure to enqueue: the webhook must not acknowledge.
var ErrUnavailable = errors.New("queue: unavailable")

// Message is one envelope to enqueue, with the attributes consumers and operators use.
type Message struct {
	Body     []byte
	EventKey string
	CallID   string
}

// Sender durably enqueues a message; when Send returns nil the message survives a crash.
type Sender interface {
	Send(ctx context.Context, m Message) error
}
