// Package sqspoll emulates the Lambda event source mapping for SQS: it
// receives a batch from a queue, invokes the function with an
// events.SQSEvent, and deletes the messages the function processed.
//
// Semantics (ReportBatchItemFailures enabled, as the project's template
// configures it):
//   - the function returns an events.SQSEventResponse; every record not
//     listed in batchItemFailures is deleted (DeleteMessageBatch, ≤10 per
//     call);
//   - an empty or null response, {} or an empty batchItemFailures list means
//     the whole batch succeeded;
//   - a function error (including timeout and crash), an invalid JSON
//     response, or an itemIdentifier that is empty or is not a message id of
//     the batch fails the whole batch: nothing is deleted;
//   - failed messages are left alone: they reappear after the queue's
//     visibility timeout, and the queue's redrive policy moves them to the
//     DLQ after maxReceiveCount receives. The poller never changes message
//     visibility or sends to a DLQ itself.
//
// With DisableBatchItemFailures (a mapping without FunctionResponseTypes),
// any successful invocation deletes the whole batch and the response is
// ignored.
//
// Differences from AWS: one poller invokes one batch at a time (AWS scales
// pollers and concurrent invocations); MaximumBatchingWindow is not
// emulated.
package sqspoll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
)

// SQSAPI is the part of *sqs.Client the poller uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Invoker is what the poller needs from a function; *lambdaemu.Function
// implements it.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error)
}

// InvokerFunc adapts a function to Invoker.
type InvokerFunc func(ctx context.Context, payload []byte) (lambdaemu.Result, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
	return f(ctx, payload)
}

// MaxBatchSize is the SQS ReceiveMessage / DeleteMessageBatch limit.
const MaxBatchSize = 10

// Poller is one SQS event source mapping.
type Poller struct {
	SQS      SQSAPI
	QueueURL string
	// QueueARN is the eventSourceARN; derived from QueueURL and Region when
	// empty (arn:aws:sqs:REGION:ACCOUNT:NAME).
	QueueARN string
	// Region is the awsRegion of the records (default us-east-1).
	Region string
	// BatchSize is MaxNumberOfMessages, 1–10 (default 10).
	BatchSize int
	// WaitTime is the long-poll wait (WaitTimeSeconds, ≤20 s; default 0 =
	// short polling).
	WaitTime time.Duration
	Fn       Invoker
	Logger   *slog.Logger
	// DisableBatchItemFailures ignores the function's response, as a mapping
	// without FunctionResponseTypes: [ReportBatchItemFailures] does.
	DisableBatchItemFailures bool
	// IdleDelay is how long Run sleeps after an empty receive when WaitTime
	// is 0, and after an error (default 200 ms; errors back off up to 5 s).
	IdleDelay time.Duration
}

// Outcome describes one poll.
type Outcome struct {
	// Received is the number of messages in the batch (0: nothing to do).
	Received int
	// Deleted is the number of messages successfully deleted.
	Deleted int
	// Failed is the number of messages left on the queue because the
	// function reported them (or the whole batch) as failed.
	Failed int
	// DeleteErrors counts messages the function processed but whose deletion
	// failed (they will be redelivered, as on AWS).
	DeleteErrors int
	// BatchFailed is true when the whole batch failed.
	BatchFailed bool
	// FunctionError is the Result.FunctionError of the invocation, if any.
	FunctionError string
	// Reason explains a whole-batch failure.
	Reason string
	// FailedIDs are the message ids left on the queue.
	FailedIDs []string
}

func (p *Poller) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Poller) region() string {
	if p.Region != "" {
		return p.Region
	}
	return lambdaemu.DefaultRegion
}

func (p *Poller) queueARN() string {
	if p.QueueARN != "" {
		return p.QueueARN
	}
	return QueueARNFromURL(p.QueueURL, p.region())
}

// QueueARNFromURL derives arn:aws:sqs:REGION:ACCOUNT:NAME from a queue URL
// of the form http(s)://host/ACCOUNT/NAME.
func QueueARNFromURL(queueURL, region string) string {
	account, name := lambdaemu.AccountID, queueURL
	if u, err := url.Parse(queueURL); err == nil {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) >= 2 {
			account, name = parts[len(parts)-2], parts[len(parts)-1]
		} else if len(parts) == 1 && parts[0] != "" {
			name = parts[0]
		}
	}
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, account, name)
}

func (p *Poller) validate() error {
	switch {
	case p.SQS == nil:
		return errors.New("sqspoll: Poller.SQS is nil")
	case p.Fn == nil:
		return errors.New("sqspoll: Poller.Fn is nil")
	case p.QueueURL == "":
		return errors.New("sqspoll: Poller.QueueURL is empty")
	case p.BatchSize < 0 || p.BatchSize > MaxBatchSize:
		return fmt.Errorf("sqspoll: BatchSize %d out of range 1..%d", p.BatchSize, MaxBatchSize)
	case p.WaitTime < 0 || p.WaitTime > 20*time.Second:
		return fmt.Errorf("sqspoll: WaitTime %v out of range 0..20s", p.WaitTime)
	}
	return nil
}

// PollOnce receives one batch, invokes the function and deletes what
// succeeded. The error is for receive, invoke (emulator-level) and delete
// call failures; function failures are reported in the Outcome.
func (p *Poller) PollOnce(ctx context.Context) (Outcome, error) {
	var out Outcome
	if err := p.validate(); err != nil {
		return out, err
	}
	batch := p.BatchSize
	if batch == 0 {
		batch = MaxBatchSize
	}
	recv, err := p.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.QueueURL),
		MaxNumberOfMessages:         int32(batch),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
		WaitTimeSeconds:             int32(p.WaitTime / time.Second),
	})
	if err != nil {
		return out, fmt.Errorf("sqspoll: ReceiveMessage: %w", err)
	}
	if len(recv.Messages) == 0 {
		return out, nil
	}
	msgs := recv.Messages
	out.Received = len(msgs)
	ev := BuildEvent(msgs, p.queueARN(), p.region())
	payload, err := json.Marshal(ev)
	if err != nil {
		return out, fmt.Errorf("sqspoll: marshal event: %w", err)
	}

	log := p.logger().With("queue", p.QueueURL, "batch", len(msgs))
	res, err := p.Fn.Invoke(ctx, payload)
	if err != nil {
		p.failAll(&out, msgs, "invoke error: "+err.Error())
		return out, fmt.Errorf("sqspoll: invoke: %w", err)
	}
	if res.FunctionError != "" {
		out.FunctionError = res.FunctionError
		p.failAll(&out, msgs, fmt.Sprintf("function error (%s): %s", res.FunctionError, truncate(res.Payload, 256)))
		log.Warn("sqspoll: function error, batch left for redelivery", "payload", truncate(res.Payload, 512))
		return out, nil
	}

	failed := map[string]bool{}
	if !p.DisableBatchItemFailures {
		ids, reason := parseFailures(res.Payload, msgs)
		if reason != "" {
			p.failAll(&out, msgs, reason)
			log.Warn("sqspoll: invalid batch response, whole batch failed", "reason", reason)
			return out, nil
		}
		failed = ids
	}

	var toDelete []types.Message
	for _, m := range msgs {
		if failed[aws.ToString(m.MessageId)] {
			out.Failed++
			out.FailedIDs = append(out.FailedIDs, aws.ToString(m.MessageId))
			continue
		}
		toDelete = append(toDelete, m)
	}
	deleted, delErrs, err := p.deleteMessages(ctx, toDelete)
	out.Deleted, out.DeleteErrors = deleted, delErrs
	if out.Failed > 0 {
		log.Info("sqspoll: partial batch failure", "failed", out.Failed, "deleted", out.Deleted)
	}
	return out, err
}

func (p *Poller) failAll(out *Outcome, msgs []types.Message, reason string) {
	out.BatchFailed = true
	out.Reason = reason
	out.Failed = len(msgs)
	for _, m := range msgs {
		out.FailedIDs = append(out.FailedIDs, aws.ToString(m.MessageId))
	}
}

// parseFailures interprets the function's response. It returns the failed
// ids, or a non-empty reason when the response fails the whole batch.
func parseFailures(payload []byte, msgs []types.Message) (map[string]bool, string) {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, ""
	}
	var resp struct {
		BatchItemFailures []map[string]json.RawMessage `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(trimmed, &resp); err != nil {
		return nil, "invalid response: " + err.Error()
	}
	known := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		known[aws.ToString(m.MessageId)] = true
	}
	failed := map[string]bool{}
	for _, item := range resp.BatchItemFailures {
		raw, ok := item["itemIdentifier"]
		if !ok {
			return nil, "batchItemFailures entry without itemIdentifier"
		}
		var id string
		if err := json.Unmarshal(raw, &id); err != nil || id == "" {
			return nil, "empty or null itemIdentifier"
		}
		if !known[id] {
			return nil, fmt.Sprintf("itemIdentifier %q is not a message of this batch", id)
		}
		failed[id] = true
	}
	return failed, ""
}

// deleteMessages deletes msgs in batches of ≤10.
func (p *Poller) deleteMessages(ctx context.Context, msgs []types.Message) (deleted, failed int, err error) {
	var errs []error
	for start := 0; start < len(msgs); start += MaxBatchSize {
		end := min(start+MaxBatchSize, len(msgs))
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, end-start)
		for i, m := range msgs[start:end] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{
				Id:            aws.String(strconv.Itoa(i)),
				ReceiptHandle: m.ReceiptHandle,
			})
		}
		out, derr := p.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
			QueueUrl: aws.String(p.QueueURL),
			Entries:  entries,
		})
		if derr != nil {
			failed += len(entries)
			errs = append(errs, fmt.Errorf("sqspoll: DeleteMessageBatch: %w", derr))
			continue
		}
		deleted += len(out.Successful)
		failed += len(out.Failed)
		for _, f := range out.Failed {
			p.logger().Warn("sqspoll: delete failed", "id", aws.ToString(f.Id), "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
		}
	}
	return deleted, failed, errors.Join(errs...)
}

// Run polls until ctx is done. Errors are logged and retried with backoff.
func (p *Poller) Run(ctx context.Context) error {
	if err := p.validate(); err != nil {
		return err
	}
	idle := p.IdleDelay
	if idle <= 0 {
		idle = 200 * time.Millisecond
	}
	backoff := idle
	for ctx.Err() == nil {
		out, err := p.PollOnce(ctx)
		var delay time.Duration
		switch {
		case err != nil && ctx.Err() == nil:
			p.logger().Error("sqspoll: poll failed", "err", err)
			delay = backoff
			backoff = min(backoff*2, 5*time.Second)
		case out.Received == 0 && p.WaitTime == 0:
			delay = idle
			backoff = idle
		default:
			backoff = idle
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return ctx.Err()
}

// BuildEvent converts received messages into the event Lambda sends.
func BuildEvent(msgs []types.Message, queueARN, region string) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
	for _, m := range msgs {
		attrs := make(map[string]string, len(m.Attributes))
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		mattrs := make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			a := events.SQSMessageAttribute{
				StringValue:      v.StringValue,
				BinaryValue:      v.BinaryValue,
				StringListValues: v.StringListValues,
				BinaryListValues: v.BinaryListValues,
				DataType:         aws.ToString(v.DataType),
			}
			if a.StringListValues == nil {
				a.StringListValues = []string{}
			}
			if a.BinaryListValues == nil {
				a.BinaryListValues = [][]byte{}
			}
			mattrs[k] = a
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             attrs,
			MessageAttributes:      mattrs,
			EventSourceARN:         queueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              region,
		})
	}
	return ev
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
