package query_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

const (
	fzApp = 1400000001
	fzKey = "query-fuzz-key"
)

// fzHandler serves the query API over an embedded store holding a few calls.
func fzHandler(f *testing.F) (http.Handler, string) {
	st, err := boltstore.Open(filepath.Join(f.TempDir(), "records.db"), boltstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	r := rand.New(rand.NewPCG(3, 4))
	var updates []store.Update
	for i := range 5 {
		c := recordtest.Gen(r, fzApp, 1795342500+int64(i)*60)
		u := store.Update{Key: store.CallKey{App: fzApp, CallID: "fz-call-" + string(rune('a'+i))}}
		for _, cb := range c.Callbacks {
			cb.CallID = u.Key.CallID
			_, body := cb.Render()
			u.Callbacks = append(u.Callbacks, store.Incoming{Callback: cb, ReceivedAt: 1795342600000, Body: body})
		}
		updates = append(updates, u)
	}
	for _, err := range st.Apply(context.Background(), updates) {
		if err != nil {
			f.Fatal(err)
		}
	}
	sig, err := tencentyun.GenUserSig(fzApp, fzKey, "administrator", 86400)
	if err != nil {
		f.Fatal(err)
	}
	v := auth.NewVerifier(map[uint64]string{fzApp: fzKey}, []string{"administrator"}, nil)
	h := query.New(st, v, ratelimit.New(1e9), logging.Discard(), func() time.Time { return time.Unix(1795400000, 0) })
	authQ := url.Values{"sdkappid": {"1400000001"}, "identifier": {"administrator"}, "usersig": {sig}, "random": {"1"}, "contenttype": {"json"}}
	return h, authQ.Encode()
}

var fzLeak = regexp.MustCompile(`(?i)bolt|dynamodb|runtime error|panic|goroutine|\.go:\d|nil pointer|tencentyun|zlib|flate`)

// FuzzQueryAPI: any method, path, query string and body, authenticated as the admin
// (the fuzzed query is appended, so it may also repeat or spoil the auth parameters),
// gets a well-formed answer: never a 5xx; Tencent-style routes answer HTTP 200 with their
// envelope and one of their documented codes; native routes answer JSON with an error
// code that agrees with the status; no answer leaks internal text.
func FuzzQueryAPI(f *testing.F) {
	h, authQ := fzHandler(f)
	for _, s := range []struct {
		get         bool
		path, query string
		body        string
	}{
		{false, "/v1/records/get_record_by_callId", "", `{"callId":"fz-call-a"}`},
		{false, "/v1/records/get_record_by_callId", "", `{"callId":1795}`},
		{false, "/v1/records/get_records_by_filter", "", `{"startTimestamp":1795342000,"endTimestamp":1795400000,"numberPerPage":2,"page":2}`},
		{false, "/v1/records/get_records_by_filter", "", `{"startTimestamp":"1795342000","callResult":"NormalEnd","callType":"group"}`},
		{false, "/v4/call_record_http_srv/get_record_by_callid", "", `{"CallId":"fz-call-b"}`},
		{false, "/v4/call_record_http_srv/get_record_by_filter", "", `{"StartTime":1795342000,"EndTime":1795400000,"NumberPerPage":3,"Page":1}`},
		{true, "/v1/calls/fz-call-a", "include=events", ""},
		{true, "/v1/calls", "from=1795342000&to=1795400000&limit=2", ""},
		{true, "/v1/calls", "from=2026-11-20T00:00:00Z&order=asc&status=ended&mediaType=video", ""},
		{true, "/v1/users/alice/calls", "role=caller&limit=1", ""},
		{true, "/v1/calls", "cursor=eyJ2IjoxfQ.AAAA", ""},
		{true, "/v1/calls/", "", ""},
		{true, "/v1//calls", "", ""},
		{false, "/v1/records/get_records_by_filter", "", `{"startTimestamp":1,"page":9223372036854775807,"numberPerPage":1000}`},
	} {
		f.Add(s.get, s.path, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, get bool, path, rawQuery string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u, err := url.ParseRequestURI(path + "?" + rawQuery + "&" + authQ)
		if err != nil {
			return // not a request line a server would accept
		}
		method := http.MethodPost
		if get {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, "/", bytes.NewReader(body))
		req.URL, req.RequestURI = u, u.RequestURI()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		out := w.Body.Bytes()
		switch {
		case w.Code >= 500:
			t.Fatalf("%s %s: %d %s", method, u, w.Code, out)
		case w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect || w.Code == http.StatusPermanentRedirect:
			return // net/http canonicalising the path
		case !json.Valid(out):
			t.Fatalf("%s %s: %d answer is not JSON: %q", method, u, w.Code, out)
		}
		if m := fzLeak.Find(out); m != nil {
			t.Fatalf("%s %s: answer leaks %q: %s", method, u, m, out)
		}
		switch {
		case u.Path == "/v1/records/get_record_by_callId" || u.Path == "/v1/records/get_records_by_filter":
			if method != http.MethodPost {
				return // the native 405
			}
			var a struct {
				ErrorCode *int `json:"errorCode"`
			}
			if w.Code != 200 || json.Unmarshal(out, &a) != nil || a.ErrorCode == nil {
				t.Fatalf("v1 route: %d %s", w.Code, out)
			}
			switch *a.ErrorCode {
			case 0, query.CodeParams, query.CodeUserSig, query.CodeExpired, query.CodeNotAdmin, query.CodeBody, query.CodeNoRecord:
			default:
				t.Fatalf("v1 route: undocumented errorCode %d: %s", *a.ErrorCode, out)
			}
		case strings.HasPrefix(u.Path, "/v4/"):
			var a struct {
				ActionStatus string
				ErrorCode    *int
			}
			if json.Unmarshal(out, &a) != nil {
				t.Fatalf("v4 route: %s", out)
			}
			if a.ErrorCode != nil && *a.ErrorCode >= 101001 && *a.ErrorCode != query.V4CodeParams && *a.ErrorCode != query.V4CodeNoRecord {
				t.Fatalf("v4 route: errorCode %d: %s", *a.ErrorCode, out)
			}
		default:
			var a struct {
				Error *struct{ Code, Message string }
			}
			_ = json.Unmarshal(out, &a)
			if (w.Code == 200) != (a.Error == nil) || (a.Error != nil && (a.Error.Code == "" || a.Error.Message == "")) {
				t.Fatalf("native route: %d %s", w.Code, out)
			}
		}
	})
}
