package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/cli"
	"github.com/callkit-records/callkit-records/internal/lambdaemu"
	"github.com/callkit-records/callkit-records/internal/lambdaemu/sqspoll"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/awsenv"
	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/queue/sqsqueue"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// awsFor is the CLI's AWS configuration for the emulators at endpoints
// (AWS_ENDPOINT_URL_<SERVICE> → URL), with the test credentials and region.
func awsFor(t *testing.T, endpoints map[string]string) func(context.Context, string) (aws.Config, error) {
	return func(context.Context, string) (aws.Config, error) {
		return awsenv.Config(func(k string) string {
			switch k {
			case "AWS_REGION":
				return testenv.Region
			case "AWS_ACCESS_KEY_ID":
				return testenv.AccessKeyID
			case "AWS_SECRET_ACCESS_KEY":
				return testenv.SecretAccessKey
			}
			return endpoints[k]
		})
	}
}

// lambdaOf runs a persist handler the way Lambda does for the poller: an error from the
// handler is a function error (the whole batch fails).
func lambdaOf(h *persist.Handler) sqspoll.InvokerFunc {
	return func(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return lambdaemu.Result{}, err
		}
		res, err := h.HandleSQS(ctx, ev)
		if err != nil {
			b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "error"})
			return lambdaemu.Result{Payload: b, FunctionError: "Unhandled"}, nil
		}
		b, _ := json.Marshal(res)
		return lambdaemu.Result{Payload: b}, nil
	}
}

func queueDepth(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	b, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return a + b
}

// The AWS path end to end on moto and DynamoDB Local, with infrastructure from the
// template (maxReceiveCount 3, visibility 1 s): poison messages fail in the real persist
// handler until SQS moves them to the DLQ; `dlq list` shows each with the reason the
// handler recorded under its message id; after the fix, `dlq redrive --all` (the main
// queue found from the DLQ) brings them back and the fixed handler persists them. Every
// call ends with its full timeline and both queues end empty.
func TestSQSDLQPoisonRedrive(t *testing.T) {
	t.Parallel()
	sc := testenv.SQS(t)
	qs := testenv.QueuesFromTemplate(t, sc, testenv.WithMaxReceiveCount(3),
		testenv.WithQueueAttribute("CallbackQueue", "VisibilityTimeout", "1"))
	mainQ, dlqQ := qs["CallbackQueue"], qs["CallbackDeadLetterQueue"]
	dc := testenv.DynamoDB(t)
	table := testenv.TableFromTemplate(t, dc, "CallsTable")
	st := dynamostore.New(dc, dynamostore.Options{Table: table})

	good, poison := fixtures(t, goodScenario), fixtures(t, poisonScenarios...)
	all := append(append([]fixture(nil), good...), poison...)
	ingestAll(t, sqsqueue.New(sc, mainQ.URL), all)

	broken := persist.New(refusing{Writer: st, calls: callSet(poison)}, st, logging.Discard(), persist.Options{})
	poll := func(h *persist.Handler, until func() bool) {
		t.Helper()
		p := &sqspoll.Poller{SQS: sc, QueueURL: mainQ.URL, Fn: lambdaOf(h), WaitTime: time.Second, Logger: logging.Discard()}
		deadline := time.Now().Add(60 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatalf("queues did not settle: main %d, dlq %d", queueDepth(t, sc, mainQ.URL), queueDepth(t, sc, dlqQ.URL))
			}
			if _, err := p.PollOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll(broken, func() bool {
		return queueDepth(t, sc, mainQ.URL) == 0 && queueDepth(t, sc, dlqQ.URL) == len(poison)
	})

	env := cli.Env{AWS: awsFor(t, map[string]string{
		"AWS_ENDPOINT_URL_SQS": testenv.SQSEndpoint(t), "AWS_ENDPOINT_URL_DYNAMODB": testenv.DynamoDBEndpoint(t),
	})}
	code, out, _ := run(t, env, "dlq", "list", "--dlq-url", dlqQ.URL, "--table", table, "--json")
	if code != cli.ExitOK {
		t.Fatalf("dlq list exit %d", code)
	}
	ms := jsonLines[dlq.Message](t, out)
	if len(ms) != len(poison) {
		t.Fatalf("%d dead letters listed, want %d", len(ms), len(poison))
	}
	for _, m := range ms {
		if !strings.Contains(m.Reason, "test store refuses call "+m.CallID) || m.ReceiveCount != 3 ||
			m.Attributes[sqsqueue.AttrEventKey] != m.EventKey || m.EventKey == "" || m.SentAt == 0 {
			t.Errorf("dead letter %+v: want the recorded reason, 3 receives and the attributes", m)
		}
	}
	// Listing consumed nothing and left every message visible: listing again at once
	// shows them all (text form, with the total).
	code, out, _ = run(t, env, "dlq", "list", "--dlq-url", dlqQ.URL, "--table", table)
	if code != cli.ExitOK || !strings.Contains(out, fmt.Sprintf("%d shown of ~%d dead letters", len(poison), len(poison))) || !strings.Contains(out, "transient: store: unavailable") {
		t.Fatalf("second dlq list exit %d", code)
	}

	// The fix is deployed; redrive everything.
	code, out, _ = run(t, env, "dlq", "redrive", "--all", "--dlq-url", dlqQ.URL, "--json")
	if code != cli.ExitOK {
		t.Fatalf("dlq redrive exit %d", code)
	}
	outs := jsonLines[dlq.Outcome](t, out)
	if len(outs) != len(poison) {
		t.Fatalf("%d outcomes, want %d", len(outs), len(poison))
	}
	for _, o := range outs {
		if o.Status != dlq.Redriven || o.NewID == "" || o.NewID == o.ID {
			t.Errorf("outcome %+v", o)
		}
	}
	fixed := persist.New(st, st, logging.Discard(), persist.Options{})
	poll(fixed, func() bool { return queueDepth(t, sc, mainQ.URL) == 0 && queueDepth(t, sc, dlqQ.URL) == 0 })

	for key, n := range perCall(all) {
		rec, evs, err := st.Get(t.Context(), key, true)
		if err != nil || rec.CallID != key.CallID || len(evs) != n {
			t.Errorf("call %s: %d of %d timeline entries, err %v", key.CallID, len(evs), n, err)
		}
	}
	code, out, _ = run(t, env, "dlq", "list", "--dlq-url", dlqQ.URL)
	if code != cli.ExitOK || !strings.Contains(out, "no dead letters") {
		t.Fatalf("final dlq list exit %d", code)
	}
}
