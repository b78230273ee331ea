package query_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
)

// suite is every case; each runs against each store.
var suite = []struct {
	name string
	run  func(*testing.T, *fixture)
}{
	{"v1/get_record_by_callId/every record", v1ByCallIDEveryRecord},
	{"v1/get_record_by_callId/ids and apps", v1ByCallIDForms},
	{"v1/body errors", v1BodyErrors},
	{"v1/get_records_by_filter/defaults", v1FilterDefaults},
	{"v1/get_records_by_filter/paging", v1FilterPaging},
	{"v1/get_records_by_filter/windows", v1FilterWindows},
	{"native/call", nativeGetCall},
	{"native/call?include=events", nativeTimeline},
	{"native/list defaults and limits", nativeListDefaults},
	{"native/cursor walk", nativeCursorWalk},
	{"native/user history", nativeUserHistory},
	{"native/cursor binding", nativeCursorBinding},
	{"native/parameter errors", nativeParamErrors},
	{"v4/get_record_by_callid", v4ByCallIDDocumented},
	{"v4/get_record_by_filter", v4FilterDocumented},
	{"v4/field errors", v4FieldErrors},
	{"auth on every route", authEveryRoute},
	{"rate limit per app", rateLimited},
	{"request ids", requestIDs},
}

// TestQueryAPI runs the suite on the embedded store and on DynamoDB Local, seeded alike.
func TestQueryAPI(t *testing.T) {
	seedv := suiteSeed(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fx := seed(t, b.open(t), seedv)
			for _, c := range suite {
				t.Run(c.name, func(t *testing.T) { c.run(t, fx) })
			}
		})
	}
}

// route is one served route with a request that succeeds when authenticated.
type route struct {
	family       string // v1, native, v4
	method, path string
	body         string
}

func routes(fx *fixture) []route {
	return []route{
		{"v1", http.MethodPost, byCallID, fmt.Sprintf(`{"callId":%q}`, fx.known.CallID)},
		{"v1", http.MethodPost, byFilter, fmt.Sprintf(`{"startTimestamp":%d}`, t0)},
		{"native", http.MethodGet, "/v1/calls/" + fx.known.CallID + "?include=events", ""},
		{"native", http.MethodGet, "/v1/calls?limit=3", ""},
		{"native", http.MethodGet, "/v1/users/" + fx.users[0] + "/calls?limit=3", ""},
		{"v4", http.MethodPost, v4ByCallID, fmt.Sprintf(`{"CallId":%q}`, fx.known.CallID)},
		{"v4", http.MethodPost, v4ByFilter, `{}`},
	}
}

// outcome is what each family answers for one kind of failure.
type outcome struct {
	v1     int
	status int
	native string
	v4     int
}

var (
	okOutcome   = outcome{0, 200, "", 0}
	badParams   = outcome{query.CodeParams, 400, "invalid_parameter", query.V4CodeURLParams}
	unknownApp  = outcome{query.CodeParams, 400, "invalid_parameter", query.V4CodeUnknownApp}
	badSig      = outcome{query.CodeUserSig, 401, "invalid_usersig", query.V4CodeUserSig}
	expiredSig  = outcome{query.CodeExpired, 401, "usersig_expired", query.V4CodeExpired}
	notAdmin    = outcome{query.CodeNotAdmin, 403, "not_admin", query.V4CodeNotAdmin}
	rateLimitOK = outcome{query.CodeRateLimited, 429, "rate_limited", query.V4CodeRateLimited}
)

// check sends rt with the authentication query q and checks the family's answer.
func (o outcome) check(t *testing.T, h http.Handler, rt route, q string) {
	t.Helper()
	switch rt.family {
	case "v1":
		r := v1Call(t, h, q, rt.path, rt.body)
		if r.ErrorCode != o.v1 {
			t.Fatalf("%s: errorCode %d (%s), want %d", rt.path, r.ErrorCode, r.ErrorMessage, o.v1)
		}
	case "v4":
		r := v4Call(t, h, q, rt.path, rt.body)
		if r.ErrorCode != o.v4 {
			t.Fatalf("%s: ErrorCode %d (%s), want %d", rt.path, r.ErrorCode, r.ErrorInfo, o.v4)
		}
	default:
		w := serve(h, rt.method, withQuery(rt.path, q), rt.body)
		if o.status == 200 {
			if w.Code != 200 {
				t.Fatalf("%s: HTTP %d, want 200: %.200s", rt.path, w.Code, w.Body)
			}
			return
		}
		wantNativeErr(t, w, o.status, o.native)
	}
}

// forged re-encodes a UserSig with one field changed, keeping its signature.
func forged(t *testing.T, sig, field string, value any) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(sig))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(zr)
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = value
	doc, _ = json.Marshal(m)
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	_, _ = w.Write(doc)
	_ = w.Close()
	return strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(base64.StdEncoding.EncodeToString(b.Bytes()))
}

// authEveryRoute: the official UserSig is accepted on every route; every kind of bad
// authentication gets its own code in each family's shape.
func authEveryRoute(t *testing.T, fx *fixture) {
	a := func(mut func(url.Values)) string {
		q, _ := url.ParseQuery(fx.adminA())
		mut(q)
		return q.Encode()
	}
	set := func(k, v string) string { return a(func(q url.Values) { q.Set(k, v) }) }
	del := func(k string) string { return a(func(q url.Values) { q.Del(k) }) }
	cases := []struct {
		name string
		q    string
		want outcome
	}{
		{"official UserSig (GenUserSig)", fx.adminA(), okOutcome},
		{"another admin", authQuery(appA, "ops", mintSig(t, appA, keyA, "ops", 600)), okOutcome},
		{"sdkappid missing", del("sdkappid"), badParams},
		{"identifier missing", del("identifier"), badParams},
		{"usersig missing", del("usersig"), badParams},
		{"random missing", del("random"), badParams},
		{"contenttype missing", del("contenttype"), badParams},
		{"contenttype xml", set("contenttype", "xml"), badParams},
		{"random too big", set("random", "4294967296"), badParams},
		{"sdkappid not a number", set("sdkappid", "app"), badParams},
		{"unknown app", authQuery(appNone, "administrator", mintSig(t, appNone, keyA, "administrator", 600)), unknownApp},
		{"garbage usersig", set("usersig", "garbage"), badSig},
		{"overlong usersig", set("usersig", strings.Repeat("eJw", auth.MaxUserSigLen)), badSig},
		{"forged usersig", set("usersig", forged(t, fx.sigA, "TLS.expire", 999999999)), badSig},
		{"wrong key", set("usersig", mintSig(t, appA, "wrong-key", "administrator", 600)), badSig},
		{"other identifier's usersig", set("usersig", mintSig(t, appA, keyA, "ops", 600)), badSig},
		{"other app's usersig", set("usersig", fx.sigB), badSig},
		{"usersig of this app for the other app", authQuery(appB, "administrator", fx.sigA), badSig},
		{"expired", set("usersig", mintSig(t, appA, keyA, "administrator", -1)), expiredSig},
		{"forged and expired", set("usersig", forged(t, fx.sigA, "TLS.time", 1500000000)), badSig},
		{"not an admin", authQuery(appA, "alice", mintSig(t, appA, keyA, "alice", 600)), notAdmin},
	}
	for _, rt := range routes(fx) {
		for _, c := range cases {
			t.Run(rt.family+" "+rt.path+"/"+c.name, func(t *testing.T) { c.want.check(t, fx.h, rt, c.q) })
		}
	}
}

// rateLimited: with a tight limiter (one request per app, no refill within the test),
// the app's next request on any route is refused in each family's way; another app
// is not affected; requests that fail authentication do not spend the app's budget.
func rateLimited(t *testing.T, fx *fixture) {
	rs := routes(fx)
	for _, first := range rs {
		h := newHandler(fx.st, ratelimit.New(0.001), fx.clock)
		// A request with a bad UserSig is refused before the limiter.
		badSig.check(t, h, first, authQuery(appA, "administrator", "garbage"))
		okOutcome.check(t, h, first, fx.adminA())
		for _, rt := range rs {
			rateLimitOK.check(t, h, rt, fx.adminA())
		}
		okOutcome.check(t, h, first, fx.adminB()) // app B has its own budget
	}
}

// requestIDs: every response carries a fresh 32-hex request id (v4: Tencent's shape
// around one), also on errors and unknown routes.
func requestIDs(t *testing.T, fx *fixture) {
	seen := map[string]bool{}
	add := func(id string) {
		t.Helper()
		if !hex32.MatchString(id) || seen[id] {
			t.Fatalf("request id %q is malformed or repeated", id)
		}
		seen[id] = true
	}
	for range 3 {
		for _, q := range []string{fx.adminA(), "sdkappid=1"} {
			add(v1Call(t, fx.h, q, byCallID, `{"callId":"x"}`).RequestID)
			add(v1Call(t, fx.h, q, byFilter, `{}`).RequestID)
			w := serve(fx.h, http.MethodGet, "/v1/calls?"+q, "")
			add(w.Header().Get("X-Request-Id"))
			add(v4Call(t, fx.h, q, v4ByFilter, `{}`).RequestID[3:35]) // Id-<32 hex>-O-Seq-<n>
		}
		add(wantNativeErr(t, serve(fx.h, http.MethodGet, "/nowhere", ""), 404, "not_found").RequestID)
	}
}

// failingStore fails every read with err (infrastructure text a client must not see).
type failingStore struct{ err error }

func (f failingStore) Get(context.Context, store.CallKey, bool) (record.Record, []record.Event, error) {
	return record.Record{}, nil, f.err
}
func (f failingStore) List(context.Context, store.Query, *store.Position, int, int) (store.Page, error) {
	return store.Page{}, f.err
}
func (f failingStore) Window(context.Context, store.Query, int, int, int) ([]record.Record, int, error) {
	return nil, 0, f.err
}

// TestStoreFailures: an unavailable store is 101001 (v1, v4) or 503 unavailable
// (native), a range too large to count is a parameter error, and no infrastructure
// text reaches the client.
func TestStoreFailures(t *testing.T) {
	const secret = "dial tcp 10.1.2.3:443: i/o timeout on table calls-prod"
	unavailable := fmt.Errorf("%w: Query ByAppTime: %s", store.ErrUnavailable, secret)
	budget := fmt.Errorf("%w: %s", store.ErrBudget, secret)
	fx := &fixture{clock: new(atomic.Int64), known: recordtest.Call{CallID: "call-1"}, users: []string{"alice"}}
	fx.clock.Store(nowTs)
	fx.sigA = mintSig(t, appA, keyA, "administrator", 600)

	for _, tc := range []struct {
		err  error
		want outcome
		only string // the routes affected: all when ""
	}{
		{unavailable, outcome{query.CodeInternal, 503, "unavailable", query.V4CodeInternal}, ""},
		{errors.New(secret), outcome{query.CodeInternal, 503, "unavailable", query.V4CodeInternal}, ""},
		{budget, outcome{query.CodeParams, 0, "", query.V4CodeParams}, "filter"},
	} {
		h := newHandler(failingStore{tc.err}, ratelimit.New(1e9), fx.clock)
		for _, rt := range routes(fx) {
			if tc.only != "" && !strings.Contains(rt.path, tc.only) {
				continue
			}
			tc.want.check(t, h, rt, fx.adminA())
			w := serve(h, rt.method, withQuery(rt.path, fx.adminA()), rt.body)
			if strings.Contains(w.Body.String(), "10.1.2.3") || strings.Contains(w.Body.String(), "calls-prod") {
				t.Fatalf("%s: the client sees infrastructure text: %s", rt.path, w.Body)
			}
		}
	}
}

// TestRouting: unknown routes are 404 and wrong methods 405 with Allow, in the native
// error shape; a trailing slash is not a route.
func TestRouting(t *testing.T) {
	clock := new(atomic.Int64)
	h := newHandler(failingStore{store.ErrNotFound}, ratelimit.New(1e9), clock)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, byCallID, 405, http.MethodPost},
		{http.MethodPut, byFilter, 405, http.MethodPost},
		{http.MethodGet, v4ByCallID, 405, http.MethodPost},
		{http.MethodPost, "/v1/calls", 405, http.MethodGet},
		{http.MethodDelete, "/v1/calls/abc", 405, http.MethodGet},
		{http.MethodPost, "/v1/users/alice/calls", 405, http.MethodGet},
		{http.MethodGet, "/", 404, ""},
		{http.MethodGet, "/v1/records", 404, ""},
		{http.MethodPost, "/v1/records/get_record_by_callid", 404, ""}, // v1 spells it callId
		{http.MethodPost, "/v4/call_record_http_srv/get_records_by_filter", 404, ""},
		{http.MethodGet, "/v1/calls/", 404, ""},
		{http.MethodGet, "/v1/calls/abc/events", 404, ""},
		{http.MethodGet, "/v1/users/alice/calls/", 404, ""},
	} {
		w := serve(h, tc.method, tc.path, "")
		code := map[int]string{404: "not_found", 405: "method_not_allowed"}[tc.status]
		wantNativeErr(t, w, tc.status, code)
		if w.Header().Get("Allow") != tc.allow {
			t.Fatalf("%s %s: Allow %q, want %q", tc.method, tc.path, w.Header().Get("Allow"), tc.allow)
		}
	}
	var served []string
	for _, r := range h.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	if len(served) != 7 {
		t.Fatalf("routes %v, want the 7 of the contract", served)
	}
}

// TestLogs: one JSON log line per request carrying the response's requestId and the
// outcome; a store failure is logged (for operators) at error level with its cause,
// which the client never sees; the UserSig never reaches the logs.
func TestLogs(t *testing.T) {
	var buf bytes.Buffer
	clock := new(atomic.Int64)
	clock.Store(nowTs)
	cause := fmt.Errorf("%w: dial tcp 10.9.8.7:443: connection refused", store.ErrUnavailable)
	v := auth.NewVerifier(map[uint64]string{appA: keyA}, []string{"administrator"}, nil)
	h := query.New(failingStore{cause}, v, ratelimit.New(1e9), logging.New(&buf, slog.LevelInfo, "query"),
		func() time.Time { return time.Unix(clock.Load(), 0) })
	sig := mintSig(t, appA, keyA, "administrator", 600)
	q := authQuery(appA, "administrator", sig)

	v1 := v1Call(t, h, q, byCallID, `{"callId":"c1"}`)
	nat := wantNativeErr(t, serve(h, http.MethodGet, "/v1/calls/c1?"+q, ""), 503, "unavailable")
	v4 := v4Call(t, h, authQuery(appA, "administrator", "garbage"), v4ByCallID, `{"CallId":"c1"}`)

	type line struct {
		Level     string `json:"level"`
		Msg       string `json:"msg"`
		Service   string `json:"service"`
		RequestID string `json:"requestId"`
		Route     string `json:"route"`
		ErrorCode *int   `json:"errorCode"`
		Status    *int   `json:"status"`
		Error     string `json:"error"`
	}
	var lines []line
	for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("log line is not JSON: %s", raw)
		}
		if l.Service != "query" {
			t.Fatalf("log line without the service: %s", raw)
		}
		lines = append(lines, l)
	}
	if strings.Contains(buf.String(), sig) {
		t.Fatal("the UserSig is in the logs")
	}
	find := func(rid, msg string) line {
		t.Helper()
		for _, l := range lines {
			if l.RequestID == rid && l.Msg == msg {
				return l
			}
		}
		t.Fatalf("no %q log line with requestId %s in\n%s", msg, rid, buf.String())
		return line{}
	}
	if l := find(v1.RequestID, "store failure"); l.Level != "ERROR" || !strings.Contains(l.Error, "10.9.8.7") {
		t.Fatalf("v1 store failure logged as %+v", l)
	}
	if l := find(v1.RequestID, "query"); l.ErrorCode == nil || *l.ErrorCode != query.CodeInternal || l.Route != byCallID {
		t.Fatalf("v1 request logged as %+v", l)
	}
	if l := find(nat.RequestID, "query"); l.Status == nil || *l.Status != 503 {
		t.Fatalf("native request logged as %+v", l)
	}
	if l := find(v4.RequestID[3:35], "query"); l.ErrorCode == nil || *l.ErrorCode != query.V4CodeUserSig {
		t.Fatalf("v4 request logged as %+v", l)
	}
}
