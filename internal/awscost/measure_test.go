package awscost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/internal/awscost"
	"github.com/callkit-records/callkit-records/internal/benchdata"
	"github.com/callkit-records/callkit-records/internal/ddbmeter"
	"github.com/callkit-records/callkit-records/internal/loadtest"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/queue/sqsqueue"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const app = 1400000001

// BenchmarkAWSCost measures what 1,000 realistic callbacks and each query kind cost in
// AWS requests, capacity units, handler time and log bytes, with the real handlers
// against DynamoDB Local (metered by ddbmeter) and moto (SQS), and writes the figures as
// JSON to $CALLKIT_COST_OUT for `callkit-bench report`. Run it once: -benchtime 1x.
func BenchmarkAWSCost(b *testing.B) {
	var m awscost.Measured
	for range b.N {
		m = measure(b)
	}
	b.ReportMetric(m.WriteRequests, "write-req/cb")
	b.ReportMetric(m.WCU, "WCU/cb")
	b.ReportMetric(m.RCU, "RCU/cb")
	b.ReportMetric(m.IngestMs, "ingest-ms")
	b.ReportMetric(m.PersistBatchMs, "persist-batch-ms")
	bill := awscost.PerMillionCallbacks(m)
	b.ReportMetric(bill.Total, "USD/1M-callbacks")
	if out := os.Getenv("CALLKIT_COST_OUT"); out != "" {
		j, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, append(j, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// counter counts the bytes and lines a logger writes.
type counter struct {
	mu           sync.Mutex
	bytes, lines int
}

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.bytes += len(p)
	c.lines += bytes.Count(p, []byte("\n"))
	c.mu.Unlock()
	return len(p), nil
}

func (c *counter) take() (bytes, lines int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bytes, lines, c.bytes, c.lines = c.bytes, c.lines, 0, 0
	return
}

// nopSQS accepts every message.
type nopSQS struct{}

func (nopSQS) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return &sqs.SendMessageOutput{}, nil
}

// recordingSQS passes SendMessage on (to moto) and keeps what was sent.
type recordingSQS struct {
	api  sqsqueue.API
	mu   sync.Mutex
	sent []sqs.SendMessageInput
}

func (r *recordingSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	out, err := r.api.SendMessage(ctx, in, opts...)
	if err == nil {
		r.mu.Lock()
		r.sent = append(r.sent, *in)
		r.mu.Unlock()
	}
	return out, err
}

func measure(b *testing.B) awscost.Measured {
	const n, batch = 1000, 10
	ctx := context.Background()
	m := awscost.Measured{Callbacks: n, BatchSize: batch, DurationSource: "in-process handler against DynamoDB Local / moto"}
	readTemplate(b, &m)
	start := time.Now()
	phase := func(name string) { b.Logf("%-8s done at %s", name, time.Since(start).Round(time.Millisecond)) }

	// Ingest: the real webhook over SQS (moto); every request must be acknowledged.
	sqsc := testenv.SQS(b)
	queueURL := testenv.QueuesFromTemplate(b, sqsc)["CallbackQueue"].URL
	rec := &recordingSQS{api: sqsc}
	var ingestLog counter
	webhook := ingest.New(ingest.Config{AppAllowed: func(id uint64) bool { return id == app }}, sqsqueue.New(rec, queueURL),
		logging.New(&ingestLog, 0, "ingest"))
	cbs := loadtest.Callbacks(42, app, n, 1795000000, 600)[:n]
	// The first 100 through moto, one at a time (a Lambda instance serves one request at
	// a time): their mean is the ingest duration. The rest go to a recording stand-in —
	// the same handler producing the same messages — because moto is slow under load.
	const timed = 100
	var ingestTime time.Duration
	for i, c := range cbs {
		if i == timed {
			rec.api = nopSQS{}
		}
		req := httptest.NewRequest(http.MethodPost, "/callback?"+c.Query, bytes.NewReader(c.Body))
		w := httptest.NewRecorder()
		t0 := time.Now()
		webhook.ServeHTTP(w, req)
		if i < timed {
			ingestTime += time.Since(t0)
		}
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), loadtest.AckBody) {
			b.Fatalf("webhook: %d %s", w.Code, w.Body)
		}
	}
	m.IngestMs = ms(ingestTime) / timed
	if len(rec.sent) != n {
		b.Fatalf("%d messages sent for %d callbacks", len(rec.sent), n)
	}
	m.SendsPerCallback = float64(len(rec.sent)) / n
	var msgBytes int
	for _, s := range rec.sent {
		msgBytes += len(*s.MessageBody)
		for k, v := range s.MessageAttributes {
			msgBytes += len(k) + len(*v.DataType) + len(*v.StringValue)
		}
	}
	m.MessageBytes = float64(msgBytes) / n
	lb, ll := ingestLog.take()
	m.IngestLogBytes, m.IngestLogEvents = float64(lb)/n, float64(ll)/n
	phase("ingest")

	// Persist: the messages the webhook sent, as the event source mapping delivers them,
	// through the real handler into DynamoDB Local.
	meter := ddbmeter.New()
	ddb := testenv.NewDynamoDBClient(testenv.DynamoDBEndpoint(b), testenv.WithDynamoDBOption(meter.Option))
	table := testenv.Name(b, "calls")
	testenv.CreateTableFromTemplate(b, ddb, "", "CallsTable", table)
	var persistLog counter
	plog := logging.New(&persistLog, 0, "persist")
	st := dynamostore.New(ddb, dynamostore.Options{Table: table, RetentionDays: 30, Log: plog})
	h := persist.New(st, st, plog, persist.Options{})
	meter.Reset()
	var persistTime time.Duration
	for lo := 0; lo < n; lo += batch {
		var ev events.SQSEvent
		for i := lo; i < lo+batch; i++ {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m-" + strconv.Itoa(i), Body: *rec.sent[i].MessageBody,
				Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
		}
		t0 := time.Now()
		res, err := h.HandleSQS(ctx, ev)
		persistTime += time.Since(t0)
		if err != nil || len(res.BatchItemFailures) > 0 {
			b.Fatalf("persist: %v %v", err, res.BatchItemFailures)
		}
	}
	m.PersistBatchMs = ms(persistTime) / (n / batch)
	snap := meter.Snapshot()
	writes, reads, wcu, rcu := snap.Totals()
	m.WriteRequests, m.ReadRequests, m.WCU, m.RCU = float64(writes)/n, float64(reads)/n, wcu/n, rcu/n
	m.ByOperation = map[string]awscost.OpPer1k{}
	for name, op := range snap {
		m.ByOperation[name] = awscost.OpPer1k{Requests: float64(op.Requests) * 1000 / n, WCU: op.WCU * 1000 / n, RCU: op.RCU * 1000 / n}
	}
	lb, ll = persistLog.take()
	m.PersistLogBytes, m.PersistLogEvents = float64(lb)/(n/batch), float64(ll)/(n/batch)
	// Every callback is in its record: the writes were not wasted.
	for _, c := range cbs[:50] {
		if _, evs, err := st.Get(ctx, store.CallKey{App: app, CallID: c.CallID}, true); err != nil || !hasKey(evs, c.Key) {
			b.Fatalf("call %s lacks %s after persisting (err %v)", c.CallID, c.Key, err)
		}
	}

	phase("persist")
	m.PlatformLogBytes, m.PlatformLogEvents = platformLogBytes(), 2
	m.AccessLogBytes = accessLogBytes()
	m.Queries = measureQueries(b, &m)
	phase("queries")
	return m
}

// measureQueries meters each query kind on 1,200 calls over two weeks.
func measureQueries(b *testing.B, m *awscost.Measured) []awscost.Query {
	ctx := context.Background()
	meter := ddbmeter.New()
	ddb := testenv.NewDynamoDBClient(testenv.DynamoDBEndpoint(b), testenv.WithDynamoDBOption(meter.Option))
	table := testenv.Name(b, "query")
	testenv.CreateTableFromTemplate(b, ddb, "", "CallsTable", table)
	var qlog counter
	log := logging.New(&qlog, 0, "query")
	st := dynamostore.New(ddb, dynamostore.Options{Table: table, Log: log})
	spec := benchdata.Spec{App: app, Calls: 1200, From: 1794000000, Days: 14, Users: 10} // ~240 calls per user
	for lo := 0; lo < spec.Calls; lo += 25 {
		for _, err := range st.Apply(ctx, spec.Updates(lo, min(lo+25, spec.Calls))) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	m.QueryDataCalls, m.QueryDataWindowCalls = spec.Calls, spec.Calls/2
	end := spec.From + 14*86400
	const key = "cost-key"
	h := query.New(st, auth.NewVerifier(map[uint64]string{app: key}, []string{"administrator"}, nil), ratelimit.New(1e6), log,
		func() time.Time { return time.Unix(end, 0) })
	sig, err := tencentyun.GenUserSig(app, key, "administrator", 86400*3650)
	if err != nil {
		b.Fatal(err)
	}
	authQ := fmt.Sprintf("sdkappid=%d&identifier=administrator&usersig=%s&random=7&contenttype=json", app, sig)
	week := spec.From + 3*86400
	var out []awscost.Query
	for _, tc := range []struct{ name, method, path, body string }{
		{"v1 get_record_by_callId", "POST", "/v1/records/get_record_by_callId?", `{"callId":"bench-00000042"}`},
		{"native call by id", "GET", "/v1/calls/bench-00000042?", ""},
		{"native call by id with events", "GET", "/v1/calls/bench-00000042?include=events&", ""},
		{"v1 filter page of 100 (7 days, ~600 counted)", "POST", "/v1/records/get_records_by_filter?", fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":100}`, week)},
		{"native list page of 100", "GET", fmt.Sprintf("/v1/calls?limit=100&to=%d&", week+7*86400), ""},
		{"native user history page of 100", "GET", fmt.Sprintf("/v1/users/%s/calls?limit=100&from=%d&to=%d&", benchdata.UserID(7), spec.From, end), ""},
	} {
		// The first request is metered (capacity is the same every time) and warms up;
		// the time is the mean of the next few.
		const reps = 5
		var took time.Duration
		var q awscost.Query
		for i := range reps + 1 {
			meter.Reset()
			qlog.take()
			w := httptest.NewRecorder()
			t0 := time.Now()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path+authQ, bytes.NewReader([]byte(tc.body))))
			if i > 0 {
				took += time.Since(t0)
			}
			recs := records(w.Body.Bytes())
			if w.Code != http.StatusOK || recs < 1 {
				b.Fatalf("%s: %d %.300s", tc.name, w.Code, w.Body.String())
			}
			if i == 0 {
				_, reads, _, rcu := meter.Snapshot().Totals()
				lb, ll := qlog.take()
				q = awscost.Query{Name: tc.name, Records: recs, Requests: reads, RCU: rcu, LogBytes: float64(lb), LogEvents: float64(ll)}
			}
		}
		q.Ms = ms(took) / reps
		out = append(out, q)
	}
	return out
}

// records counts the records in a query answer of any shape.
func records(body []byte) int {
	var r struct {
		ErrorCode *int `json:"errorCode"`
		Data      struct {
			CallID string `json:"callId"`
			List   []any  `json:"callRecordList"`
		} `json:"data"`
		CallID string `json:"callId"`
		Calls  []any  `json:"calls"`
	}
	if json.Unmarshal(body, &r) != nil || (r.ErrorCode != nil && *r.ErrorCode != 0) {
		return -1
	}
	switch {
	case r.Data.CallID != "" || r.CallID != "":
		return 1
	case len(r.Data.List) > 0:
		return len(r.Data.List)
	}
	return len(r.Calls)
}

func hasKey(evs []recordEvent, key string) bool {
	for _, e := range evs {
		if e.Key == key {
			return true
		}
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// platformLogBytes is the size of the two system log lines Lambda writes per invocation
// in JSON log format at the default INFO system level (platform.start and
// platform.report), with representative values.
func platformLogBytes() float64 {
	start := `{"time":"2026-12-01T13:45:00.123Z","type":"platform.start","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","version":"$LATEST"}}`
	report := `{"time":"2026-12-01T13:45:00.135Z","type":"platform.report","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",` +
		`"metrics":{"durationMs":11.52,"billedDurationMs":12,"memorySizeMB":256,"maxMemoryUsedMB":31},"status":"success"}}`
	return float64(len(start) + len(report))
}

// accessLogBytes is one line of the template's API Gateway access log format with
// representative values.
func accessLogBytes() float64 {
	line := `{"requestId":"UVm1Yj3ZoAMEVTw=","ip":"203.0.113.17","requestTime":"01/Dec/2026:13:45:00 +0000",` +
		` "routeKey":"POST /callback","status":"200","responseLength":"40",` +
		` "latencyMs":"14","integrationError":"-"}`
	return float64(len(line))
}

type recordEvent = record.Event

// readTemplate takes the functions' memory sizes and the log retention from template.yaml.
func readTemplate(b *testing.B, m *awscost.Measured) {
	tpl, err := testenv.LoadTemplate("")
	if err != nil {
		b.Fatal(err)
	}
	num := func(v any) int {
		switch x := v.(type) {
		case int:
			return x
		case float64:
			return int(x)
		case string:
			n, _ := strconv.Atoi(x)
			return n
		}
		return 0
	}
	global := 128 // Lambda's default when neither the function nor Globals set it
	if fn, ok := tpl.Globals["Function"].(map[string]any); ok && num(fn["MemorySize"]) > 0 {
		global = num(fn["MemorySize"])
	}
	mem := func(id string) int {
		r, err := tpl.Resource(id, "AWS::Serverless::Function")
		if err != nil {
			b.Fatal(err)
		}
		if v := num(r.Properties["MemorySize"]); v > 0 {
			return v
		}
		return global
	}
	m.IngestMemoryMB, m.PersistMemoryMB, m.QueryMemoryMB = mem("IngestFunction"), mem("PersistFunction"), mem("QueryFunction")
	if p, ok := tpl.Parameters["LogRetentionDays"]; ok {
		m.LogRetentionDays = num(p.Default)
	}
	if m.LogRetentionDays == 0 {
		b.Fatal("template.yaml: LogRetentionDays has no default")
	}
}
