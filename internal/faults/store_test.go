package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// message is one SQS message as the event source mapping handles it.
type message struct {
	id       string
	body     string
	key      string // event key
	callID   string
	receives int
}

// tencentStream is what the webhook queues for calls: every distinct callback at least
// once, some repeated as Tencent's retries, the calls interleaved.
func tencentStream(t testing.TB, r *rand.Rand, calls []call) []*message {
	t.Helper()
	byKey := map[string]delivery{}
	var cbs []callback.Callback
	for _, c := range calls {
		for _, d := range c.sent {
			byKey[d.key] = d
		}
		cbs = append(cbs, recordtest.Deliveries(r, c.parsed())...)
	}
	r.Shuffle(len(cbs), func(i, j int) { cbs[i], cbs[j] = cbs[j], cbs[i] })
	ds := make([]delivery, len(cbs))
	for i, cb := range cbs {
		ds[i] = byKey[cb.Key().String()]
	}
	out := make([]*message, 0, len(ds))
	for i, m := range enqueued(t, ds) {
		out = append(out, &message{id: fmt.Sprintf("msg-%05d", i), body: string(m.Body), key: m.EventKey, callID: m.CallID})
	}
	return out
}

func sqsBatch(ms []*message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range ms {
		m.receives++
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.id, Body: m.body, EventSource: "aws:sqs",
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)}})
	}
	return ev
}

// handle runs one batch through the Lambda handler with a Lambda-like deadline and
// returns the ids it reported failed.
func handle(t *testing.T, h *persist.Handler, ms []*message) (map[string]bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := h.HandleSQS(ctx, sqsBatch(ms))
	failed := map[string]bool{}
	for _, f := range res.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	if len(failed) == len(ms) && err == nil {
		t.Errorf("every message of a batch failed but the handler returned no error")
	}
	return failed, err
}

func batches(ms []*message, size int) [][]*message {
	var out [][]*message
	for len(ms) > 0 {
		n := min(size, len(ms))
		out = append(out, ms[:n])
		ms = ms[n:]
	}
	return out
}

// persistClean feeds the same messages to an undisturbed table and returns its records.
func persistClean(t *testing.T, c *dynamodb.Client, msgs []*message, calls []call) map[string]record.Record {
	t.Helper()
	table := testenv.Name(t, "clean")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", table)
	st := dynamostore.New(c, dynamostore.Options{Table: table})
	h := persist.New(st, st, logging.Discard(), persist.Options{})
	clean := make([]*message, len(msgs))
	for i, m := range msgs {
		cp := *m
		clean[i] = &cp
	}
	for _, b := range batches(clean, 10) {
		if failed, err := handle(t, h, b); len(failed) != 0 || err != nil {
			t.Fatalf("undisturbed run: %d failures, %v", len(failed), err)
		}
	}
	checkConverged(t, "undisturbed", st, calls, nil)
	out := map[string]record.Record{}
	for i := range calls {
		rec, _, err := st.Get(context.Background(), calls[i].storeKey(), false)
		if err != nil {
			t.Fatal(err)
		}
		out[calls[i].CallID] = rec
	}
	return out
}

// stopper forwards to DynamoDB and, once armed, stops the server just before the n-th
// record PutItem of a batch is sent, after the earlier ones have been answered: the batch
// is cut between its writes (timeline items written, n−1 records written, the rest
// refused). dynamostore writes records concurrently, so the n-th waits for the others.
type stopper struct {
	*dynamodb.Client
	stop     func()
	n        int64
	puts     atomic.Int64 // PutItems started in this batch
	answered atomic.Int64 // PutItems answered in this batch
	armed    atomic.Bool
	fired    atomic.Bool
}

func (s *stopper) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if s.armed.Load() && s.puts.Add(1) == s.n && s.fired.CompareAndSwap(false, true) {
		for deadline := time.Now().Add(10 * time.Second); s.answered.Load() < s.n-1 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		s.stop()
	}
	out, err := s.Client.PutItem(ctx, in, opts...)
	s.answered.Add(1)
	return out, err
}

// TestPersistDynamoDBStoppedMidRun: the persist handler over dynamostore while DynamoDB
// Local (owned by this test, on disk) is stopped in the middle of a batch — after the
// batch's timeline items and two of its record writes — and started again. The cut batch
// reports some messages done and the rest failed; batches handled while DynamoDB is down
// report every message failed (and the invocation as failed); every message reported done
// is durably in its call's timeline after the restart; after redelivery of the failures
// the records equal an undisturbed run's and Derive's, and no timeline holds a callback
// twice.
func TestPersistDynamoDBStoppedMidRun(t *testing.T) {
	t.Parallel() // mostly waits for its own DynamoDB Local (a JVM) to start, twice
	r := seeded(t)
	calls := genCalls(t, r, 8)
	msgs := tencentStream(t, r, calls)
	want := persistClean(t, testenv.DynamoDB(t), msgs, calls)

	srv := testenv.StartDynamoDBLocal(t, testenv.DDBPersistent())
	c := testenv.NewDynamoDBClient(srv.Endpoint(), testenv.WithMaxAttempts(1))
	table := testenv.Name(t, "faulty")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", table)
	stoppedAt := time.Time{}
	sp := &stopper{Client: c, n: 3, stop: func() {
		t0 := time.Now()
		srv.Stop()
		stoppedAt = time.Now()
		t.Logf("DynamoDB Local stopped mid-batch in %v", stoppedAt.Sub(t0).Round(time.Millisecond))
	}}
	st := dynamostore.New(sp, dynamostore.Options{Table: table})
	h := persist.New(st, st, logging.Discard(), persist.Options{})

	bs := batches(msgs, 10)
	if failed, err := handle(t, h, bs[0]); len(failed) != 0 || err != nil {
		t.Fatalf("before the fault: %d failures, %v", len(failed), err)
	}
	bs = bs[1:]

	var redeliver []*message
	done := map[string]*message{} // reported done by the batch the stop cut
	sp.armed.Store(true)
	for !sp.fired.Load() && len(bs) > 0 {
		b := bs[0]
		bs = bs[1:]
		sp.puts.Store(0)
		sp.answered.Store(0)
		failed, _ := handle(t, h, b)
		if !sp.fired.Load() { // fewer than 3 records changed in this batch: not cut yet
			if len(failed) != 0 {
				t.Fatalf("batch before the stop: %d failures", len(failed))
			}
			continue
		}
		for _, m := range b {
			if failed[m.id] {
				redeliver = append(redeliver, m)
			} else {
				done[m.id] = m
			}
		}
		if len(done) == 0 || len(redeliver) == 0 {
			t.Errorf("the cut batch reported %d done and %d failed; want some of each", len(done), len(redeliver))
		}
	}
	if !sp.fired.Load() {
		t.Fatalf("no batch changed 3 records; the stop never happened")
	}
	// Fully down: whole batches fail, nothing is reported done.
	whileDown, failedDown := 0, 0
	for i := 0; i < 2 && len(bs) > 0; i++ {
		b := bs[0]
		bs = bs[1:]
		failed, err := handle(t, h, b)
		whileDown++
		failedDown += len(failed)
		if len(failed) != len(b) || err == nil {
			t.Errorf("batch while DynamoDB is down: %d of %d failed, err %v; want all failed and an error", len(failed), len(b), err)
		}
		for _, m := range b {
			if failed[m.id] {
				redeliver = append(redeliver, m)
			}
		}
	}
	t1 := time.Now()
	srv.Start()
	t.Logf("DynamoDB Local restarted in %v", time.Since(t1).Round(time.Millisecond))

	// What was reported done is there (the queue would have deleted it).
	missing := 0
	byCall := map[string][]*message{}
	for _, m := range done {
		byCall[m.callID] = append(byCall[m.callID], m)
	}
	for id, ms := range byCall {
		_, evs, err := st.Get(context.Background(), store.CallKey{App: app, CallID: id}, true)
		if err != nil {
			t.Fatalf("after restart: Get %s: %v", id, err)
		}
		have := map[string]bool{}
		for _, e := range evs {
			have[e.Key] = true
		}
		for _, m := range ms {
			if !have[m.key] {
				missing++
				t.Errorf("message %s was reported done but %s is not in the timeline", m.id, m.key)
			}
		}
	}
	t.Logf("cut batch: %d messages done, %d failed; %d batches while down (%d messages failed); %d done but missing after the restart",
		len(done), len(redeliver)-failedDown, whileDown, failedDown, missing)
	if whileDown == 0 {
		t.Fatalf("no batch ran while DynamoDB was down; the fault was not exercised")
	}

	// Redelivery (failed messages come back after the rest, as after a visibility timeout).
	rest := append(flattenBatches(bs), redeliver...)
	for _, b := range batches(rest, 10) {
		if failed, err := handle(t, h, b); len(failed) != 0 || err != nil {
			t.Fatalf("after the restart: %d failures, %v", len(failed), err)
		}
	}
	checkConverged(t, "after DynamoDB restart", st, calls, want)
}

func flattenBatches(bs [][]*message) []*message {
	var out []*message
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// throttler is dynamostore's DynamoDB client with throttling injected for chosen calls,
// the way DynamoDB throttles a hot partition: a BatchWriteItem/BatchGetItem returns the
// calls' items as unprocessed (the request fails only when nothing could be processed),
// and a PutItem/GetItem fails with ProvisionedThroughputExceededException as it does
// once the SDK's own retries are spent. Items are matched on their partition key
// (PK = C#<app>#<callId>, README "Storage").
type throttler struct {
	*dynamodb.Client
	mu           sync.Mutex
	writes       map[string]bool // PKs whose item writes (BatchWriteItem, PutItem) are throttled
	puts         map[string]bool // PKs whose record writes (PutItem) only are throttled
	reads        map[string]bool // PKs whose reads (BatchGetItem, GetItem) are throttled
	hits, passes atomic.Int64
}

func pkOf(callID string) string { return "C#" + strconv.Itoa(app) + "#" + callID }

func (th *throttler) set(writes, puts, reads []string) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.writes, th.puts, th.reads = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, id := range writes {
		th.writes[pkOf(id)] = true
	}
	for _, id := range puts {
		th.puts[pkOf(id)] = true
	}
	for _, id := range reads {
		th.reads[pkOf(id)] = true
	}
}

func (th *throttler) throttled(m map[string]bool, item map[string]ddbtypes.AttributeValue) bool {
	pk, _ := item["PK"].(*ddbtypes.AttributeValueMemberS)
	th.mu.Lock()
	defer th.mu.Unlock()
	return pk != nil && m[pk.Value]
}

func errThrottled(op string) error {
	return &ddbtypes.ProvisionedThroughputExceededException{Message: aws.String("injected throttling of " + op)}
}

func (th *throttler) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	pass := map[string][]ddbtypes.WriteRequest{}
	held := map[string][]ddbtypes.WriteRequest{}
	n := 0
	for table, reqs := range in.RequestItems {
		for _, w := range reqs {
			if w.PutRequest != nil && th.throttled(th.writes, w.PutRequest.Item) {
				held[table] = append(held[table], w)
				continue
			}
			pass[table] = append(pass[table], w)
			n++
		}
	}
	if len(held) == 0 {
		th.passes.Add(1)
		return th.Client.BatchWriteItem(ctx, in, opts...)
	}
	th.hits.Add(1)
	if n == 0 {
		return nil, errThrottled("BatchWriteItem")
	}
	out, err := th.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pass}, opts...)
	if err != nil {
		return nil, err
	}
	if out.UnprocessedItems == nil {
		out.UnprocessedItems = map[string][]ddbtypes.WriteRequest{}
	}
	for table, ws := range held {
		out.UnprocessedItems[table] = append(out.UnprocessedItems[table], ws...)
	}
	return out, nil
}

func (th *throttler) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if th.throttled(th.writes, in.Item) || th.throttled(th.puts, in.Item) {
		th.hits.Add(1)
		return nil, errThrottled("PutItem")
	}
	return th.Client.PutItem(ctx, in, opts...)
}

func (th *throttler) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if th.throttled(th.reads, in.Key) {
		th.hits.Add(1)
		return nil, errThrottled("GetItem")
	}
	return th.Client.GetItem(ctx, in, opts...)
}

func (th *throttler) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	pass := map[string]ddbtypes.KeysAndAttributes{}
	held := map[string]ddbtypes.KeysAndAttributes{}
	n, h := 0, 0
	for table, ka := range in.RequestItems {
		p, hd := ka, ka
		p.Keys, hd.Keys = nil, nil
		for _, k := range ka.Keys {
			if th.throttled(th.reads, k) {
				hd.Keys = append(hd.Keys, k)
				h++
			} else {
				p.Keys = append(p.Keys, k)
				n++
			}
		}
		if len(p.Keys) > 0 {
			pass[table] = p
		}
		if len(hd.Keys) > 0 {
			held[table] = hd
		}
	}
	if h == 0 {
		return th.Client.BatchGetItem(ctx, in, opts...)
	}
	th.hits.Add(1)
	if n == 0 {
		return nil, errThrottled("BatchGetItem")
	}
	out, err := th.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pass}, opts...)
	if err != nil {
		return nil, err
	}
	if out.UnprocessedKeys == nil {
		out.UnprocessedKeys = map[string]ddbtypes.KeysAndAttributes{}
	}
	for table, ka := range held {
		u := out.UnprocessedKeys[table]
		if u.Keys == nil {
			u = ka
		} else {
			u.Keys = append(u.Keys, ka.Keys...)
		}
		out.UnprocessedKeys[table] = u
	}
	return out, nil
}

// TestPersistThrottledCalls: throttling injected into dynamostore's DynamoDB calls for
// chosen calls, in three shapes — item and record writes of two calls (their timeline
// items come back unprocessed, their record puts fail), record writes only of two more,
// and reads of one call. In each pass exactly the messages of the throttled calls are
// reported in batchItemFailures; after redelivery without throttling every record
// equals the undisturbed run's and Derive's, and no timeline holds a callback twice.
func TestPersistThrottledCalls(t *testing.T) {
	t.Parallel()
	r := seeded(t)
	c := testenv.DynamoDB(t, testenv.WithMaxAttempts(1))
	calls := genCalls(t, r, 10)
	msgs := tencentStream(t, r, calls)
	want := persistClean(t, c, msgs, calls)

	table := testenv.Name(t, "throttled")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", table)
	th := &throttler{Client: c}
	st := dynamostore.New(th, dynamostore.Options{Table: table})
	h := persist.New(st, st, logging.Discard(), persist.Options{})

	ids := make([]string, len(calls))
	for i := range calls {
		ids[i] = calls[i].CallID
	}
	writeHot, putHot, readHot := ids[0:2], ids[2:4], ids[4:5]
	byCall := map[string][]*message{}
	for _, m := range msgs {
		byCall[m.callID] = append(byCall[m.callID], m)
	}

	// pass runs msgs as batches of 10 in which the throttled calls' messages are packed
	// into as few batches as possible (dynamostore backs off on unprocessed items, which
	// costs time per batch), and returns the failed messages.
	pass := func(name string, ms []*message, hot []string) []*message {
		t.Helper()
		isHot := map[string]bool{}
		for _, id := range hot {
			isHot[id] = true
		}
		var hotMs, coldMs []*message
		for _, m := range ms {
			if isHot[m.callID] {
				hotMs = append(hotMs, m)
			} else {
				coldMs = append(coldMs, m)
			}
		}
		// Each hot batch: up to 6 hot messages and at least 4 cold ones, so every batch
		// has messages that must not fail alongside those that must.
		var bs [][]*message
		for len(hotMs) > 0 {
			n := min(6, len(hotMs))
			k := min(10-n, len(coldMs))
			bs = append(bs, append(append([]*message(nil), hotMs[:n]...), coldMs[:k]...))
			hotMs, coldMs = hotMs[n:], coldMs[k:]
		}
		bs = append(bs, batches(coldMs, 10)...)
		var failedMs []*message
		wrong := 0
		for _, b := range bs {
			failed, err := handle(t, h, b)
			for _, m := range b {
				switch {
				case failed[m.id] && isHot[m.callID]:
					failedMs = append(failedMs, m)
				case failed[m.id]:
					wrong++
					if wrong <= 3 {
						t.Errorf("%s: message %s of unthrottled call %s reported failed (err %v)", name, m.id, m.callID, err)
					}
				case isHot[m.callID]:
					wrong++
					if wrong <= 3 {
						t.Errorf("%s: message %s of throttled call %s reported done", name, m.id, m.callID)
					}
				}
			}
		}
		hotTotal := 0
		for _, id := range hot {
			hotTotal += len(byCall[id])
		}
		t.Logf("%s: %d messages in %d batches; %d of the %d messages of throttled calls failed, %d wrong outcomes; %d throttled requests",
			name, len(ms), len(bs), len(failedMs), hotTotal, wrong, th.hits.Load())
		if wrong > 0 {
			t.FailNow()
		}
		return failedMs
	}

	// Pass 1: writes of writeHot and record puts of putHot are throttled.
	th.set(writeHot, putHot, nil)
	failed := pass("writes throttled", msgs, append(append([]string(nil), writeHot...), putHot...))
	// Pass 2: the failures come back (now unthrottled) together with Tencent's retries of
	// another call whose reads are now throttled: only the latter may fail.
	th.set(nil, nil, readHot)
	again := append([]*message(nil), failed...)
	for _, m := range byCall[readHot[0]] {
		cp := *m
		cp.id, cp.receives = m.id+"-retry", 0
		again = append(again, &cp)
	}
	failed = pass("reads throttled", again, readHot)
	// Redelivery with DynamoDB healthy.
	th.set(nil, nil, nil)
	for _, b := range batches(failed, 10) {
		if f, err := handle(t, h, b); len(f) != 0 || err != nil {
			t.Fatalf("redelivery: %d failures, %v", len(f), err)
		}
	}
	checkConverged(t, "after throttling", st, calls, want)
}

// TestPersistCorruptRecordItem: one call's record item in the table is damaged (its
// state attribute is not deflated JSON). A batch mixing that call with others reports
// only the damaged call's messages — as permanent, so the queue dead-letters them — and
// the others are applied.
func TestPersistCorruptRecordItem(t *testing.T) {
	t.Parallel()
	r := seeded(t)
	c := testenv.DynamoDB(t, testenv.WithMaxAttempts(1))
	calls := genCalls(t, r, 4)
	msgs := tencentStream(t, r, calls)
	table := testenv.Name(t, "corrupt")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", table)
	st := dynamostore.New(c, dynamostore.Options{Table: table})
	bad := calls[0].CallID
	// Damage the record item (README "Storage": PK C#<app>#<callId>, SK #R, state in st).
	if _, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: pkOf(bad)}, "SK": &ddbtypes.AttributeValueMemberS{Value: "#R"},
		"st": &ddbtypes.AttributeValueMemberB{Value: []byte("not deflate")}, "ver": &ddbtypes.AttributeValueMemberN{Value: "1"},
	}}); err != nil {
		t.Fatal(err)
	}
	var errs []error
	h := persist.New(st, nil, logging.Discard(), persist.Options{})
	for _, b := range batches(msgs, 10) {
		pm := make([]persist.Message, len(b))
		for i, m := range b {
			pm[i] = persist.Message{ID: m.id, Body: []byte(m.body), ReceiveCount: 1}
		}
		errs = append(errs, h.Process(t.Context(), pm)...)
	}
	failed := 0
	for i, m := range msgs {
		switch {
		case m.callID == bad && persist.Classify(errs[i]) != "permanent":
			t.Errorf("message %s of the damaged call: %v, want a permanent failure", m.id, errs[i])
		case m.callID != bad && errs[i] != nil:
			t.Errorf("message %s of an intact call failed: %v", m.id, errs[i])
		case errs[i] != nil:
			failed++
		}
	}
	t.Logf("%d messages, %d of the damaged call failed as permanent", len(msgs), failed)
	checkConverged(t, "intact calls", st, calls[1:], nil)
}
