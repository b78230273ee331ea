package persist_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
)

// fakeStore records every Apply and fails the calls it is told to.
type fakeStore struct {
	mu      sync.Mutex
	applies [][]store.Update
	fail    map[string]error // call id → error
	delay   time.Duration
}

func (f *fakeStore) Apply(ctx context.Context, updates []store.Update) []error {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies = append(f.applies, updates)
	errs := make([]error, len(updates))
	for i, u := range updates {
		errs[i] = f.fail[u.Key.CallID]
		if errs[i] == nil && ctx.Err() != nil {
			errs[i] = fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
		}
	}
	return errs
}

type fakeFailures struct {
	mu     sync.Mutex
	reason map[string]string
}

func (f *fakeFailures) RecordFailure(_ context.Context, id, reason string, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reason == nil {
		f.reason = map[string]string{}
	}
	f.reason[id] = reason
	return nil
}

// envelopeOf queues a callback exactly as the webhook does.
func envelopeOf(t testing.TB, cb callback.Callback) string {
	t.Helper()
	q, body := cb.Render()
	env := envelope.Envelope{ReceivedAt: time.Now().UnixMilli(), RequestID: "req", SDKAppID: cb.SDKAppID, CallID: cb.CallID,
		EventKey: cb.Key().String(), Query: envelope.QueryMap(q), Body: body}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sqsEvent(t testing.TB, bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}, EventSource: "aws:sqs"})
	}
	return ev
}

func failedIDs(res events.SQSEventResponse) []string {
	var out []string
	for _, f := range res.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func calls(t testing.TB, n int) []recordtest.Call {
	r := rand.New(rand.NewPCG(1, 2))
	var out []recordtest.Call
	for range n {
		out = append(out, recordtest.GenScenario(r, 1400000001, recordtest.AnsweredCallerHangsUp, 1795000000))
	}
	return out
}

func TestAllSucceedGroupedByCall(t *testing.T) {
	cs := calls(t, 3)
	var bodies []string
	for i := range 3 { // interleave the calls' callbacks: c0 c1 c2 c0 c1 c2 c0 …
		for _, c := range cs {
			bodies = append(bodies, envelopeOf(t, c.Callbacks[i]))
		}
	}
	bodies = append(bodies, bodies[0]) // a Tencent retry of the first callback
	st := &fakeStore{}
	h := persist.New(st, nil, logging.Discard(), persist.Options{})
	res, err := h.HandleSQS(context.Background(), sqsEvent(t, bodies...))
	if err != nil || len(res.BatchItemFailures) != 0 {
		t.Fatalf("failures %v, err %v", failedIDs(res), err)
	}
	if len(st.applies) != 1 || len(st.applies[0]) != 3 {
		t.Fatalf("want one Apply with one update per call, got %d applies", len(st.applies))
	}
	for j, u := range st.applies[0] {
		if u.Key.CallID != cs[j].CallID || len(u.Callbacks) != 3+map[bool]int{true: 1}[j == 0] {
			t.Fatalf("update %d: call %s with %d callbacks", j, u.Key.CallID, len(u.Callbacks))
		}
		for _, in := range u.Callbacks {
			if in.Callback.CallID != u.Key.CallID || len(in.Body) == 0 || in.ReceivedAt == 0 {
				t.Fatalf("update %d carries %+v", j, in)
			}
		}
	}
}

func TestPartialFailures(t *testing.T) {
	cs := calls(t, 2)
	good, bad := cs[0], cs[1]
	bodies := []string{
		envelopeOf(t, good.Callbacks[0]),
		"not an envelope",                                             // permanent: cannot be decoded
		envelopeOf(t, bad.Callbacks[0]),                               // transient: the store fails this call
		`{"v":1,"query":{"sdkappid":"1","command":"nope"},"body":{}}`, // permanent: no longer a valid callback
		envelopeOf(t, bad.Callbacks[1]),
		envelopeOf(t, good.Callbacks[1]),
	}
	st := &fakeStore{fail: map[string]error{bad.CallID: fmt.Errorf("%w: throttled", store.ErrUnavailable)}}
	fr := &fakeFailures{}
	h := persist.New(st, fr, logging.Discard(), persist.Options{})
	res, err := h.HandleSQS(context.Background(), sqsEvent(t, bodies...))
	if err != nil {
		t.Fatalf("partial failure returned an error: %v", err)
	}
	if got := strings.Join(failedIDs(res), ","); got != "m1,m2,m3,m4" {
		t.Fatalf("batchItemFailures %s, want m1,m2,m3,m4", got)
	}
	// Permanent failures are always recorded; a transient one only from the 3rd receive.
	if len(fr.reason) != 2 || !strings.HasPrefix(fr.reason["m1"], "permanent:") || !strings.HasPrefix(fr.reason["m3"], "permanent:") {
		t.Fatalf("recorded reasons %v", fr.reason)
	}
	ev := sqsEvent(t, bodies[2])
	ev.Records[0].Attributes["ApproximateReceiveCount"] = "3"
	if res, err := h.HandleSQS(context.Background(), ev); err == nil || len(res.BatchItemFailures) != 1 {
		t.Fatalf("all failed: failures %v err %v", failedIDs(res), err)
	}
	if !strings.HasPrefix(fr.reason["m0"], "transient:") {
		t.Fatalf("transient failure at receive 3 not recorded: %v", fr.reason)
	}
}

func TestStopsBeforeDeadline(t *testing.T) {
	cs := calls(t, 60)
	var bodies []string
	for _, c := range cs {
		bodies = append(bodies, envelopeOf(t, c.Callbacks[0]))
	}
	st := &fakeStore{delay: 120 * time.Millisecond}
	h := persist.New(st, nil, logging.Discard(), persist.Options{DeadlineMargin: 100 * time.Millisecond, ChunkCalls: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	errs := h.Process(ctx, toMessages(bodies))
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Fatalf("ran %v, past the invocation deadline", took)
	}
	done, late := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			done++
		case errors.Is(err, persist.ErrDeadline), errors.Is(err, store.ErrUnavailable):
			late++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if done == 0 || late == 0 || done+late != 60 {
		t.Fatalf("%d done, %d reported for redelivery", done, late)
	}
}

func toMessages(bodies []string) []persist.Message {
	out := make([]persist.Message, len(bodies))
	for i, b := range bodies {
		out[i] = persist.Message{ID: fmt.Sprint(i), Body: []byte(b), ReceiveCount: 1}
	}
	return out
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                       "ok",
		persist.ErrPermanent:                      "permanent",
		fmt.Errorf("x: %w", store.ErrCorrupt):     "permanent",
		persist.ErrDeadline:                       "deadline",
		fmt.Errorf("x: %w", store.ErrConflict):    "conflict",
		fmt.Errorf("x: %w", store.ErrUnavailable): "transient",
	} {
		if got := persist.Classify(err); got != want {
			t.Errorf("Classify(%v) = %s, want %s", err, got, want)
		}
	}
}
