package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
	"github.com/callkit-records/callkit-records/internal/lambdaemu/sqspoll"
	"github.com/callkit-records/callkit-records/internal/stack"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// failureLog records, per message id, how often a persist invocation reported the
// message failed (listed in batchItemFailures, or the whole batch on a function error).
type failureLog struct {
	mu     sync.Mutex
	failed map[string]int
}

func (l *failureLog) wrap(inv sqspoll.Invoker) sqspoll.Invoker {
	return sqspoll.InvokerFunc(func(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
		res, err := inv.Invoke(ctx, payload)
		if err != nil {
			return res, err
		}
		var ids []string
		if res.FunctionError != "" {
			var ev events.SQSEvent
			_ = json.Unmarshal(payload, &ev)
			for _, m := range ev.Records {
				ids = append(ids, m.MessageId)
			}
		} else {
			var r events.SQSEventResponse
			_ = json.Unmarshal(res.Payload, &r)
			for _, f := range r.BatchItemFailures {
				ids = append(ids, f.ItemIdentifier)
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, id := range ids {
			l.failed[id]++
		}
		return res, err
	})
}

func (l *failureLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.failed))
	for k, v := range l.failed {
		out[k] = v
	}
	return out
}

// maxReceiveCount reads the redrive policy the queue was created with (the template's).
func maxReceiveCount(ctx context.Context, t *testing.T, s *stack.Stack) int {
	t.Helper()
	out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(s.Queue.URL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		t.Fatal(err)
	}
	var rp struct {
		MaxReceiveCount json.Number `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &rp); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", out.Attributes["RedrivePolicy"], err)
	}
	n, err := strconv.Atoi(rp.MaxReceiveCount.String())
	if err != nil || n < 1 {
		t.Fatalf("RedrivePolicy %q: maxReceiveCount %v", out.Attributes["RedrivePolicy"], rp.MaxReceiveCount)
	}
	return n
}

// TestPoisonMessageGoesToDLQ: a message the persist function cannot decode, sent straight
// to the queue, is reported failed on every receive until SQS moves it to the DLQ after
// maxReceiveCount, its reason is kept beside the records, and the good callbacks around
// it are all persisted and never reported failed.
func TestPoisonMessageGoesToDLQ(t *testing.T) {
	t.Parallel()
	log := &failureLog{failed: map[string]int{}}
	// A short visibility timeout so the redeliveries happen within the test.
	s := stack.Start(t, stack.Options{VisibilityTimeout: time.Second, WrapPersist: log.wrap})
	c := newClient(s)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	maxReceives := maxReceiveCount(ctx, t, s)

	const poison = `{"v":1,"receivedAt":1795000000000,"callId":"cut-off-he` // a truncated envelope
	sent, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.Queue.URL), MessageBody: aws.String(poison)})
	if err != nil {
		t.Fatal(err)
	}
	poisonID := aws.ToString(sent.MessageId)

	r := rand.New(rand.NewPCG(seed(t), 9))
	var calls []*expected
	for _, sc := range []string{recordtest.AnsweredCalleeHangsUp, recordtest.Group, recordtest.V4Rejected} {
		call := recordtest.GenScenario(r, s.App, sc, 1795000000)
		calls = append(calls, expect(s.App, call, call.Callbacks))
	}
	if err := c.deliver(ctx, deliveries(r, calls), 4); err != nil {
		t.Fatal(err)
	}

	// The poison reaches the DLQ after maxReceives receives.
	for {
		v, f, _, err := s.QueueDepth(ctx, s.DLQ)
		if err == nil && v+f > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the poison message never reached the DLQ (failures so far %v)", log.snapshot())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.DLQ.URL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || aws.ToString(got.Messages[0].MessageId) != poisonID || aws.ToString(got.Messages[0].Body) != poison {
		t.Fatalf("DLQ holds %d messages %+v, want only the poison %s", len(got.Messages), got.Messages, poisonID)
	}

	failed := log.snapshot()
	if failed[poisonID] != maxReceives {
		t.Errorf("the poison was reported failed %d times, want maxReceiveCount = %d", failed[poisonID], maxReceives)
	}
	for id, n := range failed {
		if id != poisonID {
			t.Errorf("good message %s was reported failed %d times", id, n)
		}
	}
	st := dynamostore.New(s.DDB, dynamostore.Options{Table: s.Table})
	reason, err := st.Failure(ctx, poisonID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		t.Errorf("no failure reason recorded for the poison message")
	case err != nil:
		t.Fatal(err)
	case reason.Reason == "" || reason.ReceiveCount != maxReceives:
		t.Errorf("failure record %+v, want a reason and receiveCount %d", reason, maxReceives)
	default:
		t.Logf("recorded reason: %s (receive %d)", reason.Reason, reason.ReceiveCount)
	}
	for _, e := range calls {
		res, err := c.v1(ctx, "/v1/records/get_record_by_callId", map[string]string{"callId": e.call.CallID})
		if err != nil {
			t.Fatalf("%s: %v", e.call.Scenario, err)
		}
		var rec query.V1Record
		if err := json.Unmarshal(res.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if g, w := jsonOf(t, rec), jsonOf(t, query.V1(&e.record)); g != w {
			t.Errorf("%s:\n got %s\nwant %s", e.call.Scenario, g, w)
		}
	}
}

// TestCrashedFunctionRecovers kills real bootstraps: ingest in the middle of an
// invocation (held at SQS by a gate), and query while idle. API Gateway answers the
// crashed request 500 (so Tencent retries), the next invocation runs in a fresh process
// (a cold start), and nothing acknowledged is lost.
func TestCrashedFunctionRecovers(t *testing.T) {
	t.Parallel()
	s := stack.Start(t, stack.Options{GateIngestSQS: true})
	c := newClient(s)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := rand.New(rand.NewPCG(seed(t), 13))
	call := recordtest.GenScenario(r, s.App, recordtest.AnsweredCallerHangsUp, 1795000000)
	e := expect(s.App, call, call.Callbacks)
	cbs := call.Callbacks

	ingest := s.Function("ingest")
	if err := c.postCallback(ctx, &cbs[0]); err != nil {
		t.Fatal(err)
	}
	before := ingest.Stats()

	s.Gate.Hold()
	type answer struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		status, body, err := c.sendCallback(ctx, &cbs[1])
		done <- answer{status, body, err}
	}()
	if err := s.Gate.WaitArrived(ctx); err != nil {
		t.Fatal(err)
	}
	pid := ingest.PID()
	if pid == 0 {
		t.Fatal("ingest has no process while an invocation is in flight")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a := <-done
	s.Gate.Release()
	if a.err != nil || a.status != http.StatusInternalServerError || string(a.body) != `{"message":"Internal Server Error"}` {
		t.Fatalf("crashed invocation answered %d %s (%v), want API Gateway's 500", a.status, a.body, a.err)
	}
	// Tencent retries; a fresh process serves it.
	if err := c.postCallback(ctx, &cbs[1]); err != nil {
		t.Fatalf("retry after the crash: %v", err)
	}
	after := ingest.Stats()
	if after.Crashes != before.Crashes+1 || after.ProcessStarts != before.ProcessStarts+1 || after.ColdStarts != before.ColdStarts+1 {
		t.Errorf("ingest stats before %+v after %+v: want one more crash, process start and cold start", before, after)
	}
	if err := c.deliver(ctx, cbs[2:], 2); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDrained(ctx); err != nil {
		t.Fatal(err)
	}

	// query: warm, killed while idle, then the next request is served by a new process
	// (which reads the key from Secrets Manager again).
	q := s.Function("query")
	getCall := func() query.CallResponse {
		t.Helper()
		var got query.CallResponse
		if err := c.native(ctx, "/v1/calls/"+call.CallID, map[string][]string{"include": {"events"}}, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	getCall()
	qBefore := q.Stats()
	if err := syscall.Kill(q.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// "Idle" means the emulator has seen the process die before the next request comes;
	// without this wait the request can race the kill and meet the dying process instead.
	for q.PID() != 0 {
		if ctx.Err() != nil {
			t.Fatal("the emulator never noticed the killed query process")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := getCall()
	qAfter := q.Stats()
	if qAfter.ProcessStarts != qBefore.ProcessStarts+1 || qAfter.ColdStarts != qBefore.ColdStarts+1 {
		t.Errorf("query stats before %+v after %+v: want one more process start and cold start", qBefore, qAfter)
	}
	if g, w := jsonOf(t, got.Record), jsonOf(t, e.record); g != w {
		t.Errorf("record after the crashes:\n got %s\nwant %s", g, w)
	}
	if len(got.Events) != len(e.keys) {
		t.Errorf("timeline has %d entries, want %d (each callback once, the retried one included)", len(got.Events), len(e.keys))
	}
}
