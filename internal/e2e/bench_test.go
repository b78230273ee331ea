package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
	"github.com/callkit-records/callkit-records/internal/lambdaemu/apigw"
	"github.com/callkit-records/callkit-records/internal/stack"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/queue/sqsqueue"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// Figures, not assertions: every benchmark reports its latency percentiles, and the warm
// ones the same operation done in process by the same handler code over the same
// emulators (the baseline, interleaved with the measured operation so both see the same
// machine load) and their ratio.

// benchStack is a stack for measuring: no poller (persist is invoked directly) and a
// query rate limit that does not get in the way.
func benchStack(b *testing.B) *stack.Stack {
	b.Helper()
	return stack.Start(b, stack.Options{NoPoller: true, Parameters: map[string]string{"QueryBurstLimit": "1000000"}})
}

// callbacks returns n distinct realistic callbacks (every scenario, in happening order).
func callbacks(seed uint64, n int) []callback.Callback {
	r := rand.New(rand.NewPCG(seed, 11))
	var out []callback.Callback
	for len(out) < n {
		c := recordtest.Gen(r, stack.DefaultApp, 1795000000+r.Int64N(86400))
		out = append(out, c.Callbacks...)
	}
	return out[:n]
}

// sqsEvent builds the SQS event the event source mapping would deliver for cbs, with the
// envelopes ingest writes.
func sqsEvent(s *stack.Stack, cbs []callback.Callback, tag string) events.SQSEvent {
	var ev events.SQSEvent
	for i := range cbs {
		cb := &cbs[i]
		q, body := cb.Render()
		env := envelope.Envelope{ReceivedAt: time.Now().UnixMilli(), RequestID: tag, SDKAppID: cb.SDKAppID, CallID: cb.CallID,
			EventKey: cb.Key().String(), Query: envelope.QueryMap(q), Body: body}
		msg, _ := env.Marshal()
		id := fmt.Sprintf("%s-%d", tag, i)
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, ReceiptHandle: id, Body: string(msg),
			Attributes:     map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)},
			EventSourceARN: s.Queue.ARN, EventSource: "aws:sqs", AWSRegion: "us-east-1"})
	}
	return ev
}

// apiEvent captures the API Gateway payload 2.0 event the adapter makes of req.
func apiEvent(b testing.TB, routes []string, req *http.Request) []byte {
	b.Helper()
	var payload []byte
	h, err := apigw.New(apigw.InvokerFunc(func(_ context.Context, p []byte) (lambdaemu.Result, error) {
		payload = p
		return lambdaemu.Result{Payload: []byte(`{"statusCode":200}`)}, nil
	}), apigw.WithRoutes(routes...))
	if err != nil {
		b.Fatal(err)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	if payload == nil {
		b.Fatalf("no event for %s %s", req.Method, req.URL)
	}
	return payload
}

func webhookRequest(s *stack.Stack, cb *callback.Callback) *http.Request {
	q, body := cb.Render()
	req := httptest.NewRequest(http.MethodPost, s.WebhookURL+"?"+q.Encode(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func byIDRequest(b testing.TB, s *stack.Stack, callID string) *http.Request {
	auth, err := s.Auth()
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"callId": callID})
	req := httptest.NewRequest(http.MethodPost, s.QueryURL+"/v1/records/get_record_by_callId?"+auth.Encode(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// lat collects latencies and reports percentiles.
type lat []time.Duration

func (l lat) pct(p float64) time.Duration {
	s := append(lat(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func (l lat) sum() time.Duration {
	var t time.Duration
	for _, d := range l {
		t += d
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// warm runs op b.N times after one warm-up, interleaved with base (not timed), and
// reports p50/p99 of both, op's invocations per second and the p50 ratio. i counts from
// 0 (the warm-up) so each call can pick fresh data. reset, when set, runs untimed before
// each pair.
func warm(b *testing.B, op, base func(i int) error, reset func(i int) error) {
	b.Helper()
	if err := op(0); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	if err := base(0); err != nil {
		b.Fatalf("baseline warm-up: %v", err)
	}
	var got, ref lat
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		b.StopTimer()
		if reset != nil {
			if err := reset(i); err != nil {
				b.Fatalf("reset %d: %v", i, err)
			}
		}
		t0 := time.Now()
		if err := base(i); err != nil {
			b.Fatalf("baseline %d: %v", i, err)
		}
		ref = append(ref, time.Since(t0))
		b.StartTimer()
		t0 = time.Now()
		if err := op(i); err != nil {
			b.Fatalf("invoke %d: %v", i, err)
		}
		got = append(got, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(ms(got.pct(0.50)), "p50-ms")
	b.ReportMetric(ms(got.pct(0.99)), "p99-ms")
	b.ReportMetric(float64(len(got))/got.sum().Seconds(), "inv/s")
	b.ReportMetric(ms(ref.pct(0.50)), "inproc-p50-ms")
	b.ReportMetric(float64(got.pct(0.50))/float64(ref.pct(0.50)), "x-inproc")
}

// BenchmarkLambdaWarm measures warm invocations of the real bootstraps under the
// emulator: a webhook POST through API Gateway → ingest (→ SQS); a batch of 10 new
// callbacks invoked on persist directly (→ DynamoDB); get_record_by_callId through API
// Gateway → query (← DynamoDB). The baseline is the same handler in this process.
func BenchmarkLambdaWarm(b *testing.B) {
	s := benchStack(b)
	c := newClient(s)
	ctx := context.Background()
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"CALLKIT_SDKAPPIDS": strconv.FormatUint(s.App, 10), "QUEUE_URL": s.Queue.URL}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	st := dynamostore.New(s.DDB, dynamostore.Options{Table: s.Table, Log: logging.Discard()})

	b.Run("ingest", func(b *testing.B) {
		cbs := callbacks(1, 20000)
		inproc := ingest.New(ingest.ConfigFrom(cfg), sqsqueue.New(s.SQS, s.Queue.URL), logging.New(os.Stderr, slog.LevelError, "ingest-inproc"))
		warm(b, func(i int) error {
			return c.postCallback(ctx, &cbs[(2*i)%len(cbs)])
		}, func(i int) error {
			w := httptest.NewRecorder()
			inproc.ServeHTTP(w, webhookRequest(s, &cbs[(2*i+1)%len(cbs)]))
			if w.Code != http.StatusOK {
				return fmt.Errorf("in-process webhook: %d %s", w.Code, w.Body)
			}
			return nil
		}, func(i int) error {
			// Nothing consumes the queue here, and moto's cost per request grows with the
			// queue's depth: keep it shallow so both sides measure the same thing.
			if i%25 != 0 {
				return nil
			}
			_, err := s.SQS.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(s.Queue.URL)})
			return err
		})
	})

	b.Run("persist-batch10", func(b *testing.B) {
		cbs := callbacks(2, 40000)
		fn := s.Function("persist")
		inproc := persist.New(st, st, logging.Discard(), persist.Options{})
		batch := func(i int) events.SQSEvent {
			n := i * 10 % (len(cbs) - 10)
			return sqsEvent(s, cbs[n:n+10], "m"+strconv.Itoa(i))
		}
		warm(b, func(i int) error {
			payload, _ := json.Marshal(batch(2 * i))
			res, err := fn.Invoke(ctx, payload)
			if err != nil || res.FunctionError != "" || bytes.Contains(res.Payload, []byte("itemIdentifier")) {
				return fmt.Errorf("persist: %v %s %s", err, res.FunctionError, res.Payload)
			}
			return nil
		}, func(i int) error {
			res, err := inproc.HandleSQS(ctx, batch(2*i+1))
			if err != nil || len(res.BatchItemFailures) > 0 {
				return fmt.Errorf("in-process persist: %v %v", err, res.BatchItemFailures)
			}
			return nil
		}, nil)
	})

	b.Run("query-by-id", func(b *testing.B) {
		calls := genCalls(rand.New(rand.NewPCG(3, 3)), s.App, 1795000000, 2)
		var set []callback.Callback
		for _, e := range calls {
			set = append(set, e.set...)
		}
		if err := c.deliver(ctx, set, 4); err != nil {
			b.Fatal(err)
		}
		for lo := 0; lo < len(set); lo += 10 { // persist them (no poller in this stack)
			payload, _ := json.Marshal(sqsEvent(s, set[lo:min(lo+10, len(set))], "seed"))
			if res, err := s.Function("persist").Invoke(ctx, payload); err != nil || res.FunctionError != "" {
				b.Fatalf("seeding: %v %s", err, res.Payload)
			}
		}
		inproc := query.New(st, auth.NewVerifier(map[uint64]string{s.App: s.SecretKey}, []string{s.Admin}, nil), ratelimit.New(1e6), logging.Discard(), nil)
		warm(b, func(i int) error {
			e := calls[(i+1)%len(calls)]
			_, err := c.v1(ctx, "/v1/records/get_record_by_callId", map[string]string{"callId": e.call.CallID})
			return err
		}, func(i int) error {
			w := httptest.NewRecorder()
			inproc.ServeHTTP(w, byIDRequest(b, s, calls[(i+1)%len(calls)].call.CallID))
			var res v1Response
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.ErrorCode != 0 {
				return fmt.Errorf("in-process query: %v %s", err, w.Body)
			}
			return nil
		}, nil)
	})
}

// BenchmarkLambdaColdStart starts a fresh execution environment per iteration and
// measures process start → first response posted (the cold start a client sees, minus
// the HTTP round trip), with a realistic first event: a webhook callback for ingest, a
// batch of 10 for persist, get_record_by_callId for query (whose init also reads the
// UserSig key from Secrets Manager). init is process start → first /next (Lambda's
// "Init Duration"); the baseline is a second, warm invoke of the same instance.
func BenchmarkLambdaColdStart(b *testing.B) {
	s := benchStack(b)
	ctx := context.Background()
	cbs := callbacks(4, 10000)
	ingestRoutes := []string{"POST /callback", "POST /callback/{token}"}
	queryRoutes := []string{"POST /v1/records/get_record_by_callId"}
	// A record for the query to find.
	seed, _ := json.Marshal(sqsEvent(s, cbs[:10], "seed"))
	if res, err := s.Function("persist").Invoke(ctx, seed); err != nil || res.FunctionError != "" {
		b.Fatalf("seeding: %v %s", err, res.Payload)
	}
	payloads := map[string]func(i int) []byte{
		"ingest": func(i int) []byte { return apiEvent(b, ingestRoutes, webhookRequest(s, &cbs[10+i%(len(cbs)-10)])) },
		"persist": func(i int) []byte {
			n := 10 + (i*10)%(len(cbs)-20)
			p, _ := json.Marshal(sqsEvent(s, cbs[n:n+10], "cold"+strconv.Itoa(i)))
			return p
		},
		"query": func(int) []byte { return apiEvent(b, queryRoutes, byIDRequest(b, s, cbs[0].CallID)) },
	}
	for _, f := range stack.Functions {
		b.Run(f.Name, func(b *testing.B) {
			var cold, init, warmLat lat
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p1, p2 := payloads[f.Name](2*i), payloads[f.Name](2*i+1)
				if f.Name == "ingest" && i%20 == 0 { // keep moto's queue shallow (see BenchmarkLambdaWarm)
					if _, err := s.SQS.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(s.Queue.URL)}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				fn, err := lambdaemu.Start(s.FunctionConfig(f.Name))
				if err != nil {
					b.Fatal(err)
				}
				res, err := fn.Invoke(ctx, p1)
				if err == nil && res.FunctionError == "" {
					b.StopTimer()
					st := fn.Stats()
					cold, init = append(cold, st.LastColdStart), append(init, res.InitDuration)
					var res2 lambdaemu.Result
					if res2, err = fn.Invoke(ctx, p2); err == nil && res2.FunctionError == "" {
						warmLat = append(warmLat, res2.Duration)
					}
					res = res2
					b.StartTimer()
				}
				_ = fn.Close()
				if err != nil || res.FunctionError != "" {
					b.Fatalf("%s: %v %s %s", f.Name, err, res.FunctionError, res.Payload)
				}
			}
			b.ReportMetric(ms(cold.pct(0.50)), "cold-p50-ms")
			b.ReportMetric(ms(cold.pct(0.99)), "cold-p99-ms")
			b.ReportMetric(ms(init.pct(0.50)), "init-p50-ms")
			b.ReportMetric(ms(warmLat.pct(0.50)), "warm-p50-ms")
			b.ReportMetric(float64(cold.pct(0.50))/float64(warmLat.pct(0.50)), "x-warm")
		})
	}
}

// BenchmarkLambdaBootstrapSize reports the size of each arm64 bootstrap as `make build`
// produces it (deterministic; TestBootstrapSizes holds the budget).
func BenchmarkLambdaBootstrapSize(b *testing.B) {
	dir := b.TempDir()
	bins, err := stack.Build(context.Background(), "arm64", dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range stack.Functions {
		b.Run(f.Name, func(b *testing.B) {
			var size int64
			for i := 0; i < b.N; i++ {
				st, err := os.Stat(bins[f.Name])
				if err != nil {
					b.Fatal(err)
				}
				size = st.Size()
			}
			b.ReportMetric(float64(size), "bytes")
			b.ReportMetric(100*float64(size)/SizeBudget, "%budget")
		})
	}
}
