package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/store"
)

type fzQueue struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (q *fzQueue) Send(_ context.Context, m queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	return nil
}

// fzStore keeps what the persister applies.
type fzStore struct{ got []store.Update }

func (s *fzStore) Apply(_ context.Context, us []store.Update) []error {
	s.got = append(s.got, us...)
	return make([]error, len(us))
}

// fzSeeds adds every fixture of events/tencent (v1 and v4) with its query string.
func fzSeeds(f *testing.F) {
	for _, dir := range []string{"../../events/tencent/v1", "../../events/tencent/v4"} {
		raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			f.Fatal(err)
		}
		var idx []struct {
			File  string            `json:"file"`
			Query map[string]string `json:"query"`
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			f.Fatal(err)
		}
		for _, e := range idx {
			body, err := os.ReadFile(filepath.Join(dir, e.File))
			if err != nil {
				f.Fatal(err)
			}
			q := url.Values{}
			for k, v := range e.Query {
				q.Set(k, v)
			}
			f.Add(false, q.Encode(), body)
		}
	}
}

// FuzzWebhook: for any query string and body, the webhook answers with one of the
// status/code pairs of DESIGN §4 in the generation's shape, queues exactly one message
// exactly when it acknowledges, and whatever it queues the persister accepts as the same
// callback (same event key, app and call) — an acknowledged callback can never turn out
// to be poison.
func FuzzWebhook(f *testing.F) {
	fzSeeds(f)
	f.Add(false, "sdkappid=1400000001&command=caller_start_call", []byte(`{"CallId":"c","UserId":"u","EventTime":1795342500}`))
	f.Add(true, "sdkappid=1400000001&command=normal_end", []byte(`{"CallId":"c","UserId":"u","EventTime":1795342500}`))
	f.Add(false, "SdkAppid=1400000001&CallbackCommand=Call.CallbackAfterMemberChanged", []byte(`{"CallId":"c","EventTime":1795342500000,"ChangedUserList":[{"User_Account":1,"ActionType":"Join"}]}`))
	f.Add(false, "sdkappid=1400000001&command=invite_user&clientip=%00", []byte(`{"CallId":"\u00e9","UserId":12345678901234567890123,"EventTime":"1795342500"}`))
	f.Add(false, "sdkappid=1400000001&command=reject", []byte("{\"CallId\":\"c\",\"UserId\":\"u\xff\",\"EventTime\":1}"))
	f.Fuzz(func(t *testing.T, get bool, rawQuery string, body []byte) {
		u, err := url.ParseRequestURI("/callback?" + rawQuery)
		if err != nil {
			return
		}
		q := &fzQueue{}
		h := ingest.New(ingest.Config{AppAllowed: func(id uint64) bool { return id == 1400000001 || id == 8888888 }, MaxBodyBytes: 8 << 10}, q, logging.Discard())
		method := http.MethodPost
		if get {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, "/callback", bytes.NewReader(body))
		req.URL, req.RequestURI = u, u.RequestURI()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		var a struct {
			ErrorCode    *int
			ErrorMessage *string
			ActionStatus *string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || a.ErrorCode == nil {
			t.Fatalf("%d %q is not an acknowledgement", w.Code, w.Body)
		}
		v4 := u.Query().Has("CallbackCommand") || u.Query().Has("SdkAppid")
		if v4 != (a.ActionStatus != nil) || v4 == (a.ErrorMessage != nil) {
			t.Fatalf("v4 request %v answered in the other shape: %s", v4, w.Body)
		}
		switch pair := [2]int{w.Code, *a.ErrorCode}; pair {
		case [2]int{200, 0}, [2]int{400, 70001}, [2]int{400, 70009}, [2]int{403, 70001}, [2]int{413, 70001}, [2]int{405, 70001}:
		default:
			t.Fatalf("status %d with ErrorCode %d is not in the contract: %s", w.Code, *a.ErrorCode, w.Body)
		}
		if (w.Code == 200) != (len(q.msgs) == 1) || len(q.msgs) > 1 {
			t.Fatalf("answered %d but queued %d messages", w.Code, len(q.msgs))
		}
		if w.Code != 200 {
			return
		}
		m := q.msgs[0]
		env, err := envelope.Unmarshal(m.Body)
		if err != nil {
			t.Fatalf("queued message is not an envelope: %v", err)
		}
		if env.EventKey != m.EventKey || env.CallID != m.CallID {
			t.Fatalf("attributes %q/%q disagree with the envelope %q/%q", m.EventKey, m.CallID, env.EventKey, env.CallID)
		}
		st := &fzStore{}
		errs := persist.New(st, nil, logging.Discard(), persist.Options{}).Process(context.Background(), []persist.Message{{ID: "m", Body: m.Body, ReceiveCount: 1}})
		if errs[0] != nil {
			t.Fatalf("acknowledged callback refused by the persister: %v\nquery %q body %q", errs[0], rawQuery, body)
		}
		if len(st.got) != 1 || len(st.got[0].Callbacks) != 1 {
			t.Fatalf("persister applied %+v", st.got)
		}
		cb := st.got[0].Callbacks[0].Callback
		if cb.Key().String() != env.EventKey || cb.CallID != env.CallID || cb.SDKAppID != env.SDKAppID || st.got[0].Key.CallID != env.CallID {
			t.Fatalf("persisted %s (app %d call %q), acknowledged %s (app %d call %q)", cb.Key(), cb.SDKAppID, cb.CallID, env.EventKey, env.SDKAppID, env.CallID)
		}
	})
}
