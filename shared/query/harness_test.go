package query_test

// The query API suite runs the same cases against both stores: the embedded bbolt store
// and DynamoDB Local (table from template.yaml). Each store is seeded once through the
// real write path (store.Writer.Apply with Tencent-style deliveries: retries, shuffles,
// batches), and every expectation is computed from record.Derive — the specification of
// a record — over the callbacks sent, never from what the store returned.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
	"github.com/callkit-records/callkit-records/shared/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	appA, keyA = uint64(1400000001), "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	appB, keyB = uint64(1400000002), "second-app-secret-key"
	appNone    = uint64(1400000009) // not served

	day       = int64(86400)
	t0        = int64(1795000000) // the seeded calls start over [t0, t0+seedDays)
	seedDays  = 10
	seedCalls = 320 // app A: enough for several default pages and capped pages
	nowTs     = t0 + seedDays*day
)

// backend opens an empty store of one kind for a test.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

var backends = []backend{
	{"bbolt", func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "records.db"), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"dynamodb", func(t *testing.T) store.Store {
		c := testenv.DynamoDB(t)
		name := testenv.Name(t, "calls")
		testenv.CreateTableFromTemplate(t, c, "", "CallsTable", name)
		return dynamostore.New(c, dynamostore.Options{Table: name})
	}},
}

// fixture is one seeded store and a handler over it.
type fixture struct {
	st    store.Store
	h     *query.Handler
	clock *atomic.Int64 // the handler's clock (Unix seconds), nowTs unless a test moves it

	recsA  map[string]record.Record   // what each app A record must be
	callsA map[string]recordtest.Call // the calls behind them
	recsB  map[string]record.Record   // app B
	known  recordtest.Call            // an answered 1:1 call of app A; app B has a call with the same id
	group  recordtest.Call            // a group call of app A
	numID  string                     // an app A call whose id is all digits
	onlyB  string                     // a call id only app B has
	users  []string                   // app A users with the most calls
	sigA   string                     // official UserSig of administrator in app A
	sigB   string                     // … in app B
	seed   uint64
}

// withID re-keys a generated call (another app, or a chosen call id).
func withID(c recordtest.Call, app uint64, id string) recordtest.Call {
	c.App, c.CallID = app, id
	c.Callbacks = slices.Clone(c.Callbacks)
	for i := range c.Callbacks {
		c.Callbacks[i].SDKAppID, c.Callbacks[i].CallID = app, id
	}
	return c
}

func newHandler(st store.Reader, limiter *ratelimit.Limiter, clock *atomic.Int64) *query.Handler {
	v := auth.NewVerifier(map[uint64]string{appA: keyA, appB: keyB}, []string{"administrator", "ops"}, nil)
	return query.New(st, v, limiter, logging.Discard(), func() time.Time { return time.Unix(clock.Load(), 0) })
}

func mintSig(t testing.TB, app uint64, key, id string, expire int) string {
	t.Helper()
	s, err := tencentyun.GenUserSig(int(app), key, id, expire)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seed fills st with app A's and app B's calls through the write path.
func seed(t *testing.T, st store.Store, seedv uint64) *fixture {
	t.Helper()
	r := rand.New(rand.NewPCG(seedv, 11))
	fx := &fixture{st: st, clock: new(atomic.Int64), recsA: map[string]record.Record{}, callsA: map[string]recordtest.Call{},
		recsB: map[string]record.Record{}}
	fx.clock.Store(nowTs)
	fx.h = newHandler(st, ratelimit.New(1e9), fx.clock)
	fx.sigA = mintSig(t, appA, keyA, "administrator", 86400)
	fx.sigB = mintSig(t, appB, keyB, "administrator", 86400)

	var a, b []recordtest.Call
	for range seedCalls {
		a = append(a, recordtest.Gen(r, appA, t0+r.Int64N(seedDays*day-600)))
	}
	fx.known = recordtest.GenScenario(r, appA, recordtest.AnsweredCallerHangsUp, nowTs-2*day)
	fx.group = recordtest.GenScenario(r, appA, recordtest.Group, nowTs-3*day)
	fx.numID = "20261118"
	a = append(a, fx.known, fx.group, withID(recordtest.GenScenario(r, appA, recordtest.Rejected, nowTs-day), appA, fx.numID))
	// App B: its own calls in the same days, one with the id of app A's known call.
	for range 25 {
		b = append(b, recordtest.Gen(r, appB, t0+r.Int64N(seedDays*day-600)))
	}
	fx.onlyB = b[0].CallID
	b = append(b, withID(recordtest.GenScenario(r, appB, recordtest.Missed, nowTs-2*day), appB, fx.known.CallID))

	var deliveries []callback.Callback
	for _, c := range a {
		fx.callsA[c.CallID] = c
		fx.recsA[c.CallID] = record.Derive(appA, c.CallID, c.Callbacks)
		deliveries = append(deliveries, recordtest.Deliveries(r, c.Callbacks)...)
	}
	for _, c := range b {
		fx.recsB[c.CallID] = record.Derive(appB, c.CallID, c.Callbacks)
		deliveries = append(deliveries, recordtest.Deliveries(r, c.Callbacks)...)
	}
	r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	start := time.Now()
	storetest.Deliver(t, st, r, deliveries, 25)
	t.Logf("seeded %d calls (%d deliveries) in %v", len(a)+len(b), len(deliveries), time.Since(start).Round(time.Millisecond))

	count := map[string]int{}
	for _, rec := range fx.recsA {
		for _, p := range rec.Participants {
			count[p.UserID]++
		}
	}
	for u := range count {
		fx.users = append(fx.users, u)
	}
	sort.Slice(fx.users, func(i, j int) bool {
		return count[fx.users[i]] > count[fx.users[j]] || (count[fx.users[i]] == count[fx.users[j]] && fx.users[i] < fx.users[j])
	})
	return fx
}

// suiteSeed is one seed per run (logged; CALLKIT_QUERY_SEED replays one), shared by both
// stores so they hold the same data.
func suiteSeed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("CALLKIT_QUERY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CALLKIT_QUERY_SEED: %v", err)
		}
		s = n
	}
	t.Logf("seed %d (replay with CALLKIT_QUERY_SEED=%d)", s, s)
	return s
}

// --- expectations ---

// expected returns app A's records matching keep with IndexTs in [from, to], in listing
// order: (IndexTs, CallID) ascending, or the reverse.
func (fx *fixture) expected(from, to int64, desc bool, keep func(*record.Record) bool) []record.Record {
	var out []record.Record
	for _, rec := range fx.recsA {
		if rec.IndexTs >= from && rec.IndexTs <= to && (keep == nil || keep(&rec)) {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		less := a.IndexTs < b.IndexTs || (a.IndexTs == b.IndexTs && a.CallID < b.CallID)
		return less != desc
	})
	return out
}

func ids(recs []record.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].CallID
	}
	return out
}

// v1Want is a record as Tencent's v1 API prints it (JSON-decoded), written out field by
// field from the reference (reference/tencent-callkit.md §5).
func v1Want(r record.Record) map[string]any {
	callees := []any{}
	for _, c := range r.Callees {
		callees = append(callees, c)
	}
	return map[string]any{
		"callId": r.CallID, "sdkAppId": float64(r.SDKAppID), "mediaType": r.MediaType, "roomId": r.RoomID,
		"startCallTs": float64(r.StartCallTs), "acceptTs": float64(r.AcceptTs), "endTs": float64(r.EndTs),
		"caller": r.Caller, "totalUserNumber": float64(r.TotalUserNumber), "callType": r.CallType,
		"callResult": r.CallResult, "callees": callees,
	}
}

// v4Want is a record as Tencent's v4 API prints it (§7.2): PascalCase enums, the caller
// listed first in CalleeList_Account, RoomIdType 1 for numeric rooms and 2 otherwise.
func v4Want(r record.Record) map[string]any {
	members := []any{}
	if r.Caller != "" {
		members = append(members, r.Caller)
	}
	for _, c := range r.Callees {
		members = append(members, c)
	}
	roomType := 0.0
	if r.RoomID != "" {
		roomType = 2
		if _, err := strconv.ParseUint(r.RoomID, 10, 64); err == nil {
			roomType = 1
		}
	}
	return map[string]any{
		"CallId": r.CallID, "Caller_Account": r.Caller,
		"MediaType": map[string]string{"audio": "Audio", "video": "Video"}[r.MediaType],
		"CallType":  map[string]string{"single": "SingleCall", "group": "MultiCall"}[r.CallType],
		"StartTime": float64(r.StartCallTs), "EndTime": float64(r.EndTs), "AcceptTime": float64(r.AcceptTs),
		"CallResult": v4Results[r.CallResult], "CalleeList_Account": members, "RoomId": r.RoomID, "RoomIdType": roomType,
	}
}

var v4Results = map[string]string{"": "", "cancel": "Cancel", "reject": "Reject", "not_answer": "NotAnswer",
	"normal_end": "NormalEnd", "call_busy": "CallBusy", "interrupt": "Interrupt", "offline": "Offline"}

// roundTrip is what a record looks like after JSON (how the native API returns it).
func roundTrip(t *testing.T, r record.Record) record.Record {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out record.Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// --- requests ---

func authQuery(app uint64, id, sig string) string {
	return url.Values{"sdkappid": {strconv.FormatUint(app, 10)}, "identifier": {id}, "usersig": {sig},
		"random": {strconv.Itoa(rand.IntN(1 << 30))}, "contenttype": {"json"}}.Encode()
}

func (fx *fixture) adminA() string { return authQuery(appA, "administrator", fx.sigA) }
func (fx *fixture) adminB() string { return authQuery(appB, "administrator", fx.sigB) }

func serve(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, rd))
	return w
}

// withQuery appends the authentication parameters to a path that may have its own.
func withQuery(path, q string) string {
	if strings.Contains(path, "?") {
		return path + "&" + q
	}
	return path + "?" + q
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %.300s", err, raw)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameKeys(t *testing.T, what string, raw []byte, want ...string) {
	t.Helper()
	w := slices.Clone(want)
	sort.Strings(w)
	if got := keysOf(t, raw); !slices.Equal(got, w) {
		t.Fatalf("%s has keys %v, want exactly %v", what, got, w)
	}
}

func decodeMap(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %.300s", err, raw)
	}
	return m
}

// v1Resp is the Tencent v1 envelope.
type v1Resp struct {
	ErrorCode    int             `json:"errorCode"`
	ErrorMessage string          `json:"errorMessage"`
	RequestID    string          `json:"requestId"`
	Data         json.RawMessage `json:"data"`
}

// v1Call posts body to a v1 route and checks the envelope: HTTP 200 whatever happened,
// JSON, exactly the four envelope fields, errorCode a number, a 32-hex requestId, and
// no data on errors.
func v1Call(t *testing.T, h http.Handler, q, path, body string) v1Resp {
	t.Helper()
	w := serve(h, http.MethodPost, withQuery(path, q), body)
	if w.Code != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d, want 200 always: %.300s", path, w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	sameKeys(t, "v1 envelope", w.Body.Bytes(), "errorCode", "errorMessage", "requestId", "data")
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	if c := raw["errorCode"]; len(c) == 0 || c[0] < '0' || c[0] > '9' {
		t.Fatalf("errorCode %s is not a JSON number", c)
	}
	var r v1Resp
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !hex32.MatchString(r.RequestID) {
		t.Fatalf("requestId %q is not 32 lowercase hex digits", r.RequestID)
	}
	if r.ErrorCode == 0 && r.ErrorMessage != "Success" {
		t.Fatalf("success with errorMessage %q", r.ErrorMessage)
	}
	if r.ErrorCode != 0 && (r.ErrorMessage == "" || string(r.Data) != "{}") {
		t.Fatalf("error %d: message %q, data %s (want a message and data {})", r.ErrorCode, r.ErrorMessage, r.Data)
	}
	return r
}

func wantV1Code(t *testing.T, r v1Resp, code int) {
	t.Helper()
	if r.ErrorCode != code {
		t.Fatalf("errorCode %d (%s), want %d", r.ErrorCode, r.ErrorMessage, code)
	}
}

// v1Page is data of get_records_by_filter.
type v1Page struct {
	TotalNum       int               `json:"totalNum"`
	Page           int               `json:"page"`
	CallRecordList []json.RawMessage `json:"callRecordList"`
}

func (fx *fixture) v1Filter(t *testing.T, body string) v1Page {
	t.Helper()
	r := v1Call(t, fx.h, fx.adminA(), "/v1/records/get_records_by_filter", body)
	wantV1Code(t, r, 0)
	sameKeys(t, "filter data", r.Data, "totalNum", "page", "callRecordList")
	var p v1Page
	if err := json.Unmarshal(r.Data, &p); err != nil {
		t.Fatal(err)
	}
	if p.CallRecordList == nil {
		t.Fatalf("callRecordList is %s, want an array", r.Data)
	}
	return p
}

// checkV1List compares a page's records with the expected ones, field by field.
func checkV1List(t *testing.T, got []json.RawMessage, want []record.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if g, w := decodeMap(t, got[i]), v1Want(want[i]); !equalJSON(g, w) {
			t.Fatalf("record %d:\n got  %v\n want %v", i, g, w)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// nativeErr is the native error body.
type nativeErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"requestId"`
}

// wantNativeErr checks a native error response: status, code, a message, the
// requestId in the body and the X-Request-Id header.
func wantNativeErr(t *testing.T, w *httptest.ResponseRecorder, status int, code string) nativeErr {
	t.Helper()
	if w.Code != status {
		t.Fatalf("HTTP %d, want %d: %.300s", w.Code, status, w.Body)
	}
	sameKeys(t, "native error", w.Body.Bytes(), "error", "requestId")
	var e nativeErr
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q with a message", e.Error, code)
	}
	if !hex32.MatchString(e.RequestID) {
		t.Fatalf("requestId %q is not 32 lowercase hex digits", e.RequestID)
	}
	if h := w.Header().Get("X-Request-Id"); h != "" && h != e.RequestID {
		t.Fatalf("X-Request-Id %q differs from the body's %q", h, e.RequestID)
	}
	return e
}

// listResp is a native listing page.
type listResp struct {
	Calls      []record.Record `json:"calls"`
	NextCursor string          `json:"nextCursor"`
	From       int64           `json:"from"`
	To         int64           `json:"to"`
}

func (fx *fixture) getOK(t *testing.T, target string) []byte {
	t.Helper()
	w := serve(fx.h, http.MethodGet, withQuery(target, fx.adminA()), "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %.300s", target, w.Code, w.Body)
	}
	if !hex32.MatchString(w.Header().Get("X-Request-Id")) {
		t.Fatalf("X-Request-Id %q", w.Header().Get("X-Request-Id"))
	}
	return w.Body.Bytes()
}

func (fx *fixture) list(t *testing.T, target string) listResp {
	t.Helper()
	var l listResp
	if err := json.Unmarshal(fx.getOK(t, target), &l); err != nil {
		t.Fatal(err)
	}
	if l.Calls == nil {
		t.Fatalf("%s: calls is not an array", target)
	}
	return l
}

// walk follows nextCursor from the first page of target to the end and returns every
// call listed, failing on a repeat, an oversized page or a cursor that does not end.
func (fx *fixture) walk(t *testing.T, target string, limit int) []record.Record {
	t.Helper()
	var all []record.Record
	seen := map[string]bool{}
	cur := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: paging does not end", target)
		}
		tg := withQuery(target, "limit="+strconv.Itoa(limit))
		if cur != "" {
			tg += "&cursor=" + url.QueryEscape(cur)
		}
		p := fx.list(t, tg)
		if len(p.Calls) > limit {
			t.Fatalf("page of %d, limit %d", len(p.Calls), limit)
		}
		for _, c := range p.Calls {
			if seen[c.CallID] {
				t.Fatalf("%s: call %s listed twice (page %d)", target, c.CallID, pages)
			}
			seen[c.CallID] = true
			all = append(all, c)
		}
		if p.NextCursor == "" {
			return all
		}
		cur = p.NextCursor
	}
}

// sameRecords compares listed records with the expected ones in order, in full.
func sameRecords(t *testing.T, what string, got, want []record.Record) {
	t.Helper()
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("%s: listed %d calls, want %d\n got  %v\n want %v", what, len(got), len(want), head(ids(got)), head(ids(want)))
	}
	for i := range got {
		if w := roundTrip(t, want[i]); !equalJSON(got[i], w) {
			t.Fatalf("%s: call %s differs from its derived record\n got  %+v\n want %+v", what, got[i].CallID, got[i], w)
		}
	}
}

func head(s []string) string {
	if len(s) > 8 {
		return fmt.Sprint(s[:8]) + "…"
	}
	return fmt.Sprint(s)
}

// v4Resp is the v4 envelope.
type v4Resp struct {
	ActionStatus string          `json:"ActionStatus"`
	ErrorInfo    string          `json:"ErrorInfo"`
	ErrorCode    int             `json:"ErrorCode"`
	RequestID    string          `json:"RequestId"`
	Response     json.RawMessage `json:"Response"`
}

var v4RequestID = regexp.MustCompile(`^Id-[0-9a-f]{32}-O-Seq-[0-9]+$`)

// v4Call posts to a v4 route and checks the envelope: HTTP 200, ActionStatus OK with
// ErrorCode 0 and a Response, or FAIL with a code, ErrorInfo and no Response.
func v4Call(t *testing.T, h http.Handler, q, path, body string) v4Resp {
	t.Helper()
	w := serve(h, http.MethodPost, withQuery(path, q), body)
	if w.Code != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d, want 200: %.300s", path, w.Code, w.Body)
	}
	var r v4Resp
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !v4RequestID.MatchString(r.RequestID) {
		t.Fatalf("RequestId %q is not shaped like Tencent's", r.RequestID)
	}
	if r.ErrorCode == 0 {
		sameKeys(t, "v4 envelope", w.Body.Bytes(), "ActionStatus", "ErrorInfo", "ErrorCode", "RequestId", "Response")
		if r.ActionStatus != "OK" || r.ErrorInfo != "" {
			t.Fatalf("success with ActionStatus %q ErrorInfo %q", r.ActionStatus, r.ErrorInfo)
		}
	} else {
		sameKeys(t, "v4 error envelope", w.Body.Bytes(), "ActionStatus", "ErrorInfo", "ErrorCode", "RequestId")
		if r.ActionStatus != "FAIL" || r.ErrorInfo == "" {
			t.Fatalf("error %d with ActionStatus %q ErrorInfo %q", r.ErrorCode, r.ActionStatus, r.ErrorInfo)
		}
	}
	return r
}

func wantV4Code(t *testing.T, r v4Resp, code int) {
	t.Helper()
	if r.ErrorCode != code {
		t.Fatalf("ErrorCode %d (%s), want %d", r.ErrorCode, r.ErrorInfo, code)
	}
}
