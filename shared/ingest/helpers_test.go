package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/queue"
)

const (
	appID      = 1400000001
	docAppID   = 8888888
	fixtureDir = "../../events/tencent/v1"
	apigwDir   = "../../events/apigw/v1"
)

// fixedNow is the handler's clock in tests (the fixtures' day).
var fixedNow = time.Unix(1795342822, 747_000_000)

const okAck = `{"ErrorCode":0,"ErrorMessage":"Success"}`

// fakeQueue is an in-memory queue.Sender. acked holds only messages whose Send
// returned nil; attempts counts every call.
type fakeQueue struct {
	mu        sync.Mutex
	acked     []queue.Message
	attempts  int
	deadlines []time.Duration // time left on the Send context at the call; -1 without a deadline
	err       error           // returned by Send when set
	block     bool            // Send waits for its context to end
}

func (f *fakeQueue) Send(ctx context.Context, m queue.Message) error {
	f.mu.Lock()
	f.attempts++
	left := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	f.deadlines = append(f.deadlines, left)
	err, block := f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return errors.Join(queue.ErrUnavailable, ctx.Err())
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acked = append(f.acked, queue.Message{Body: append([]byte(nil), m.Body...), EventKey: m.EventKey, CallID: m.CallID})
	return nil
}

func (f *fakeQueue) messages() []queue.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]queue.Message(nil), f.acked...)
}

func (f *fakeQueue) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func allowed(ids ...uint64) func(uint64) bool {
	return func(id uint64) bool {
		for _, a := range ids {
			if a == id {
				return true
			}
		}
		return false
	}
}

func newHandler(cfg ingest.Config, q queue.Sender, log *slog.Logger) *ingest.Handler {
	if cfg.AppAllowed == nil {
		cfg.AppAllowed = allowed(appID, docAppID)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return ingest.New(cfg, q, log)
}

type ack struct {
	ErrorCode    int
	ErrorMessage string
}

type result struct {
	status int
	raw    string
	ack    ack
	header http.Header
}

func serve(t *testing.T, h http.Handler, r *http.Request) result {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := result{status: w.Code, raw: w.Body.String(), header: w.Header()}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res.ack); err != nil {
		t.Fatalf("response %d %q is not a Tencent ack: %v", w.Code, w.Body.String(), err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return res
}

func post(target string, body []byte) *http.Request {
	return httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
}

type fixture struct {
	File  string            `json:"file"`
	Query map[string]string `json:"query"`
	Body  []byte            `json:"-"`
}

func (f fixture) rawQuery() string {
	// Tencent's order: sdkappid, command, contenttype, clientip, optplatform.
	q := ""
	for _, k := range []string{"sdkappid", "command", "contenttype", "clientip", "optplatform"} {
		if v, ok := f.Query[k]; ok {
			if q != "" {
				q += "&"
			}
			q += k + "=" + url.QueryEscape(v)
		}
	}
	return q
}

func (f fixture) values() url.Values {
	q := url.Values{}
	for k, v := range f.Query {
		q.Set(k, v)
	}
	return q
}

func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "index.json"))
	if err != nil {
		tb.Fatalf("read fixture index: %v", err)
	}
	var fs []fixture
	if err := json.Unmarshal(raw, &fs); err != nil {
		tb.Fatalf("decode fixture index: %v", err)
	}
	if len(fs) == 0 {
		tb.Fatalf("no fixtures in %s", fixtureDir)
	}
	for i := range fs {
		if fs[i].Body, err = os.ReadFile(filepath.Join(fixtureDir, fs[i].File)); err != nil {
			tb.Fatalf("read fixture: %v", err)
		}
	}
	return fs
}

func fixtureByName(tb testing.TB, name string) fixture {
	tb.Helper()
	for _, f := range loadFixtures(tb) {
		if f.File == name {
			return f
		}
	}
	tb.Fatalf("fixture %s not found", name)
	return fixture{}
}

// sameJSON compares two JSON texts semantically, keeping numbers exact.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	decode := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("not JSON: %q: %v", b, err)
		}
		if _, err := d.Token(); err != io.EOF {
			t.Fatalf("trailing data after JSON: %q", b)
		}
		return v
	}
	if !reflect.DeepEqual(decode(got), decode(want)) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

// checkQueued decodes the envelope of m and checks it against the request it came from.
func checkQueued(t *testing.T, m queue.Message, q url.Values, body []byte, requestID string) envelope.Envelope {
	t.Helper()
	env, err := envelope.Unmarshal(m.Body)
	if err != nil {
		t.Fatalf("queued message is not an envelope: %v\n%s", err, m.Body)
	}
	sameJSON(t, env.Body, body)
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatalf("compact request body: %v", err)
	}
	if !bytes.Equal(env.Body, compact.Bytes()) {
		t.Errorf("envelope body\n %s\nis not the compacted request body\n %s", env.Body, compact.Bytes())
	}
	wantQuery := map[string]string{}
	for k, v := range q {
		if k != "Sign" && k != "RequestTime" {
			wantQuery[k] = v[0]
		}
	}
	if !reflect.DeepEqual(env.Query, wantQuery) {
		t.Errorf("envelope query = %v, want %v", env.Query, wantQuery)
	}
	if requestID != "" && env.RequestID != requestID {
		t.Errorf("envelope requestId = %q, want %q", env.RequestID, requestID)
	}
	if env.RequestID == "" {
		t.Errorf("envelope has no requestId")
	}
	if env.ReceivedAt != fixedNow.UnixMilli() {
		t.Errorf("envelope receivedAt = %d, want %d", env.ReceivedAt, fixedNow.UnixMilli())
	}
	cb, err := callback.Parse(q, body)
	if err != nil {
		t.Fatalf("re-parse request: %v", err)
	}
	if key := cb.Key().String(); env.EventKey != key || m.EventKey != key {
		t.Errorf("eventKey envelope %q / attribute %q, want %q", env.EventKey, m.EventKey, key)
	}
	if env.CallID != cb.CallID || m.CallID != cb.CallID {
		t.Errorf("callId envelope %q / attribute %q, want %q", env.CallID, m.CallID, cb.CallID)
	}
	if env.SDKAppID != cb.SDKAppID {
		t.Errorf("sdkAppId = %d, want %d", env.SDKAppID, cb.SDKAppID)
	}
	// The persister re-parses the envelope: it must give the same callback.
	again, err := callback.Parse(env.Values(), env.Body)
	if err != nil || !reflect.DeepEqual(again, cb) {
		t.Errorf("envelope does not re-parse to the same callback: %v", err)
	}
	return env
}
