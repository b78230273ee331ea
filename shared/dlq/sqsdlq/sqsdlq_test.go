package sqsdlq_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/dlq/sqsdlq"
	"github.com/callkit-records/callkit-records/shared/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// reasons is a failure log keyed by message id; ids in broken fail the lookup.
type reasons struct {
	byID   map[string]store.Failure
	broken map[string]bool
}

func (r reasons) Failure(_ context.Context, id string) (store.Failure, error) {
	if r.broken[id] {
		return store.Failure{}, errors.New("table gone")
	}
	if f, ok := r.byID[id]; ok {
		return f, nil
	}
	return store.Failure{}, store.ErrNotFound
}

func queue(t *testing.T, c *sqs.Client, prefix string) string {
	t.Helper()
	out, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name(t, prefix))})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(out.QueueUrl)
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}) })
	return url
}

// send puts n messages on url with the attributes the webhook sets; it returns their ids.
func send(t *testing.T, c *sqs.Client, url string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		out, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{
			QueueUrl:    aws.String(url),
			MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"eventKey": {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("key-%d", i))},
				"callId":   {DataType: aws.String("String"), StringValue: aws.String("call")},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.MessageId))
	}
	return ids
}

// receiveAll drains what is visible right now (short polls), deleting nothing.
func visible(t *testing.T, c *sqs.Client, url string) map[string]types.Message {
	t.Helper()
	got := map[string]types.Message{}
	for {
		out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 30, MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, m := range out.Messages {
			got[aws.ToString(m.MessageId)] = m
		}
	}
}

// Listing receives more than one batch, shows every message once with its reason and
// attributes, consumes nothing, and leaves every message visible at once.
func TestListDoesNotConsume(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	dlqURL := queue(t, c, "dlq")
	ids := send(t, c, dlqURL, 15)
	r := reasons{byID: map[string]store.Failure{ids[0]: {Reason: "permanent: envelope: cannot decode", ReceiveCount: 5, At: 1234}}, broken: map[string]bool{ids[1]: true}}
	q := sqsdlq.New(c, sqsdlq.Options{DLQURL: dlqURL, Reasons: r}) // default long-poll wait

	p, err := q.List(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != 15 || p.Total != 15 || !p.Approximate || len(p.Warnings) != 0 {
		t.Fatalf("page: %d messages, total %d, warnings %v", len(p.Messages), p.Total, p.Warnings)
	}
	seen := map[string]dlq.Message{}
	for _, m := range p.Messages {
		seen[m.ID] = m
	}
	if len(seen) != 15 {
		t.Fatalf("%d distinct of 15", len(seen))
	}
	m0 := seen[ids[0]]
	if m0.Reason != "permanent: envelope: cannot decode" || m0.ReceiveCount != 5 || m0.FailedAt != 1234 ||
		m0.Attributes["eventKey"] != "key-0" || string(m0.Body) != `{"n":0}` || m0.SentAt == 0 {
		t.Errorf("message 0: %+v", m0)
	}
	if m1 := seen[ids[1]]; m1.Reason != "" || m1.ReasonError == "" {
		t.Errorf("a failed reason lookup is reported: %+v", m1)
	}
	if m2 := seen[ids[2]]; m2.Reason != "" || m2.ReasonError != "" {
		t.Errorf("no reason recorded: %+v", m2)
	}
	if got := visible(t, c, dlqURL); len(got) != 15 {
		t.Fatalf("%d of 15 visible right after listing", len(got))
	}
}

func TestListIsBounded(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	dlqURL := queue(t, c, "dlq")
	send(t, c, dlqURL, 12)
	q := sqsdlq.New(c, sqsdlq.Options{DLQURL: dlqURL, Wait: -1})
	p, err := q.List(t.Context(), 5)
	if err != nil || len(p.Messages) != 5 || p.Total != 12 {
		t.Fatalf("%d messages, total %d, err %v", len(p.Messages), p.Total, err)
	}
	if got := visible(t, c, dlqURL); len(got) != 12 {
		t.Fatalf("%d of 12 visible after a bounded listing", len(got))
	}
}

// Redrive by id copies body and attributes to the main queue and deletes only those
// messages; an unknown id is reported; the others stay, visible.
func TestRedriveByID(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	dlqURL, mainURL := queue(t, c, "dlq"), queue(t, c, "main")
	ids := send(t, c, dlqURL, 3)
	q := sqsdlq.New(c, sqsdlq.Options{DLQURL: dlqURL, QueueURL: mainURL, Wait: -1})
	outs, err := q.Redrive(t.Context(), dlq.Selection{IDs: []string{ids[1], "no-such-id"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].ID != ids[1] || outs[0].Status != dlq.Redriven || outs[0].NewID == "" ||
		outs[1].ID != "no-such-id" || outs[1].Status != dlq.NotFound {
		t.Fatalf("outcomes %+v", outs)
	}
	moved := visible(t, c, mainURL)
	m, ok := moved[outs[0].NewID]
	if len(moved) != 1 || !ok || aws.ToString(m.Body) != `{"n":1}` ||
		aws.ToString(m.MessageAttributes["eventKey"].StringValue) != "key-1" || aws.ToString(m.MessageAttributes["callId"].StringValue) != "call" {
		t.Fatalf("main queue %+v", moved)
	}
	left := visible(t, c, dlqURL)
	var leftIDs []string
	for id := range left {
		leftIDs = append(leftIDs, id)
	}
	sort.Strings(leftIDs)
	want := []string{ids[0], ids[2]}
	sort.Strings(want)
	if fmt.Sprint(leftIDs) != fmt.Sprint(want) {
		t.Fatalf("left in the DLQ %v, want %v", leftIDs, want)
	}
}

// Without a main queue URL, the queue whose redrive policy names the DLQ is the target
// (the template's pair); --all is bounded by Max.
func TestRedriveFindsSourceQueue(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	qs := testenv.QueuesFromTemplate(t, c)
	mainURL, dlqURL := qs["CallbackQueue"].URL, qs["CallbackDeadLetterQueue"].URL
	send(t, c, dlqURL, 4)
	q := sqsdlq.New(c, sqsdlq.Options{DLQURL: dlqURL, Wait: -1})
	outs, err := q.Redrive(t.Context(), dlq.Selection{All: true, Max: 3})
	if err != nil || len(outs) != 3 {
		t.Fatalf("%+v %v", outs, err)
	}
	for _, o := range outs {
		if o.Status != dlq.Redriven {
			t.Errorf("outcome %+v", o)
		}
	}
	if n := len(visible(t, c, mainURL)); n != 3 {
		t.Fatalf("%d in the main queue, want 3", n)
	}
	if n := len(visible(t, c, dlqURL)); n != 1 {
		t.Fatalf("%d left in the DLQ, want 1", n)
	}

	lone := queue(t, c, "lone")
	if _, err := sqsdlq.New(c, sqsdlq.Options{DLQURL: lone, Wait: -1}).Redrive(t.Context(), dlq.Selection{All: true}); !errors.Is(err, dlq.ErrNoTarget) {
		t.Fatalf("a DLQ no queue uses: %v", err)
	}
}

// A send the main queue refuses leaves the message in the DLQ, untouched and visible.
func TestSendFailureKeepsMessage(t *testing.T) {
	t.Parallel()
	c := testenv.SQS(t)
	dlqURL := queue(t, c, "dlq")
	ids := send(t, c, dlqURL, 1)
	gone := queue(t, c, "gone")
	if _, err := c.DeleteQueue(t.Context(), &sqs.DeleteQueueInput{QueueUrl: aws.String(gone)}); err != nil {
		t.Fatal(err)
	}
	q := sqsdlq.New(c, sqsdlq.Options{DLQURL: dlqURL, QueueURL: gone, Wait: -1})
	outs, err := q.Redrive(t.Context(), dlq.Selection{IDs: ids})
	if err != nil || len(outs) != 1 || outs[0].Status != dlq.SendFailed || outs[0].Error == "" {
		t.Fatalf("%+v %v", outs, err)
	}
	if got := visible(t, c, dlqURL); len(got) != 1 || aws.ToString(got[ids[0]].Body) != `{"n":0}` {
		t.Fatalf("DLQ after a failed send: %v", got)
	}

	missing := sqsdlq.New(c, sqsdlq.Options{DLQURL: gone, Wait: -1})
	if _, err := missing.List(t.Context(), 10); !errors.Is(err, dlq.ErrNoQueue) {
		t.Fatalf("listing a queue that does not exist: %v", err)
	}
}
