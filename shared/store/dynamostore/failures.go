package dynamostore

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/shared/store"
)

// Failure items live beside the records: PK = F#<messageId>, kept as long as SQS can
// keep the message (14 days).
const (
	skFailure      = "#F"
	failureTTL     = 14 * store.DaySeconds
	maxReasonBytes = 2000
)

var _ store.FailureLog = (*Store)(nil)

// RecordFailure stores why a message failed (the last reason wins).
func (s *Store) RecordFailure(ctx context.Context, messageID, reason string, receiveCount int) error {
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	now := s.opts.Now()
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: map[string]types.AttributeValue{
		attrPK: str("F#" + messageID), attrSK: str(skFailure),
		"reason": str(reason), "receiveCount": num(int64(receiveCount)), "at": num(now.UnixMilli()),
		attrTTL: num(now.Unix() + failureTTL),
	}})
	if err != nil {
		return unavailable("PutItem failure", err)
	}
	return nil
}

// Failure returns the recorded reason of a message, store.ErrNotFound when none.
func (s *Store) Failure(ctx context.Context, messageID string) (store.Failure, error) {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.opts.Table),
		Key: map[string]types.AttributeValue{attrPK: str("F#" + messageID), attrSK: str(skFailure)}})
	if err != nil {
		return store.Failure{}, unavailable("GetItem failure", err)
	}
	if res.Item == nil {
		return store.Failure{}, store.ErrNotFound
	}
	n, _ := strconv.Atoi(attrNum(res.Item["receiveCount"]))
	return store.Failure{MessageID: messageID, Reason: attrString(res.Item["reason"]), ReceiveCount: n, At: numAttr(res.Item["at"])}, nil
}

func attrNum(v types.AttributeValue) string {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}
