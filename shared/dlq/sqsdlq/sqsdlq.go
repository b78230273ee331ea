// Package sqsdlq is the dead-letter port over an SQS dead-letter queue.
//
// SQS has no "peek": reading a message means receiving it, which hides it for a
// visibility timeout and counts a receive. Listing therefore receives with a timeout
// long enough to cover the listing (so no message is returned twice), then makes every
// message it received visible again at once (visibility 0). Redrive receives the same
// way, sends each selected message to the main queue with its body and message
// attributes, and deletes it from the DLQ only after that send succeeded; messages it
// did not move are made visible again.
//
// SQS keeps a message's id when it moves it to the DLQ, so the failure reason the
// persister recorded under that id (store.FailureLog) is looked up for each message.
// Standard queues only (the template's); FIFO queues would need group ids carried over.
package sqsdlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/store"
)

// API is the part of the SQS client the adapter uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ListDeadLetterSourceQueues(ctx context.Context, in *sqs.ListDeadLetterSourceQueuesInput, optFns ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error)
}

// Reasons looks up why a message failed; store.FailureLog implements it.
type Reasons interface {
	Failure(ctx context.Context, messageID string) (store.Failure, error)
}

// Options configure the adapter.
type Options struct {
	DLQURL   string
	QueueURL string  // where Redrive sends; found with ListDeadLetterSourceQueues when empty
	Reasons  Reasons // nil: reasons are not looked up
	// Hold is how long received messages stay invisible while an operation runs
	// (default 60s); they are made visible again as soon as it ends.
	Hold time.Duration
	// Wait is the long-poll wait of each receive (default 1s). Long polling asks every
	// SQS server, so an empty answer means the visible messages are exhausted.
	Wait time.Duration
}

// Queue is a dlq.Queue over one SQS dead-letter queue.
type Queue struct {
	api  API
	opts Options
}

var _ dlq.Queue = (*Queue)(nil)

// New returns the adapter.
func New(api API, opts Options) *Queue {
	if opts.Hold <= 0 {
		opts.Hold = 60 * time.Second
	}
	if opts.Wait < 0 {
		opts.Wait = 0
	} else if opts.Wait == 0 {
		opts.Wait = time.Second
	}
	return &Queue{api: api, opts: opts}
}

// received is one message taken off the DLQ for the duration of an operation.
type received struct {
	msg     types.Message
	id      string
	handled bool // deleted (redriven): no visibility reset
}

// List receives up to max messages and releases them all.
func (q *Queue) List(ctx context.Context, max int) (dlq.Page, error) {
	max = dlq.ClampMax(max)
	var page dlq.Page
	total, err := q.depth(ctx)
	if err != nil {
		return page, err
	}
	page.Total, page.Approximate = total, true

	var held []*received
	seen := map[string]bool{}
	for len(page.Messages) < max {
		ms, err := q.receive(ctx, min(10, max-len(page.Messages)))
		if err != nil {
			_ = q.release(held)
			return page, err
		}
		fresh := 0
		for _, m := range ms {
			r := &received{msg: m, id: aws.ToString(m.MessageId)}
			held = append(held, r)
			if seen[r.id] { // its hold expired during a long listing: shown already
				continue
			}
			seen[r.id] = true
			fresh++
			page.Messages = append(page.Messages, q.describe(ctx, m))
		}
		if fresh == 0 {
			break
		}
	}
	page.Warnings = q.release(held)
	return page, nil
}

// Redrive moves the selected messages to the main queue.
func (q *Queue) Redrive(ctx context.Context, sel dlq.Selection) ([]dlq.Outcome, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	target, err := q.target(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range sel.IDs {
		want[id] = true
	}
	var (
		out     []dlq.Outcome
		held    []*received
		seen    = map[string]bool{}
		scanned int
		found   int
	)
	defer func() { _ = q.release(held) }()
	done := func() bool {
		if sel.All {
			return len(out) >= sel.Max
		}
		return found == len(want) || scanned >= sel.Max
	}
	for !done() {
		n := 10
		if sel.All {
			n = min(n, sel.Max-len(out))
		}
		ms, err := q.receive(ctx, n)
		if err != nil {
			return out, err
		}
		fresh := 0
		for _, m := range ms {
			r := &received{msg: m, id: aws.ToString(m.MessageId)}
			held = append(held, r)
			if seen[r.id] {
				continue
			}
			seen[r.id] = true
			fresh++
			scanned++
			if !sel.All && !want[r.id] || sel.All && len(out) >= sel.Max {
				continue
			}
			found++
			o := q.move(ctx, target, r)
			out = append(out, o)
		}
		if fresh == 0 {
			break
		}
	}
	for _, id := range sel.IDs { // in the order given
		if !seen[id] {
			out = append(out, dlq.Outcome{ID: id, Status: dlq.NotFound})
		}
	}
	return out, nil
}

// move sends one message to target and, only once SQS has it, deletes it from the DLQ.
func (q *Queue) move(ctx context.Context, target string, r *received) dlq.Outcome {
	o := dlq.Outcome{ID: r.id}
	sent, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(target),
		MessageBody:       r.msg.Body,
		MessageAttributes: r.msg.MessageAttributes,
	})
	if err != nil {
		o.Status, o.Error = dlq.SendFailed, "the main queue did not accept it: "+errorCode(err)
		return o
	}
	o.NewID = aws.ToString(sent.MessageId)
	if _, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.opts.DLQURL), ReceiptHandle: r.msg.ReceiptHandle}); err != nil {
		o.Status, o.Error = dlq.DeleteFailed, "queued again, but still in the dead-letter queue: "+errorCode(err)
		return o
	}
	r.handled = true
	o.Status = dlq.Redriven
	return o
}

func (q *Queue) receive(ctx context.Context, n int) ([]types.Message, error) {
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.opts.DLQURL),
		MaxNumberOfMessages:         int32(n),
		VisibilityTimeout:           int32(q.opts.Hold / time.Second),
		WaitTimeSeconds:             int32(q.opts.Wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, unavailable("ReceiveMessage", err)
	}
	return out.Messages, nil
}

// release makes every message still held visible again. A failure only delays them
// until the hold ends, so it is reported, not fatal.
func (q *Queue) release(held []*received) []string {
	var entries []types.ChangeMessageVisibilityBatchRequestEntry
	for i, r := range held {
		if !r.handled {
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: r.msg.ReceiptHandle, VisibilityTimeout: 0,
			})
		}
	}
	var warnings []string
	// The caller's context may be cancelled; releasing is still worth a short try.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for lo := 0; lo < len(entries); lo += 10 {
		chunk := entries[lo:min(lo+10, len(entries))]
		out, err := q.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.opts.DLQURL), Entries: chunk})
		switch {
		case err != nil:
			warnings = append(warnings, fmt.Sprintf("%d messages stay hidden for up to %v: ChangeMessageVisibilityBatch failed (%s)", len(chunk), q.opts.Hold, errorCode(err)))
		case len(out.Failed) > 0:
			warnings = append(warnings, fmt.Sprintf("%d messages stay hidden for up to %v (%s)", len(out.Failed), q.opts.Hold, aws.ToString(out.Failed[0].Code)))
		}
	}
	return warnings
}

func (q *Queue) describe(ctx context.Context, m types.Message) dlq.Message {
	id := aws.ToString(m.MessageId)
	d := dlq.NewMessage(id, []byte(aws.ToString(m.Body)))
	if len(m.MessageAttributes) > 0 {
		d.Attributes = map[string]string{}
		for k, v := range m.MessageAttributes {
			d.Attributes[k] = aws.ToString(v.StringValue)
		}
	}
	d.SentAt, _ = strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
	// This receive counted one more: report the consumers' receives.
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		d.ReceiveCount = max(n-1, 0)
	}
	if q.opts.Reasons == nil {
		return d
	}
	f, err := q.opts.Reasons.Failure(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		d.ReasonError = "failure log unavailable"
	default:
		d.Reason, d.FailedAt = f.Reason, f.At
		if f.ReceiveCount > 0 {
			d.ReceiveCount = f.ReceiveCount
		}
	}
	return d
}

func (q *Queue) depth(ctx context.Context) (int64, error) {
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.opts.DLQURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, unavailable("GetQueueAttributes", err)
	}
	var n int64
	for _, a := range []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, _ := strconv.ParseInt(out.Attributes[string(a)], 10, 64)
		n += v
	}
	return n, nil
}

// target is the main queue: given, or the one queue whose redrive policy names the DLQ.
func (q *Queue) target(ctx context.Context) (string, error) {
	if q.opts.QueueURL != "" {
		return q.opts.QueueURL, nil
	}
	out, err := q.api.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(q.opts.DLQURL), MaxResults: aws.Int32(10)})
	if err != nil {
		return "", unavailable("ListDeadLetterSourceQueues", err)
	}
	switch len(out.QueueUrls) {
	case 1:
		return out.QueueUrls[0], nil
	case 0:
		return "", fmt.Errorf("%w: no queue sends its dead letters to %s; name the main queue", dlq.ErrNoTarget, q.opts.DLQURL)
	default:
		return "", fmt.Errorf("%w: several queues use %s as their DLQ (%v); name the main queue", dlq.ErrNoTarget, q.opts.DLQURL, out.QueueUrls)
	}
}

func unavailable(op string, err error) error {
	var nq *types.QueueDoesNotExist
	if errors.As(err, &nq) {
		return fmt.Errorf("%w: %s: the queue does not exist", dlq.ErrNoQueue, op)
	}
	return fmt.Errorf("%w: %s: %w", dlq.ErrUnavailable, op, err)
}

// errorCode names an SQS failure without the request details.
func errorCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var nq *types.QueueDoesNotExist
	if errors.As(err, &nq) {
		return "QueueDoesNotExist"
	}
	return "request failed"
}
