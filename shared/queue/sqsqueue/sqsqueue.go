// Package sqsqueue sends envelopes to Amazon SQS.
package sqsqueue

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/shared/queue"
)

// API is the part of the SQS client the sender uses.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Message attribute names set on every message.
const (
	AttrEventKey = "eventKey"
	AttrCallID   = "callId"
)

// Sender is a queue.Sender over one SQS queue.
type Sender struct {
	api API
	url string
}

// New returns a sender for the queue at url, using a client built once at cold start.
func New(api API, url string) *Sender { return &Sender{api: api, url: url} }

// Send enqueues m; SQS has stored it redundantly when this returns nil.
func (s *Sender) Send(ctx context.Context, m queue.Message) error {
	_, err := s.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.url),
		MessageBody: aws.String(string(m.Body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrEventKey: {DataType: aws.String("String"), StringValue: aws.String(m.EventKey)},
			AttrCallID:   {DataType: aws.String("String"), StringValue: aws.String(m.CallID)},
		},
	})
	if err != nil {
		return fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
	}
	return nil
}
