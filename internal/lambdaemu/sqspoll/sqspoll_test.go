package sqspoll

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
)

const queueURL = "http://127.0.0.1:5000/000000000000/jobs"

var testBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sqspoll-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	testBinary, err = lambdaemu.BuildBootstrap(ctx, "../testdata/testfn", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// fakeSQS is an in-memory queue with visibility: received messages are
// hidden until deleted (or released by the test to simulate the visibility
// timeout).
type fakeSQS struct {
	mu          sync.Mutex
	msgs        []*fakeMsg
	seq         int
	receives    []*sqs.ReceiveMessageInput
	deletes     []*sqs.DeleteMessageBatchInput
	failReceipt map[string]bool // DeleteMessageBatch reports these as Failed
}

type fakeMsg struct {
	id, body, receipt string
	inFlight          bool
	receiveCount      int
	sent              time.Time
	attrs             map[string]types.MessageAttributeValue
}

func (q *fakeSQS) send(bodies ...string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for _, b := range bodies {
		q.seq++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", q.seq)
		q.msgs = append(q.msgs, &fakeMsg{id: id, body: b, sent: time.Now(), attrs: map[string]types.MessageAttributeValue{
			"kind": {DataType: aws.String("String"), StringValue: aws.String("callback")},
		}})
		ids = append(ids, id)
	}
	return ids
}

// release makes in-flight messages visible again (visibility timeout).
func (q *fakeSQS) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		m.inFlight = false
	}
}

func (q *fakeSQS) remaining() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, m := range q.msgs {
		out = append(out, m.body)
	}
	sort.Strings(out)
	return out
}

func (q *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.receives = append(q.receives, in)
	if in.MaxNumberOfMessages < 1 || in.MaxNumberOfMessages > 10 {
		return nil, errors.New("InvalidParameterValue: MaxNumberOfMessages")
	}
	out := &sqs.ReceiveMessageOutput{}
	for _, m := range q.msgs {
		if len(out.Messages) == int(in.MaxNumberOfMessages) {
			break
		}
		if m.inFlight {
			continue
		}
		m.inFlight = true
		m.receiveCount++
		q.seq++
		m.receipt = fmt.Sprintf("rh-%s-%d", m.id, q.seq)
		sum := md5.Sum([]byte(m.body))
		out.Messages = append(out.Messages, types.Message{
			MessageId:              aws.String(m.id),
			ReceiptHandle:          aws.String(m.receipt),
			Body:                   aws.String(m.body),
			MD5OfBody:              aws.String(hex.EncodeToString(sum[:])),
			MD5OfMessageAttributes: aws.String("d25a6aea97eb8f585bfa92d314504a92"),
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(m.receiveCount),
				"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
				"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
			},
			MessageAttributes: m.attrs,
		})
	}
	return out, nil
}

func (q *fakeSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deletes = append(q.deletes, in)
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, fmt.Errorf("TooManyEntriesInBatchRequest: %d", len(in.Entries))
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		if q.failReceipt[aws.ToString(e.ReceiptHandle)] {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid")})
			continue
		}
		found := false
		for i, m := range q.msgs {
			if m.receipt == aws.ToString(e.ReceiptHandle) {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid")})
			continue
		}
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// handlerFn is an in-process stand-in for the worker: it fails records whose
// body is "fail", reports a bogus id for "bogus", an empty id for "empty",
// returns a function error for "boom", and records the events it saw.
type handlerFn struct {
	mu     sync.Mutex
	events []events.SQSEvent
	raw    [][]byte
	reply  []byte // when set, returned verbatim
}

func (h *handlerFn) Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return lambdaemu.Result{}, err
	}
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.raw = append(h.raw, payload)
	h.mu.Unlock()
	if h.reply != nil {
		return lambdaemu.Result{Payload: h.reply}, nil
	}
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		switch r.Body {
		case "boom":
			return lambdaemu.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`)}, nil
		case "fail":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		case "bogus":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: "no-such-id"})
		case "empty":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ""})
		}
	}
	b, _ := json.Marshal(resp)
	return lambdaemu.Result{Payload: b}, nil
}

func newPoller(q *fakeSQS, fn Invoker) *Poller {
	return &Poller{SQS: q, QueueURL: queueURL, Region: "us-east-1", BatchSize: 10, Fn: fn}
}

func TestAllSuccessDeletesAll(t *testing.T) {
	q := &fakeSQS{}
	q.send("a", "b", "c")
	h := &handlerFn{}
	p := newPoller(q, h)
	p.WaitTime = 2 * time.Second
	out, err := p.PollOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Received != 3 || out.Deleted != 3 || out.Failed != 0 || out.BatchFailed {
		t.Errorf("outcome = %+v", out)
	}
	if rem := q.remaining(); len(rem) != 0 {
		t.Errorf("remaining = %v", rem)
	}
	in := q.receives[0]
	if in.MaxNumberOfMessages != 10 || in.WaitTimeSeconds != 2 || aws.ToString(in.QueueUrl) != queueURL ||
		len(in.MessageSystemAttributeNames) != 1 || in.MessageSystemAttributeNames[0] != types.MessageSystemAttributeNameAll ||
		len(in.MessageAttributeNames) != 1 || in.MessageAttributeNames[0] != "All" {
		t.Errorf("ReceiveMessage input = %+v", in)
	}
	if len(q.deletes) != 1 || len(q.deletes[0].Entries) != 3 {
		t.Errorf("deletes = %+v", q.deletes)
	}

	// Empty queue: nothing invoked.
	out, err = p.PollOnce(context.Background())
	if err != nil || out.Received != 0 || len(h.events) != 1 {
		t.Errorf("empty poll: %+v %v (invocations %d)", out, err, len(h.events))
	}
}

func TestEventShape(t *testing.T) {
	q := &fakeSQS{}
	ids := q.send(`{"hello":"world"}`)
	h := &handlerFn{}
	if _, err := newPoller(q, h).PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := h.events[0].Records[0]
	sum := md5.Sum([]byte(`{"hello":"world"}`))
	if r.MessageId != ids[0] || r.Body != `{"hello":"world"}` || r.Md5OfBody != hex.EncodeToString(sum[:]) ||
		r.ReceiptHandle == "" || r.Md5OfMessageAttributes == "" ||
		r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:jobs" || r.AWSRegion != "us-east-1" {
		t.Errorf("record = %+v", r)
	}
	for _, k := range []string{"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} {
		if r.Attributes[k] == "" {
			t.Errorf("attribute %s missing: %v", k, r.Attributes)
		}
	}
	if a := r.MessageAttributes["kind"]; aws.ToString(a.StringValue) != "callback" || a.DataType != "String" {
		t.Errorf("messageAttributes = %+v", r.MessageAttributes)
	}
	// Wire shape as Lambda sends it.
	var raw struct {
		Records []map[string]json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(h.raw[0], &raw); err != nil || len(raw.Records) != 1 {
		t.Fatalf("raw event %s: %v", h.raw[0], err)
	}
	for _, k := range []string{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"} {
		if _, ok := raw.Records[0][k]; !ok {
			t.Errorf("record JSON lacks %q", k)
		}
	}
	if got := string(raw.Records[0]["messageAttributes"]); got != `{"kind":{"stringValue":"callback","stringListValues":[],"binaryListValues":[],"dataType":"String"}}` {
		t.Errorf("messageAttributes JSON = %s", got)
	}
}

func TestPartialFailureDeletesOnlySuccesses(t *testing.T) {
	q := &fakeSQS{}
	ids := q.send("ok1", "fail", "ok2", "fail")
	p := newPoller(q, &handlerFn{})
	out, err := p.PollOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Received != 4 || out.Deleted != 2 || out.Failed != 2 || out.BatchFailed {
		t.Errorf("outcome = %+v", out)
	}
	if fmt.Sprint(out.FailedIDs) != fmt.Sprint([]string{ids[1], ids[3]}) {
		t.Errorf("FailedIDs = %v", out.FailedIDs)
	}
	if rem := q.remaining(); fmt.Sprint(rem) != "[fail fail]" {
		t.Errorf("remaining = %v", rem)
	}
	// After the visibility timeout the failures are received again.
	q.release()
	out, _ = p.PollOnce(context.Background())
	if out.Received != 2 || out.Failed != 2 {
		t.Errorf("redelivery = %+v", out)
	}
}

func TestWholeBatchFailures(t *testing.T) {
	cases := []struct {
		name   string
		bodies []string
		reply  string
		fnErr  string
	}{
		{"function error", []string{"ok", "boom", "ok"}, "", "Unhandled"},
		{"bogus itemIdentifier", []string{"ok", "bogus"}, "", ""},
		{"empty itemIdentifier", []string{"ok", "empty"}, "", ""},
		{"null itemIdentifier", []string{"ok"}, `{"batchItemFailures":[{"itemIdentifier":null}]}`, ""},
		{"bad key name", []string{"ok"}, `{"batchItemFailures":[{"itemId":"x"}]}`, ""},
		{"invalid JSON", []string{"ok"}, `{"batchItemFailures":`, ""},
		{"wrong type", []string{"ok"}, `{"batchItemFailures":"all"}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &fakeSQS{}
			q.send(c.bodies...)
			h := &handlerFn{}
			if c.reply != "" {
				h.reply = []byte(c.reply)
			}
			out, err := newPoller(q, h).PollOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !out.BatchFailed || out.Deleted != 0 || out.Failed != len(c.bodies) || out.FunctionError != c.fnErr || out.Reason == "" {
				t.Errorf("outcome = %+v", out)
			}
			if len(q.deletes) != 0 || len(q.remaining()) != len(c.bodies) {
				t.Errorf("deleted something: %d delete calls, remaining %v", len(q.deletes), q.remaining())
			}
		})
	}
}

func TestSuccessResponses(t *testing.T) {
	for _, reply := range []string{`null`, `{}`, `{"batchItemFailures":[]}`, `{"batchItemFailures":null}`, ` `} {
		q := &fakeSQS{}
		q.send("x", "y")
		out, err := newPoller(q, &handlerFn{reply: []byte(reply)}).PollOnce(context.Background())
		if err != nil || out.Deleted != 2 || out.BatchFailed {
			t.Errorf("reply %q: %+v %v", reply, out, err)
		}
	}
	// Without ReportBatchItemFailures the response is ignored.
	q := &fakeSQS{}
	q.send("fail", "ok")
	p := newPoller(q, &handlerFn{})
	p.DisableBatchItemFailures = true
	if out, err := p.PollOnce(context.Background()); err != nil || out.Deleted != 2 {
		t.Errorf("DisableBatchItemFailures: %+v %v", out, err)
	}
}

func TestInvokeErrorDeletesNothing(t *testing.T) {
	q := &fakeSQS{}
	q.send("a")
	p := newPoller(q, InvokerFunc(func(context.Context, []byte) (lambdaemu.Result, error) {
		return lambdaemu.Result{}, lambdaemu.ErrClosed
	}))
	out, err := p.PollOnce(context.Background())
	if !errors.Is(err, lambdaemu.ErrClosed) || !out.BatchFailed || len(q.deletes) != 0 {
		t.Errorf("%+v %v", out, err)
	}
}

func TestDeleteFailuresAreCounted(t *testing.T) {
	q := &fakeSQS{failReceipt: map[string]bool{}}
	q.send("a", "b")
	// Fail the delete of whatever receipt "b" gets.
	h := InvokerFunc(func(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
		var ev events.SQSEvent
		_ = json.Unmarshal(payload, &ev)
		q.mu.Lock()
		q.failReceipt[ev.Records[1].ReceiptHandle] = true
		q.mu.Unlock()
		return lambdaemu.Result{Payload: []byte(`{}`)}, nil
	})
	out, err := newPoller(q, h).PollOnce(context.Background())
	if err != nil || out.Deleted != 1 || out.DeleteErrors != 1 || out.Failed != 0 {
		t.Errorf("%+v %v", out, err)
	}
}

func TestBatchSizeAndValidation(t *testing.T) {
	q := &fakeSQS{}
	q.send("1", "2", "3", "4", "5")
	p := newPoller(q, &handlerFn{})
	p.BatchSize = 2
	out, err := p.PollOnce(context.Background())
	if err != nil || out.Received != 2 || q.receives[0].MaxNumberOfMessages != 2 {
		t.Errorf("batch 2: %+v %v", out, err)
	}
	for _, bad := range []*Poller{
		{SQS: q, Fn: &handlerFn{}, QueueURL: queueURL, BatchSize: 11},
		{SQS: q, Fn: &handlerFn{}, QueueURL: queueURL, WaitTime: 21 * time.Second},
		{SQS: q, Fn: &handlerFn{}},
		{SQS: q, QueueURL: queueURL},
		{Fn: &handlerFn{}, QueueURL: queueURL},
	} {
		if _, err := bad.PollOnce(context.Background()); err == nil {
			t.Errorf("invalid poller accepted: %+v", bad)
		}
	}
	if got := QueueARNFromURL("https://sqs.eu-west-1.amazonaws.com/111122223333/q1", "eu-west-1"); got != "arn:aws:sqs:eu-west-1:111122223333:q1" {
		t.Errorf("QueueARNFromURL = %q", got)
	}
}

func TestRunDrainsQueue(t *testing.T) {
	q := &fakeSQS{}
	for i := 0; i < 25; i++ {
		q.send(fmt.Sprintf("m%02d", i))
	}
	p := newPoller(q, &handlerFn{})
	p.IdleDelay = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for len(q.remaining()) > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if rem := q.remaining(); len(rem) != 0 {
		t.Errorf("remaining %v", rem)
	}
	for _, d := range q.deletes {
		if len(d.Entries) > 10 {
			t.Errorf("delete batch of %d", len(d.Entries))
		}
	}
}

// TestWithRealFunction runs the testdata/testfn bootstrap in the emulator as
// the worker, so the event goes through aws-lambda-go's own decoding.
func TestWithRealFunction(t *testing.T) {
	fn, err := lambdaemu.Start(lambdaemu.Config{Binary: testBinary, FunctionName: "worker", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()

	q := &fakeSQS{}
	q.send("ok", "fail", "ok")
	p := newPoller(q, fn)
	out, err := p.PollOnce(context.Background())
	if err != nil || out.Deleted != 2 || out.Failed != 1 || out.BatchFailed {
		t.Errorf("partial: %+v %v", out, err)
	}
	q.release()
	if out, err := p.PollOnce(context.Background()); err != nil || out.Failed != 1 || out.Deleted != 0 {
		t.Errorf("redelivered failure: %+v %v", out, err)
	}

	for _, c := range []struct{ body, fnErr string }{{"boom", "Unhandled"}, {"bogus", ""}} {
		q := &fakeSQS{}
		q.send("ok", c.body)
		out, err := newPoller(q, fn).PollOnce(context.Background())
		if err != nil || !out.BatchFailed || out.Deleted != 0 || out.FunctionError != c.fnErr || len(q.remaining()) != 2 {
			t.Errorf("%s: %+v %v", c.body, out, err)
		}
	}
}
