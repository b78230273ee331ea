//go:build unix

package faults_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/callkit-records/callkit-records/internal/faults"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue/sqsqueue"
)

// sqsCollector drains the queue the way the persister would, remembering how many
// copies of each event key arrived (at-least-once: duplicates are allowed, loss is not).
type sqsCollector struct {
	c   *sqs.Client
	url string

	mu      sync.Mutex
	got     map[string]int
	badBody int // messages that are not envelopes, or whose attribute disagrees
}

func (k *sqsCollector) run(ctx context.Context) {
	for ctx.Err() == nil {
		// A receive abandoned while SQS hangs may still be served later: its messages
		// then reappear after the (short) visibility timeout instead of staying hidden.
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		res, err := k.c.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(k.url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 2,
			MessageAttributeNames: []string{"All"},
		})
		cancel()
		if err != nil {
			sleepCtx(ctx, 50*time.Millisecond) // SQS is down: keep trying, like the event source mapping
			continue
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		k.mu.Lock()
		for i, m := range res.Messages {
			env, err := envelope.Unmarshal([]byte(aws.ToString(m.Body)))
			attr := m.MessageAttributes[sqsqueue.AttrEventKey]
			if err != nil || aws.ToString(attr.StringValue) != env.EventKey {
				k.badBody++
			} else {
				k.got[env.EventKey]++
			}
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(string(rune('a' + i))), ReceiptHandle: m.ReceiptHandle})
		}
		k.mu.Unlock()
		if len(del) > 0 {
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, _ = k.c.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(k.url), Entries: del})
			cancel()
		}
	}
}

// drained reports whether SQS holds no message, visible or in flight.
func (k *sqsCollector) drained(ctx context.Context) bool {
	res, err := k.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(k.url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return false
	}
	return res.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
		res.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0"
}

func (k *sqsCollector) waitDrained(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !k.drained(t.Context()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the queue did not drain within 20 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *sqsCollector) copies(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.got[key]
}

// TestWebhookOverSQSOutage: the real webhook over SQS (moto owned by this test), fed by
// a Tencent-style sender (attempts at 0, 1, 1, 2, 3, 5 s) while SQS fails
// twice under it:
//
//   - frozen: moto is SIGSTOPped for 2 s (accepting connections, answering nothing),
//     the way a hung dependency behaves; requests that reached it may still be applied
//     after SIGCONT, so duplicates are expected and allowed;
//   - stopped: moto is shut down and started again on the same port. moto keeps queues in
//     memory, so the test quiesces first (holds new requests, waits for the ones in flight,
//     drains the queue) — real SQS never loses an accepted message, the emulator would —
//     then stops it under full load and recreates the queues from the template.
//
// In both: no attempt that saw only the outage got 200/ErrorCode 0, each got 503 with
// ErrorCode 1 (counted), every callback was acknowledged in the end, and every
// acknowledged callback reached the queue.
func TestWebhookOverSQSOutage(t *testing.T) {
	r := seeded(t)
	srv := testenv.StartMoto(t)
	t.Cleanup(func() { _ = resume(srv.PID()) }) // runs before srv.Stop: never leave it frozen
	c := testenv.NewSQSClient(srv.Endpoint(), testenv.WithMaxAttempts(1))
	names := map[string]string{"CallbackQueue": testenv.Name(t, "cb"), "CallbackDeadLetterQueue": testenv.Name(t, "dlq")}
	url := testenv.CreateQueuesFromTemplate(t, c, "", names)["CallbackQueue"].URL

	h := ingest.New(ingest.Config{
		AppAllowed:  func(id uint64) bool { return id == app },
		SendTimeout: time.Second, // a hung queue must not hold Tencent's request for long
	}, sqsqueue.New(c, url), logging.Discard())
	g := &gate{h: h}
	hs := httptest.NewServer(g)
	defer hs.Close()
	urlOf := func(d delivery) string { return hs.URL + ingest.Route + "?" + d.query.Encode() }

	col := &sqsCollector{c: testenv.NewSQSClient(srv.Endpoint(), testenv.WithMaxAttempts(1)), url: url, got: map[string]int{}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go col.run(ctx)

	client := newClient()
	sent := map[string]bool{}

	phase := func(name string, schedule []time.Duration, outage func() (down, up time.Time)) {
		t.Helper()
		calls := genCalls(t, r, 10)
		ds := flatten(calls)
		for _, d := range ds {
			sent[d.key] = true
		}
		var down, up time.Time
		done := make(chan [][]faults.Attempt)
		go func() { done <- tencent(ctx, client, ds, urlOf, 2*time.Second, schedule) }()
		time.Sleep(700 * time.Millisecond) // mid-run: first attempts are still being made
		down, up = outage()
		all := <-done
		col.waitDrained(t, name)

		o := summarise(all, down, up, unavailable503)
		missing := 0
		for _, d := range ds {
			if col.copies(d.key) == 0 {
				missing++
			}
		}
		dups := 0
		col.mu.Lock()
		for _, n := range col.got {
			dups += n - 1
		}
		col.mu.Unlock()
		t.Logf("%s: %d callbacks, %d attempts; outage %v: %d attempts saw only the outage (%d acked, %d refused otherwise than 503/1); %d acked in the end, %d gave up; %d missing from the queue; %d extra deliveries so far (at least once: sends answered too late, receives and deletes lost while SQS hung)",
			name, len(ds), o.attempts, up.Sub(down).Round(time.Millisecond), o.duringOutage, o.ackedDuringOutage, o.wrongRefusal, o.acked, o.exhausted, missing, dups)
		if o.duringOutage == 0 {
			t.Errorf("%s: no attempt fell inside the outage; the fault was not exercised", name)
		}
		if o.ackedDuringOutage != 0 {
			t.Errorf("%s: %d callbacks acknowledged with ErrorCode 0 while the queue was down", name, o.ackedDuringOutage)
		}
		if o.wrongRefusal != 0 {
			t.Errorf("%s: %d attempts during the outage were refused with something other than 503 / ErrorCode 1", name, o.wrongRefusal)
		}
		if o.exhausted != 0 {
			t.Errorf("%s: %d callbacks never acknowledged within Tencent's 6 attempts", name, o.exhausted)
		}
		// Every acknowledged callback is in the queue (here: every callback, since all
		// were acknowledged), and nothing else is.
		if missing != 0 {
			t.Errorf("%s: %d acknowledged callbacks never reached the queue", name, missing)
		}
	}

	// Frozen for 2 s. Tencent's schedule (12 s of retries) also absorbs the backlog moto
	// works through after SIGCONT, which on a busy machine takes seconds.
	phase("frozen", faults.Schedule, func() (time.Time, time.Time) {
		if err := freeze(srv.PID()); err != nil {
			t.Fatalf("SIGSTOP moto: %v", err)
		}
		down := time.Now()
		time.Sleep(2 * time.Second)
		up := time.Now()
		if err := resume(srv.PID()); err != nil {
			t.Fatalf("SIGCONT moto: %v", err)
		}
		return down, up
	})

	// Stopped for as long as moto takes to restart (seconds on a busy machine): Tencent's
	// own schedule, 12 s of retries.
	phase("stopped", faults.Schedule, func() (time.Time, time.Time) {
		t0 := time.Now()
		g.mu.Lock() // hold new webhook requests; in-flight ones finish first
		col.waitDrained(t, "before stopping moto")
		t1 := time.Now()
		srv.Stop()
		down := time.Now()
		g.mu.Unlock() // Tencent's traffic meets a stopped SQS
		time.Sleep(300 * time.Millisecond)
		srv.Start()
		up := time.Now() // moto answers again, but the queue does not exist until the next line
		if again := testenv.CreateQueuesFromTemplate(t, c, "", names)["CallbackQueue"].URL; again != url {
			t.Fatalf("recreated queue URL %q differs from %q", again, url)
		}
		t.Logf("stopped: quiesced in %v, stopped in %v, SQS back %v after the stop", t1.Sub(t0).Round(time.Millisecond),
			down.Sub(t1).Round(time.Millisecond), time.Since(down).Round(time.Millisecond))
		return down, up
	})

	col.mu.Lock()
	defer col.mu.Unlock()
	if col.badBody != 0 {
		t.Errorf("%d queued messages were not envelopes or carried a wrong eventKey attribute", col.badBody)
	}
	for k := range col.got {
		if !sent[k] {
			t.Errorf("the queue holds %s, which was never sent", k)
		}
	}
}

func freeze(pid int) error { return syscall.Kill(pid, syscall.SIGSTOP) }

func resume(pid int) error {
	if pid == 0 {
		return nil
	}
	return syscall.Kill(pid, syscall.SIGCONT)
}
