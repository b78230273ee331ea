package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
	"github.com/callkit-records/callkit-records/internal/lambdaemu/sqspoll"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// overlapping generates group calls (many participants, many callbacks per call) and
// orders their queue messages round-robin across calls, so every batch touches most calls
// and two consumers keep writing the same records at the same time.
func overlapping(t *testing.T, n int) ([]call, [][]byte) {
	t.Helper()
	r := seeded(t)
	var calls []call
	for len(calls) < n {
		c := genCalls(t, r, 1)[0]
		switch c.Scenario {
		case recordtest.Group, recordtest.GroupOngoing, recordtest.GroupCancelled, recordtest.V4Group:
			calls = append(calls, c)
		}
	}
	perCall := make([][]*message, len(calls))
	for i := range calls {
		perCall[i] = tencentStream(t, r, calls[i:i+1])
	}
	var bodies [][]byte
	for i := 0; ; i++ {
		added := false
		for _, ms := range perCall {
			if i < len(ms) {
				bodies = append(bodies, []byte(ms[i].body))
				added = true
			}
		}
		if !added {
			return calls, bodies
		}
	}
}

// TestConcurrentPersistersOverSQS: two event-source-mapping pollers (internal/lambdaemu's
// sqspoll) on the same SQS queue, each invoking its own persist handler with its own
// DynamoDB client — two Lambda instances — over one table, on overlapping calls. Both
// take part, and every record converges to Derive of its callbacks with a duplicate-free
// timeline; every participant finds the call in the user index.
func TestConcurrentPersistersOverSQS(t *testing.T) {
	t.Parallel()
	calls, bodies := overlapping(t, 6)
	sc := testenv.SQS(t)
	// A message a consumer fails (a conflict that outlasted its retries) comes back after
	// 5 s instead of the template's 180.
	url := testenv.QueuesFromTemplate(t, sc, testenv.WithQueueAttribute("CallbackQueue", "VisibilityTimeout", "5"))["CallbackQueue"].URL
	ddbEndpoint := testenv.DynamoDBEndpoint(t)
	table := testenv.TableFromTemplate(t, testenv.DynamoDB(t), "CallsTable")

	for i := 0; i < len(bodies); i += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j, b := range bodies[i:min(i+10, len(bodies))] {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(string(b))})
		}
		res, err := sc.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(res.Failed) != 0 {
			t.Fatalf("SendMessageBatch: %v %+v", err, res)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	handled := make([]atomic.Int64, 2)
	failedItems := make([]atomic.Int64, 2)
	for i := range 2 {
		st := dynamostore.New(testenv.NewDynamoDBClient(ddbEndpoint), dynamostore.Options{Table: table})
		h := persist.New(st, st, logging.Discard(), persist.Options{})
		fn := sqspoll.InvokerFunc(func(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
			var ev events.SQSEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				return lambdaemu.Result{}, err
			}
			res, err := h.HandleSQS(ctx, ev)
			handled[i].Add(int64(len(ev.Records)))
			failedItems[i].Add(int64(len(res.BatchItemFailures)))
			if err != nil {
				return lambdaemu.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"all failed"}`)}, nil
			}
			b, _ := json.Marshal(res)
			return lambdaemu.Result{Payload: b}, nil
		})
		p := &sqspoll.Poller{SQS: testenv.SQS(t), QueueURL: url, BatchSize: 10, Fn: fn, IdleDelay: 20 * time.Millisecond}
		wg.Go(func() { _ = p.Run(ctx) })
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := sc.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		if res.Attributes["ApproximateNumberOfMessages"] == "0" && res.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained after 60 s: %v", res.Attributes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("%d messages of %d calls; consumer A handled %d (%d failed), consumer B %d (%d failed)",
		len(bodies), len(calls), handled[0].Load(), failedItems[0].Load(), handled[1].Load(), failedItems[1].Load())
	if handled[0].Load() == 0 || handled[1].Load() == 0 {
		t.Fatalf("one consumer handled nothing; the persisters did not run concurrently")
	}
	st := dynamostore.New(testenv.DynamoDB(t), dynamostore.Options{Table: table})
	checkConverged(t, "two SQS consumers", st, calls, nil)
	checkUserIndex(t, st, calls)
}

// TestConcurrentPersistersOverEmbeddedQueue: the local server's consumer, twice, on one
// embedded queue and one embedded store, on overlapping calls: records converge.
func TestConcurrentPersistersOverEmbeddedQueue(t *testing.T) {
	calls, bodies := overlapping(t, 6)
	dir := t.TempDir()
	q, err := boltqueue.Open(filepath.Join(dir, "queue.db"), boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := boltstore.Open(filepath.Join(dir, "records.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, b := range bodies {
		if _, err := q.SendID(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	var consumers []*localserver.Consumer
	for range 2 {
		c := &localserver.Consumer{Queue: q, Handler: persist.New(st, nil, logging.Discard(), persist.Options{}), Log: logging.Discard(), Workers: 1, BatchSize: 10}
		c.Start()
		consumers = append(consumers, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for q.Stats().Depth != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("embedded queue not drained after 30 s: %+v", q.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range consumers {
		c.Stop()
	}
	if s := q.Stats(); s.Dead != 0 {
		t.Fatalf("dead letters: %+v", s)
	}
	t.Logf("%d messages of %d calls drained by two consumers", len(bodies), len(calls))
	checkConverged(t, "two embedded consumers", st, calls, nil)
	checkUserIndex(t, st, calls)
}

// checkUserIndex: every participant finds the call among its calls at the call's time.
func checkUserIndex(t *testing.T, rd store.Reader, calls []call) {
	t.Helper()
	for i := range calls {
		rec, _, err := rd.Get(context.Background(), calls[i].storeKey(), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rec.Participants {
			page, err := rd.List(context.Background(), store.Query{App: app, UserID: p.UserID, From: rec.IndexTs, To: rec.IndexTs}, nil, 50, 500)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range page.Records {
				found = found || r.CallID == rec.CallID
			}
			if !found {
				t.Errorf("user %s does not find call %s at %d", p.UserID, rec.CallID, rec.IndexTs)
			}
		}
	}
}

// pausingDDB holds its store's first BatchWriteItem until released, so a test can order
// two writers' requests exactly.
type pausingDDB struct {
	*dynamodb.Client
	reached chan struct{} // closed when the held write arrives
	release chan struct{} // close to let it through
	once    sync.Once
}

func (p *pausingDDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	held := false
	p.once.Do(func() { held = true })
	if held {
		close(p.reached)
		<-p.release
	}
	return p.Client.BatchWriteItem(ctx, in, opts...)
}

// TestConcurrentPersistersStaleParticipants: the interleaving two consumers produce when
// Tencent's retry of a callback is persisted by one of them while the other persists the
// whole call. Writer C reads the empty call and merges only bob's callee_receive_call
// (indexTs = that event), then stalls before its writes; writer A persists the whole
// call (caller_start_call first: indexTs = start) — participants, then the record; then
// C's participant entry lands, C's record write loses the version race, and C finds its
// callback already merged. The user index must still find the call for every participant
// at the record's indexTs: a participant entry written by a loser must not survive.
func TestConcurrentPersistersStaleParticipants(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDB(t, testenv.WithMaxAttempts(1))
	table := testenv.TableFromTemplate(t, c, "CallsTable")
	cbs := []callback.Callback{
		{SDKAppID: app, CallID: "stale-1", Command: callback.CmdCallerStartCall, UserID: "alice", Role: callback.RoleCaller, Event: "start_call",
			MediaType: callback.MediaAudio, CallType: callback.CallTypeSingle, EventTime: callsT0},
		{SDKAppID: app, CallID: "stale-1", Command: callback.CmdCalleeReceiveCall, UserID: "bob", Role: callback.RoleCallee, Event: "receive_call",
			MediaType: callback.MediaAudio, CallType: callback.CallTypeSingle, EventTime: callsT0 + 5},
	}
	update := func(cbs ...callback.Callback) []store.Update {
		u := store.Update{Key: store.CallKey{App: app, CallID: "stale-1"}}
		for _, cb := range cbs {
			_, body := cb.Render()
			u.Callbacks = append(u.Callbacks, store.Incoming{Callback: cb, ReceivedAt: 1, Body: body})
		}
		return []store.Update{u}
	}
	p := &pausingDDB{Client: c, reached: make(chan struct{}), release: make(chan struct{})}
	writerC := dynamostore.New(p, dynamostore.Options{Table: table})
	writerA := dynamostore.New(c, dynamostore.Options{Table: table})

	cDone := make(chan error, 1)
	go func() { cDone <- writerC.Apply(context.Background(), update(cbs[1]))[0] }()
	select {
	case <-p.reached: // C has read the (empty) call and merged bob's callback
	case <-time.After(20 * time.Second):
		t.Fatal("writer C never reached its writes")
	}
	if err := writerA.Apply(context.Background(), update(cbs...))[0]; err != nil {
		t.Fatalf("writer A: %v", err)
	}
	close(p.release)
	if err := <-cDone; err != nil {
		t.Fatalf("writer C: %v", err)
	}

	rd := dynamostore.New(c, dynamostore.Options{Table: table})
	rec, _, err := rd.Get(context.Background(), store.CallKey{App: app, CallID: "stale-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := record.Derive(app, "stale-1", cbs); !reflect.DeepEqual(rec, want) {
		t.Fatalf("record %+v, want %+v", rec, want)
	}
	checkUserIndex(t, rd, []call{{Call: recordtest.Call{App: app, CallID: "stale-1"}}})
}

// TestRedeliveryRepairsUserIndex: a writer that gave up after its conflict retries may
// leave a participant entry written from a superseded state (the interleaving above, with
// the retries exhausted). The message is then redelivered and merges as "unchanged"; a
// first delivery writes nothing then (duplicates are free), but a redelivery rewrites the
// call's index entries, so the user index finds the call again.
func TestRedeliveryRepairsUserIndex(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDB(t)
	table := testenv.TableFromTemplate(t, c, "CallsTable")
	const id = "stale-2"
	key := store.CallKey{App: app, CallID: id}
	cbs := []callback.Callback{
		{SDKAppID: app, CallID: id, Command: callback.CmdCallerStartCall, UserID: "alice", Role: callback.RoleCaller, Event: "start_call",
			MediaType: callback.MediaAudio, CallType: callback.CallTypeSingle, EventTime: callsT0},
		{SDKAppID: app, CallID: id, Command: callback.CmdCalleeReceiveCall, UserID: "bob", Role: callback.RoleCallee, Event: "receive_call",
			MediaType: callback.MediaAudio, CallType: callback.CallTypeSingle, EventTime: callsT0 + 5},
	}
	update := func(redelivered bool, cbs ...callback.Callback) []store.Update {
		u := store.Update{Key: key, Redelivered: redelivered}
		for _, cb := range cbs {
			_, body := cb.Render()
			u.Callbacks = append(u.Callbacks, store.Incoming{Callback: cb, ReceivedAt: 1, Body: body})
		}
		return []store.Update{u}
	}
	st := dynamostore.New(c, dynamostore.Options{Table: table})
	if err := st.Apply(context.Background(), update(false, cbs...))[0]; err != nil {
		t.Fatal(err)
	}
	// What the loser left behind: bob's entry at the indexTs of its bob-only state.
	stale := map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("C#%d#%s", app, id)}, "SK": &ddbtypes.AttributeValueMemberS{Value: "U#bob"},
		"role": &ddbtypes.AttributeValueMemberS{Value: "callee"}, "GSI2PK": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("U#%d#bob", app)},
		"GSI2SK": &ddbtypes.AttributeValueMemberS{Value: store.Pad10(callsT0+5) + "#" + id},
	}
	if _, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: stale}); err != nil {
		t.Fatal(err)
	}
	finds := func(user string) bool {
		rec, _, err := st.Get(context.Background(), key, false)
		if err != nil {
			t.Fatal(err)
		}
		page, err := st.List(context.Background(), store.Query{App: app, UserID: user, From: rec.IndexTs, To: rec.IndexTs}, nil, 50, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if r.CallID == id {
				return true
			}
		}
		return false
	}
	if finds("bob") {
		t.Fatal("the planted stale entry did not hide the call from bob: the test proves nothing")
	}
	if err := st.Apply(context.Background(), update(false, cbs[1]))[0]; err != nil {
		t.Fatal(err)
	}
	if finds("bob") {
		t.Fatal("a first delivery of a merged callback rewrote the index: duplicates should cost no writes")
	}
	if err := st.Apply(context.Background(), update(true, cbs[1]))[0]; err != nil {
		t.Fatal(err)
	}
	if !finds("bob") || !finds("alice") {
		t.Fatal("a redelivery did not repair the user index")
	}
	rec, _, err := st.Get(context.Background(), key, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := record.Derive(app, id, cbs); !reflect.DeepEqual(rec, want) {
		t.Fatalf("record %+v, want %+v", rec, want)
	}
}
