package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/apigw"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/reqid"
	"github.com/callkit-records/callkit-records/shared/webhookauth"
)

// DESIGN §4, row 1: every fixture is accepted with Tencent's exact success body, and the
// queued envelope carries the callback as received.
func TestAcceptEveryFixture(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.File, func(t *testing.T) {
			q := &fakeQueue{}
			h := newHandler(ingest.Config{}, q, nil)
			r := post("/callback?"+f.rawQuery(), f.Body)
			rid := "req-" + f.File
			r = r.WithContext(reqid.With(r.Context(), rid))
			res := serve(t, h, r)
			if res.status != http.StatusOK || res.raw != okAck {
				t.Fatalf("got %d %s, want 200 %s", res.status, res.raw, okAck)
			}
			msgs := q.messages()
			if len(msgs) != 1 {
				t.Fatalf("queued %d messages, want 1", len(msgs))
			}
			checkQueued(t, msgs[0], f.values(), f.Body, rid)
		})
	}
}

// A retry of an already accepted callback is accepted again (deduplication is the
// persister's job) and carries the same event key.
func TestAcceptDuplicate(t *testing.T) {
	f := fixtureByName(t, "normal_end.json")
	q := &fakeQueue{}
	h := newHandler(ingest.Config{}, q, nil)
	for i := range 2 {
		res := serve(t, h, post("/callback?"+f.rawQuery(), f.Body))
		if res.status != http.StatusOK || res.raw != okAck {
			t.Fatalf("attempt %d: got %d %s", i+1, res.status, res.raw)
		}
	}
	msgs := q.messages()
	if len(msgs) != 2 {
		t.Fatalf("queued %d messages, want 2", len(msgs))
	}
	if msgs[0].EventKey != msgs[1].EventKey || msgs[0].EventKey == "" {
		t.Errorf("duplicate has event keys %q and %q", msgs[0].EventKey, msgs[1].EventKey)
	}
	e0 := checkQueued(t, msgs[0], f.values(), f.Body, "")
	e1 := checkQueued(t, msgs[1], f.values(), f.Body, "")
	if e0.RequestID == e1.RequestID {
		t.Errorf("two requests share the generated request id %q", e0.RequestID)
	}
}

// Without an API Gateway request id the handler generates one.
func TestGeneratesRequestID(t *testing.T) {
	f := fixtureByName(t, "caller_start_call.json")
	q := &fakeQueue{}
	res := serve(t, newHandler(ingest.Config{}, q, nil), post("/callback?"+f.rawQuery(), f.Body))
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	env := checkQueued(t, q.messages()[0], f.values(), f.Body, "")
	if len(env.RequestID) < 8 {
		t.Errorf("generated request id %q", env.RequestID)
	}
}

const (
	pathToken     = "Zq3-8vX.u_19~abcdefgh"
	callbackToken = "xxxxyyyy"
)

// One case per row of DESIGN §4 that refuses: status, code, a message naming the cause,
// and nothing queued.
func TestReject(t *testing.T) {
	f := fixtureByName(t, "caller_start_call.json")
	qs := f.rawQuery()
	now := strconv.FormatInt(fixedNow.Unix(), 10)
	old := strconv.FormatInt(fixedNow.Unix()-61, 10)
	signed := func(ts string) string {
		return "&Sign=" + webhookauth.Sign(callbackToken, ts) + "&RequestTime=" + ts
	}
	withToken := func(c *ingest.Config) { c.PathToken = pathToken }
	withSign := func(c *ingest.Config) { c.CallbackToken = callbackToken }
	small := func(c *ingest.Config) { c.MaxBodyBytes = 1024 }
	big := append(bytes.TrimSuffix(append([]byte(nil), f.Body...), []byte("}")), []byte(`,"Pad":"`+strings.Repeat("p", 1024)+`"}`)...)
	replace := func(old, new string) []byte { return bytes.Replace(f.Body, []byte(old), []byte(new), 1) }

	cases := []struct {
		name    string
		cfg     func(*ingest.Config)
		method  string
		target  string
		body    []byte
		chunked bool // hide the length: no Content-Length
		status  int
		code    int
		mention string
	}{
		{"GET", nil, http.MethodGet, "/callback?" + qs, nil, false, 405, 70001, "POST"},
		{"PUT", nil, http.MethodPut, "/callback?" + qs, f.Body, false, 405, 70001, "POST"},
		{"sdkappid missing", nil, "", "/callback?command=caller_start_call&contenttype=json", f.Body, false, 403, 70001, "sdkappid"},
		{"sdkappid not a number", nil, "", "/callback?sdkappid=abc&command=caller_start_call", f.Body, false, 403, 70001, "sdkappid"},
		{"sdkappid not allowed", nil, "", "/callback?sdkappid=1400000002&command=caller_start_call", f.Body, false, 403, 70001, "1400000002"},
		{"foreign app with a garbage body is 403, not 400", nil, "", "/callback?sdkappid=1400000002&command=x", []byte("garbage"), false, 403, 70001, "sdkappid"},
		{"path token missing", withToken, "", "/callback?" + qs, f.Body, false, 403, 70001, "path token"},
		{"path token wrong", withToken, "", "/callback/Zq3-8vX.u_19~abcdefgX?" + qs, f.Body, false, 403, 70001, "path token"},
		{"path token empty", withToken, "", "/callback/?" + qs, f.Body, false, 403, 70001, "path token"},
		{"path token given, none configured", nil, "", "/callback/" + pathToken + "?" + qs, f.Body, false, 403, 70001, "path token"},
		{"Sign missing", withSign, "", "/callback?" + qs, f.Body, false, 403, 70001, "Sign"},
		{"RequestTime missing", withSign, "", "/callback?" + qs + "&Sign=" + webhookauth.Sign(callbackToken, now), f.Body, false, 403, 70001, "Sign"},
		{"Sign wrong", withSign, "", "/callback?" + qs + "&Sign=" + webhookauth.Sign("other", now) + "&RequestTime=" + now, f.Body, false, 403, 70001, "Sign"},
		{"Sign expired", withSign, "", "/callback?" + qs + signed(old), f.Body, false, 403, 70001, "Sign"},
		{"Sign check before body check", withSign, "", "/callback?" + qs, []byte("garbage"), false, 403, 70001, "Sign"},
		{"unknown command", nil, "", "/callback?sdkappid=1400000001&command=caller_hang_up", f.Body, false, 400, 70001, "command"},
		{"command missing", nil, "", "/callback?sdkappid=1400000001", f.Body, false, 400, 70001, "command"},
		{"contenttype xml", nil, "", "/callback?" + strings.Replace(qs, "contenttype=json", "contenttype=xml", 1), f.Body, false, 400, 70001, "contenttype"},
		{"CallId missing", nil, "", "/callback?" + qs, replace(`"CallId":"2b54b7d7-ad68-45e1-9b20-06ce3cb843d3",`, ""), false, 400, 70001, "CallId"},
		{"UserId empty", nil, "", "/callback?" + qs, replace(`"UserId":"alice"`, `"UserId":""`), false, 400, 70001, "UserId"},
		{"TotalNum a word", nil, "", "/callback?" + qs, replace(`"TotalNum":2`, `"TotalNum":"two"`), false, 400, 70001, "TotalNum"},
		{"CallId an object", nil, "", "/callback?" + qs, replace(`"CallId":"2b54b7d7-ad68-45e1-9b20-06ce3cb843d3"`, `"CallId":{}`), false, 400, 70001, "CallId"},
		{"EventTime in milliseconds", nil, "", "/callback?" + qs, replace(`"EventTime":1795342500`, `"EventTime":1795342500000`), false, 400, 70001, "EventTime"},
		{"Event contradicts command", nil, "", "/callback?" + qs, replace(`"Event":"start_call"`, `"Event":"accept_call"`), false, 400, 70001, "Event"},
		{"not JSON", nil, "", "/callback?" + qs, []byte("UserId=alice&CallId=1"), false, 400, 70009, "JSON"},
		{"empty body", nil, "", "/callback?" + qs, nil, false, 400, 70009, "empty"},
		{"truncated JSON", nil, "", "/callback?" + qs, f.Body[:40], false, 400, 70009, "JSON"},
		{"JSON array", nil, "", "/callback?" + qs, []byte(`[` + string(f.Body) + `]`), false, 400, 70009, "object"},
		{"over the limit, Content-Length", small, "", "/callback?" + qs, big, false, 413, 70001, "1024"},
		{"over the limit, no length", small, "", "/callback?" + qs, big, true, 413, 70001, "1024"},
		{"over the default 64 KiB", nil, "", "/callback?" + qs, bytes.Repeat([]byte(" "), 64<<10+1), true, 413, 70001, "65536"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg ingest.Config
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			q := &fakeQueue{}
			h := newHandler(cfg, q, nil)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			var rd io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				rd = io.MultiReader(bytes.NewReader(tc.body)) // hides the length
			}
			r := httptest.NewRequest(method, tc.target, rd)
			if tc.chunked {
				r.ContentLength = -1
			}
			res := serve(t, h, r)
			if res.status != tc.status || res.ack.ErrorCode != tc.code {
				t.Errorf("got %d %s, want %d with ErrorCode %d", res.status, res.raw, tc.status, tc.code)
			}
			if !strings.Contains(res.ack.ErrorMessage, tc.mention) {
				t.Errorf("ErrorMessage %q does not name %q", res.ack.ErrorMessage, tc.mention)
			}
			if n := q.calls(); n != 0 {
				t.Errorf("a rejected callback reached the queue (%d calls)", n)
			}
		})
	}
}

func TestBodyLimitEdges(t *testing.T) {
	f := fixtureByName(t, "caller_start_call.json")
	const limit = 1024
	// A valid body padded with spaces to exactly the limit is accepted.
	exact := append(append([]byte(nil), f.Body...), bytes.Repeat([]byte(" "), limit-len(f.Body))...)
	over := append(append([]byte(nil), exact...), ' ')
	for _, tc := range []struct {
		name    string
		body    []byte
		chunked bool
		status  int
	}{
		{"exactly the limit", exact, false, 200},
		{"exactly the limit, no length", exact, true, 200},
		{"one byte over", over, false, 413},
		{"one byte over, no length", over, true, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			h := newHandler(ingest.Config{MaxBodyBytes: limit}, q, nil)
			r := post("/callback?"+f.rawQuery(), tc.body)
			if tc.chunked {
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(tc.body)))
				r.ContentLength = -1
			}
			res := serve(t, h, r)
			if res.status != tc.status {
				t.Fatalf("status %d %s, want %d", res.status, res.raw, tc.status)
			}
			if want := map[bool]int{true: 1}[tc.status == 200]; len(q.messages()) != want {
				t.Errorf("queued %d, want %d", len(q.messages()), want)
			}
		})
	}
}

// Over a real connection: a chunked upload over the limit is refused with 413 and a
// chunked upload under it is accepted.
func TestChunkedOverHTTP(t *testing.T) {
	f := fixtureByName(t, "caller_start_call.json")
	q := &fakeQueue{}
	h := newHandler(ingest.Config{MaxBodyBytes: 4096}, q, nil)
	lengths := make(chan int64, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
			t.Errorf("request arrived with Transfer-Encoding %v", r.TransferEncoding)
		}
		lengths <- r.ContentLength
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	send := func(body []byte) (int, ack) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/callback?"+f.rawQuery(), io.MultiReader(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if n := <-lengths; n != -1 {
			t.Errorf("server saw Content-Length %d, want unknown (-1)", n)
		}
		var a ack
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, a
	}
	if code, a := send(append(append([]byte(nil), f.Body...), bytes.Repeat([]byte(" "), 8192)...)); code != 413 || a.ErrorCode != 70001 {
		t.Errorf("oversized chunked upload: %d %+v", code, a)
	}
	if code, a := send(f.Body); code != 200 || a.ErrorCode != 0 {
		t.Errorf("chunked upload under the limit: %d %+v", code, a)
	}
	if n := len(q.messages()); n != 1 {
		t.Errorf("queued %d, want 1", n)
	}
}

func TestPathTokenAndSignAccepted(t *testing.T) {
	f := fixtureByName(t, "callee_accept_call.json")
	ts := strconv.FormatInt(fixedNow.Unix()-60, 10) // oldest accepted
	q := &fakeQueue{}
	h := newHandler(ingest.Config{PathToken: pathToken, CallbackToken: callbackToken}, q, nil)
	target := "/callback/" + pathToken + "?" + f.rawQuery() + "&Sign=" + strings.ToUpper(webhookauth.Sign(callbackToken, ts)) + "&RequestTime=" + ts
	r := post(target, f.Body)
	res := serve(t, h, r)
	if res.status != http.StatusOK || res.raw != okAck {
		t.Fatalf("got %d %s", res.status, res.raw)
	}
	msgs := q.messages()
	if len(msgs) != 1 {
		t.Fatalf("queued %d", len(msgs))
	}
	env := checkQueued(t, msgs[0], f.values(), f.Body, "")
	if _, ok := env.Query["Sign"]; ok {
		t.Errorf("Sign was forwarded in the envelope: %v", env.Query)
	}
	if _, ok := env.Query["RequestTime"]; ok {
		t.Errorf("RequestTime was forwarded in the envelope: %v", env.Query)
	}
	if strings.Contains(string(msgs[0].Body), pathToken) {
		t.Errorf("the path token leaked into the message")
	}
}

// DESIGN §3.1: a queue failure is answered with a non-zero code and a 5xx so Tencent
// retries, nothing is acknowledged, and infrastructure errors are not echoed.
func TestQueueUnavailable(t *testing.T) {
	f := fixtureByName(t, "normal_end.json")
	q := &fakeQueue{err: errors.Join(queue.ErrUnavailable, errors.New("dial tcp 10.9.8.7:443: sqs.internal-host refused"))}
	res := serve(t, newHandler(ingest.Config{}, q, nil), post("/callback?"+f.rawQuery(), f.Body))
	if res.status != http.StatusServiceUnavailable || res.ack.ErrorCode != 1 {
		t.Fatalf("got %d %s, want 503 ErrorCode 1", res.status, res.raw)
	}
	if res.ack.ErrorMessage == "" || strings.Contains(res.raw, "internal-host") || strings.Contains(res.raw, "10.9.8.7") {
		t.Errorf("ErrorMessage %q must be non-empty and not echo the infrastructure error", res.ack.ErrorMessage)
	}
	if q.calls() != 1 || len(q.messages()) != 0 {
		t.Errorf("calls %d, acked %d; want 1 call and nothing acknowledged", q.calls(), len(q.messages()))
	}
}

func TestSendHasDeadline(t *testing.T) {
	f := fixtureByName(t, "normal_end.json")
	t.Run("configured", func(t *testing.T) {
		q := &fakeQueue{}
		h := newHandler(ingest.Config{SendTimeout: 1234 * time.Millisecond}, q, nil)
		if res := serve(t, h, post("/callback?"+f.rawQuery(), f.Body)); res.status != 200 {
			t.Fatalf("status %d", res.status)
		}
		if left := q.deadlines[0]; left <= 0 || left > 1234*time.Millisecond {
			t.Errorf("Send context had %v left, want a deadline within 1.234 s", left)
		}
	})
	t.Run("default", func(t *testing.T) {
		q := &fakeQueue{}
		h := newHandler(ingest.Config{}, q, nil)
		serve(t, h, post("/callback?"+f.rawQuery(), f.Body))
		if left := q.deadlines[0]; left <= 0 || left > ingest.DefaultSendLimit {
			t.Errorf("Send context had %v left, want a deadline within %v", left, ingest.DefaultSendLimit)
		}
	})
	t.Run("a hung queue is cut off", func(t *testing.T) {
		q := &fakeQueue{block: true}
		h := newHandler(ingest.Config{SendTimeout: 50 * time.Millisecond}, q, nil)
		done := make(chan result, 1)
		go func() { done <- serve(t, h, post("/callback?"+f.rawQuery(), f.Body)) }()
		select {
		case res := <-done:
			if res.status != http.StatusServiceUnavailable || res.ack.ErrorCode != 1 {
				t.Errorf("got %d %s", res.status, res.raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not give up on a hung queue")
		}
	})
	t.Run("client gone", func(t *testing.T) {
		q := &fakeQueue{block: true}
		h := newHandler(ingest.Config{SendTimeout: time.Hour}, q, nil)
		ctx, cancel := context.WithCancel(context.Background())
		r := post("/callback?"+f.rawQuery(), f.Body).WithContext(ctx)
		cancel()
		if res := serve(t, h, r); res.status != http.StatusServiceUnavailable || len(q.messages()) != 0 {
			t.Errorf("got %d, acked %d", res.status, len(q.messages()))
		}
	})
}

// Every API Gateway v2 fixture (including the base64 one) through the Lambda adapter.
func TestAPIGatewayFixtures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(apigwDir, "*.json"))
	if err != nil || len(paths) != 28 {
		t.Fatalf("found %d API Gateway fixtures (%v), want 28", len(paths), err)
	}
	sawBase64 := false
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("decode: %v", err)
			}
			body := []byte(ev.Body)
			if ev.IsBase64Encoded {
				sawBase64 = true
				if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			q := &fakeQueue{}
			fn := apigw.Handler(newHandler(ingest.Config{}, q, nil))
			res, err := fn(context.Background(), ev)
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			if res.StatusCode != 200 || res.Body != okAck || res.IsBase64Encoded {
				t.Fatalf("got %d %s (base64 %v)", res.StatusCode, res.Body, res.IsBase64Encoded)
			}
			if res.Headers["Content-Type"] != "application/json" {
				t.Errorf("headers %v", res.Headers)
			}
			msgs := q.messages()
			if len(msgs) != 1 {
				t.Fatalf("queued %d", len(msgs))
			}
			qv := map[string][]string{}
			for k, v := range ev.QueryStringParameters {
				qv[k] = []string{v}
			}
			checkQueued(t, msgs[0], qv, body, ev.RequestContext.RequestID)
		})
	}
	if !sawBase64 {
		t.Errorf("no base64-encoded fixture was exercised")
	}
}

// Logs: one line per request with requestId, callId and command; never the body's
// contents or the end user's IP.
func TestLogs(t *testing.T) {
	f := fixtureByName(t, "caller_start_call.json")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	q := &fakeQueue{}
	h := newHandler(ingest.Config{}, q, log)

	do := func(rid, target string, body []byte) {
		r := post(target, body)
		serve(t, h, r.WithContext(reqid.With(r.Context(), rid)))
	}
	do("rid-accepted", "/callback?"+f.rawQuery(), f.Body)
	do("rid-invalid", "/callback?"+f.rawQuery(), bytes.Replace(f.Body, []byte(`"TotalNum":2`), []byte(`"TotalNum":"two"`), 1))
	do("rid-foreign", "/callback?sdkappid=42&command=caller_start_call&clientip=203.0.113.7", f.Body)
	do("rid-malformed", "/callback?"+f.rawQuery(), []byte(`{"UserId":"alice","RoomId":"795425564"`))
	q.err = errors.New("queue down")
	do("rid-unavailable", "/callback?"+f.rawQuery(), f.Body)

	lines := map[string][]map[string]any{}
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		rid, _ := m["requestId"].(string)
		if rid == "" {
			t.Errorf("log line without requestId: %s", l)
		}
		lines[rid] = append(lines[rid], m)
	}
	find := func(rid, msg string) map[string]any {
		t.Helper()
		for _, m := range lines[rid] {
			if m["msg"] == msg {
				return m
			}
		}
		t.Fatalf("no %q line for %s; lines: %v", msg, rid, lines[rid])
		return nil
	}
	const callID = "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3"
	for _, c := range []struct{ rid, msg, level string }{
		{"rid-accepted", "callback accepted", "INFO"},
		{"rid-invalid", "callback rejected", "WARN"},
		{"rid-unavailable", "callback rejected", "ERROR"},
	} {
		m := find(c.rid, c.msg)
		if m["callId"] != callID || m["command"] != "caller_start_call" || m["level"] != c.level {
			t.Errorf("%s: line %v lacks callId/command or has the wrong level", c.rid, m)
		}
	}
	if m := find("rid-invalid", "callback rejected"); m["status"] != float64(400) || m["errorCode"] != float64(70001) || !strings.Contains(m["reason"].(string), "TotalNum") {
		t.Errorf("rejection line %v lacks status/errorCode/reason", m)
	}
	if m := find("rid-foreign", "callback rejected"); m["status"] != float64(403) {
		t.Errorf("foreign app line %v", m)
	}
	if m := find("rid-malformed", "callback rejected"); m["errorCode"] != float64(70009) {
		t.Errorf("malformed line %v", m)
	}
	find("rid-unavailable", "enqueue failed")

	out := buf.String()
	for _, secret := range []string{"203.0.113.7", `alice`, "795425564", "MediaType", "EventTime", "1795342500"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q (body content or client IP):\n%s", secret, out)
		}
	}
}
