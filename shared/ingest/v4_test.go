package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/apigw"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/queue"
)

const (
	fixtureDirV4 = "../../events/tencent/v4"
	apigwDirV4   = "../../events/apigw/v4"
	okAckV4      = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`
)

type ackV4 struct {
	ActionStatus string
	ErrorInfo    string
	ErrorCode    int
}

// serveV4 runs one request and decodes the answer strictly as a v4 acknowledgement.
func serveV4(t *testing.T, h http.Handler, r *http.Request) (int, string, ackV4) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var a ackV4
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("response %d %q is not a v4 acknowledgement: %v", w.Code, w.Body.String(), err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return w.Code, w.Body.String(), a
}

func loadFixturesV4(tb testing.TB) []fixture {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDirV4, "index.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(raw, &fs); err != nil {
		tb.Fatal(err)
	}
	if len(fs) < 10 {
		tb.Fatalf("%d v4 fixtures, want the 3 documented examples and the scenario files", len(fs))
	}
	for i := range fs {
		if fs[i].Body, err = os.ReadFile(filepath.Join(fixtureDirV4, fs[i].File)); err != nil {
			tb.Fatal(err)
		}
	}
	return fs
}

func (f fixture) rawQueryV4() string {
	q := url.Values{}
	for k, v := range f.Query {
		q.Set(k, v)
	}
	return q.Encode()
}

// Issue 7: every v4 fixture — Tencent's three documented examples included — is accepted
// with the v4 acknowledgement and queued as received, with its event key.
func TestAcceptEveryV4Fixture(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range loadFixturesV4(t) {
		t.Run(f.File, func(t *testing.T) {
			q := &fakeQueue{}
			h := newHandler(ingest.Config{}, q, nil)
			code, raw, _ := serveV4(t, h, post("/callback?"+f.rawQueryV4(), f.Body))
			if code != http.StatusOK || raw != okAckV4 {
				t.Fatalf("got %d %s, want 200 %s", code, raw, okAckV4)
			}
			msgs := q.messages()
			if len(msgs) != 1 {
				t.Fatalf("queued %d messages", len(msgs))
			}
			env := checkQueued(t, msgs[0], f.values(), f.Body, "")
			cb, err := callback.Parse(f.values(), f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if env.EventKey != cb.Key().String() || msgs[0].CallID != cb.CallID || cb.CallID == "" {
				t.Errorf("event key %q / call %q, want %q / %q", env.EventKey, msgs[0].CallID, cb.Key(), cb.CallID)
			}
			seen[f.Query["CallbackCommand"]] = true
		})
	}
	for _, c := range callback.V4Commands() {
		if !seen[c.String()] {
			t.Errorf("no fixture for %s", c)
		}
	}
}

// Refusals of v4 callbacks come in the v4 shape, with the same statuses and codes as v1
// and a message naming the field.
func TestRejectV4(t *testing.T) {
	start, err := os.ReadFile(filepath.Join(fixtureDirV4, "doc-Call.CallbackAfterStartCall.json"))
	if err != nil {
		t.Fatal(err)
	}
	qs := "SdkAppid=8888888&CallbackCommand=Call.CallbackAfterStartCall&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	replace := func(old, new string) []byte {
		if !bytes.Contains(start, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(start, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name   string
		target string
		body   []byte
		status int
		code   int
		msg    string
	}{
		{"no SdkAppid", "/callback?CallbackCommand=Call.CallbackAfterStartCall", start, 403, ingest.CodeInvalid, "SdkAppid"},
		{"foreign SdkAppid", "/callback?SdkAppid=1400009999&CallbackCommand=Call.CallbackAfterStartCall", start, 403, ingest.CodeInvalid, "not accepted"},
		{"unknown command", "/callback?SdkAppid=8888888&CallbackCommand=Call.CallbackAfterNothing", start, 400, ingest.CodeInvalid, "CallbackCommand"},
		{"v1 command word", "/callback?SdkAppid=8888888&CallbackCommand=normal_end", start, 400, ingest.CodeInvalid, "CallbackCommand"},
		{"no command", "/callback?SdkAppid=8888888", start, 400, ingest.CodeInvalid, "CallbackCommand"},
		{"body says another command", "/callback?" + strings.Replace(qs, "AfterStartCall", "AfterEndCall", 1), start, 400, ingest.CodeInvalid, "CallbackCommand"},
		{"EventTime in seconds", "/callback?" + qs, replace(`1740464128807`, `1740464128`), 400, ingest.CodeInvalid, "EventTime"},
		{"no CallInfo", "/callback?" + qs, replace(`"CallInfo"`, `"CallInf0"`), 400, ingest.CodeInvalid, "CallInfo"},
		{"bad Status", "/callback?" + qs, replace(`"Calling"`, `"Sleeping"`), 400, ingest.CodeInvalid, "UserList[0].Status"},
		{"not JSON", "/callback?" + qs, []byte(`{"CallInfo":`), 400, ingest.CodeUnparseable, "JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &fakeQueue{}
			code, _, a := serveV4(t, newHandler(ingest.Config{}, q, nil), post(c.target, c.body))
			if code != c.status || a.ErrorCode != c.code || a.ActionStatus != "FAIL" || !strings.Contains(a.ErrorInfo, c.msg) {
				t.Errorf("got %d %+v, want %d code %d FAIL mentioning %q", code, a, c.status, c.code, c.msg)
			}
			if n := q.calls(); n != 0 {
				t.Errorf("%d send attempts for a refused callback", n)
			}
		})
	}
}

// A v4 callback the queue cannot take is refused in the v4 shape with a 503, so Tencent
// retries it.
func TestQueueUnavailableV4(t *testing.T) {
	f := loadFixturesV4(t)[0]
	q := &fakeQueue{err: queue.ErrUnavailable}
	code, _, a := serveV4(t, newHandler(ingest.Config{}, q, nil), post("/callback?"+f.rawQueryV4(), f.Body))
	if code != http.StatusServiceUnavailable || a.ErrorCode == 0 || a.ActionStatus != "FAIL" {
		t.Fatalf("got %d %+v", code, a)
	}
	if len(q.messages()) != 0 {
		t.Fatal("a message was acknowledged")
	}
}

// The v4 API Gateway fixtures through the Lambda adapter.
func TestAPIGatewayFixturesV4(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(apigwDirV4, "*.json"))
	if err != nil || len(paths) < 10 {
		t.Fatalf("found %d v4 API Gateway fixtures (%v)", len(paths), err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			body := []byte(ev.Body)
			if ev.IsBase64Encoded {
				if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			q := &fakeQueue{}
			res, err := apigw.Handler(newHandler(ingest.Config{}, q, nil))(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || res.Body != okAckV4 {
				t.Fatalf("got %d %s", res.StatusCode, res.Body)
			}
			msgs := q.messages()
			if len(msgs) != 1 {
				t.Fatalf("queued %d", len(msgs))
			}
			qv := url.Values{}
			for k, v := range ev.QueryStringParameters {
				qv.Set(k, v)
			}
			checkQueued(t, msgs[0], qv, body, ev.RequestContext.RequestID)
		})
	}
}
