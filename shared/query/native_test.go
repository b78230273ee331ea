package query_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/record"
)

// callResp is GET /v1/calls/{callId}.
type callResp struct {
	record.Record
	Events []record.Event `json:"events"`
}

// nativeGetCall: every record by id, equal to its derived record; no timeline unless
// asked for.
func nativeGetCall(t *testing.T, fx *fixture) {
	for id, want := range fx.recsA {
		body := fx.getOK(t, "/v1/calls/"+url.PathEscape(id))
		if _, has := decodeMap(t, body)["events"]; has {
			t.Fatalf("%s: events listed without include=events", id)
		}
		var got record.Record
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if w := roundTrip(t, want); !equalJSON(got, w) {
			t.Fatalf("%s (%s):\n got  %+v\n want %+v", id, fx.callsA[id].Scenario, got, w)
		}
	}
	// Other apps' calls and unknown ids are simply not found.
	for _, id := range []string{fx.onlyB, "no-such-call", fx.known.CallID + "x"} {
		wantNativeErr(t, serve(fx.h, http.MethodGet, "/v1/calls/"+url.PathEscape(id)+"?"+fx.adminA(), ""), http.StatusNotFound, "not_found")
	}
	w := serve(fx.h, http.MethodGet, "/v1/calls/"+fx.known.CallID+"?"+fx.adminB(), "")
	var got record.Record
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil || got.SDKAppID != appB || got.CallResult != fx.recsB[fx.known.CallID].CallResult {
		t.Fatalf("app B's call with a shared id: %d %.200s", w.Code, w.Body)
	}
}

// nativeTimeline: include=events adds one entry per distinct callback, in time order.
func nativeTimeline(t *testing.T, fx *fixture) {
	n := 0
	for id, c := range fx.callsA {
		if n++; n > 40 && id != fx.known.CallID && id != fx.group.CallID {
			continue
		}
		var got callResp
		if err := json.Unmarshal(fx.getOK(t, "/v1/calls/"+url.PathEscape(id)+"?include=events"), &got); err != nil {
			t.Fatal(err)
		}
		if w := roundTrip(t, fx.recsA[id]); !equalJSON(got.Record, w) {
			t.Fatalf("%s: the record with its timeline differs from the derived one", id)
		}
		sent := map[string]bool{}
		for _, cb := range c.Callbacks {
			sent[cb.Key().String()] = true
		}
		if len(got.Events) != len(sent) {
			t.Fatalf("%s (%s): %d timeline entries, %d distinct callbacks were sent", id, c.Scenario, len(got.Events), len(sent))
		}
		seen := map[string]bool{}
		for i, e := range got.Events {
			if !sent[e.Key] || seen[e.Key] {
				t.Fatalf("%s: timeline entry %d (%s) was not sent, or is listed twice", id, i, e.Key)
			}
			seen[e.Key] = true
			if i > 0 && got.Events[i-1].Ts > e.Ts {
				t.Fatalf("%s: timeline out of order at %d", id, i)
			}
			if e.Command == "" || e.UserID == "" || e.ReceivedAt == 0 {
				t.Fatalf("%s: incomplete timeline entry %+v", id, e)
			}
		}
	}
}

// nativeListDefaults: no window means the 7 days up to now, newest first, 50 per page;
// the cap is 200.
func nativeListDefaults(t *testing.T, fx *fixture) {
	want := fx.expected(nowTs-7*day, nowTs, true, nil)
	if len(want) <= query.NativeDefaultLim {
		t.Fatalf("fixture: %d calls in the last 7 days, need more than a default page", len(want))
	}
	p := fx.list(t, "/v1/calls")
	if p.From != nowTs-query.NativeDefaultSpan || p.To != nowTs {
		t.Fatalf("default window [%d, %d], want [%d, %d]", p.From, p.To, nowTs-query.NativeDefaultSpan, nowTs)
	}
	sameRecords(t, "default page", p.Calls, want[:query.NativeDefaultLim])
	if p.NextCursor == "" {
		t.Fatal("a full page without nextCursor")
	}
	// Only to: from is 7 days before it. Only from: to is now.
	p = fx.list(t, fmt.Sprintf("/v1/calls?to=%d&limit=200", nowTs-2*day))
	if p.From != nowTs-9*day || p.To != nowTs-2*day {
		t.Fatalf("to only: window [%d, %d]", p.From, p.To)
	}
	toOnly := fx.expected(nowTs-9*day, nowTs-2*day, true, nil)
	sameRecords(t, "to only", p.Calls, toOnly[:min(200, len(toOnly))])
	p = fx.list(t, fmt.Sprintf("/v1/calls?from=%d&order=asc&limit=5", nowTs-day))
	if p.From != nowTs-day || p.To != nowTs {
		t.Fatalf("from only: window [%d, %d]", p.From, p.To)
	}
	sameRecords(t, "from only", p.Calls, fx.expected(nowTs-day, nowTs, false, nil)[:5])
	// RFC 3339 and Unix seconds name the same window.
	a := fx.list(t, fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=200", t0, t0+3*day))
	b := fx.list(t, "/v1/calls?from="+url.QueryEscape(time.Unix(t0, 0).UTC().Format(time.RFC3339))+
		"&to="+url.QueryEscape(time.Unix(t0+3*day, 0).In(time.FixedZone("", 8*3600)).Format(time.RFC3339))+"&limit=200")
	if a.From != b.From || a.To != b.To || !equalJSON(a.Calls, b.Calls) {
		t.Fatalf("RFC 3339 window [%d, %d] differs from [%d, %d]", b.From, b.To, a.From, a.To)
	}
	// Limits: the cap is a full page; the default is 50.
	p = fx.list(t, fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=%d", t0, nowTs, query.NativeMaxLimit))
	if len(p.Calls) != query.NativeMaxLimit || p.NextCursor == "" {
		t.Fatalf("limit=%d: %d calls", query.NativeMaxLimit, len(p.Calls))
	}
	p = fx.list(t, fmt.Sprintf("/v1/calls?from=%d&to=%d", t0, nowTs))
	if len(p.Calls) != query.NativeDefaultLim {
		t.Fatalf("default limit: %d calls", len(p.Calls))
	}
}

// nativeCursorWalk pages through the whole seeded set (hundreds of calls) with small
// pages, in both orders and under filters: exactly the matching calls, in order, no
// gaps, no repeats.
func nativeCursorWalk(t *testing.T, fx *fixture) {
	from, to := t0-day, nowTs+day
	window := fmt.Sprintf("from=%d&to=%d", from, to)
	for _, tc := range []struct {
		name, params string
		limit        int
		desc         bool
		keep         func(*record.Record) bool
	}{
		{"all newest first", "", 23, true, nil},
		{"all oldest first", "&order=asc", 29, false, nil},
		{"order=desc explicit, limit 1 page per call near the end", "&order=desc", 97, true, nil},
		{"reject", "&result=reject", 7, true, func(r *record.Record) bool { return r.CallResult == "reject" }},
		{"v4 spelling NotAnswer", "&result=NotAnswer&order=asc", 5, false, func(r *record.Record) bool { return r.CallResult == "not_answer" }},
		{"group video", "&callType=group&mediaType=video", 4, true, func(r *record.Record) bool { return r.CallType == "group" && r.MediaType == "video" }},
		{"still ringing", "&status=ringing&order=asc", 3, false, func(r *record.Record) bool { return r.Status == "ringing" }},
		{"ended audio", "&status=ended&mediaType=audio", 31, true, func(r *record.Record) bool { return r.Status == "ended" && r.MediaType == "audio" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := fx.expected(from, to, tc.desc, tc.keep)
			if len(want) == 0 {
				t.Fatal("fixture: no call matches, the walk would prove nothing")
			}
			got := fx.walk(t, "/v1/calls?"+window+tc.params, tc.limit)
			sameRecords(t, tc.name, got, want)
		})
	}
	if n := len(fx.expected(from, to, true, nil)); n < 300 {
		t.Fatalf("fixture: only %d calls walked, want hundreds", n)
	}
}

// nativeUserHistory: a user's calls as caller or callee, by role, through both routes.
func nativeUserHistory(t *testing.T, fx *fixture) {
	from, to := t0-day, nowTs+day
	for _, u := range fx.users[:3] {
		for _, tc := range []struct {
			role string
			desc bool
		}{{"", true}, {"caller", false}, {"callee", true}, {"Callee", false}} {
			role := strings.ToLower(tc.role)
			want := fx.expected(from, to, tc.desc, func(r *record.Record) bool {
				return r.HasUser(u) && (role == "" || r.RoleOf(u) == role)
			})
			if len(want) == 0 && role == "" {
				t.Fatalf("fixture: user %s has no calls", u)
			}
			params := fmt.Sprintf("from=%d&to=%d", from, to)
			if tc.role != "" {
				params += "&role=" + tc.role
			}
			if !tc.desc {
				params += "&order=asc"
			}
			got := fx.walk(t, "/v1/users/"+url.PathEscape(u)+"/calls?"+params, 6)
			sameRecords(t, fmt.Sprintf("user %s role %q", u, tc.role), got, want)
			got = fx.walk(t, "/v1/calls?userId="+url.QueryEscape(u)+"&"+params, 11)
			sameRecords(t, fmt.Sprintf("/v1/calls?userId=%s role %q", u, tc.role), got, want)
		}
	}
	// Filters combine with the user.
	u := fx.users[0]
	want := fx.expected(from, to, true, func(r *record.Record) bool { return r.HasUser(u) && r.CallResult == "normal_end" })
	sameRecords(t, "user normal_end", fx.walk(t, fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d&result=normal_end", u, from, to), 4), want)
	// A user's history may span ten years; an app's listing one.
	fx.list(t, fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d", u, nowTs-query.NativeMaxUserSpan, nowTs))
	// Nobody, and app B's users seen from app A, have no calls.
	for _, who := range []string{"nobody", "ALICE"} {
		if p := fx.list(t, fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d", who, from, to)); len(p.Calls) != 0 || p.NextCursor != "" {
			t.Fatalf("user %s: %d calls", who, len(p.Calls))
		}
	}
}

// nativeCursorBinding: a cursor is opaque and bound to its listing — tampering with it,
// reusing it with any other filter, another user, another app, or as garbage is a 400
// invalid_cursor; unchanged, it resumes in the window resolved on the first page even
// when "to" defaulted to a now that has since moved.
func nativeCursorBinding(t *testing.T, fx *fixture) {
	base := fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5", t0, nowTs)
	first := fx.list(t, base)
	cur := first.NextCursor
	if cur == "" {
		t.Fatal("no cursor on a full first page")
	}
	payload, sig, ok := strings.Cut(cur, ".")
	if !ok {
		t.Fatalf("cursor %q", cur)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 1
		if b[i] == '.' || b[i] == '/' || b[i] == '+' {
			b[i] = 'A'
		}
		return string(b)
	}
	bad := func(target string) {
		t.Helper()
		wantNativeErr(t, serve(fx.h, http.MethodGet, withQuery(target, fx.adminA()), ""), http.StatusBadRequest, "invalid_cursor")
	}
	esc := url.QueryEscape
	// Tampered.
	bad(base + "&cursor=" + esc(flip(payload, 2)+"."+sig))
	bad(base + "&cursor=" + esc(payload+"."+flip(sig, 5)))
	bad(base + "&cursor=" + esc(payload))
	bad(base + "&cursor=garbage")
	bad(base + "&cursor=" + esc(cur+cur))
	// Reused with other filters.
	for _, other := range []string{
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5&result=reject", t0, nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5&order=asc", t0, nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5&callType=group", t0, nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5&mediaType=audio", t0, nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5&status=ended", t0, nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5", t0+1, nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5", t0, nowTs-1),
		fmt.Sprintf("/v1/calls?to=%d&limit=5", nowTs),
		fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=5&userId=%s", t0, nowTs, fx.users[0]),
		fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d&limit=5", fx.users[0], t0, nowTs),
	} {
		bad(other + "&cursor=" + esc(cur))
	}
	// A user's cursor with another user.
	ucur := fx.list(t, fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d&limit=1", fx.users[0], t0, nowTs)).NextCursor
	if ucur == "" {
		t.Fatal("no cursor for a user with calls")
	}
	bad(fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d&limit=1&cursor=%s", fx.users[1], t0, nowTs, esc(ucur)))
	bad(fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d&limit=1&role=caller&cursor=%s", fx.users[0], t0, nowTs, esc(ucur)))
	// Another app's cursor for the same listing.
	bcur := listAs(t, fx, fx.adminB(), fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=1", t0, nowTs)).NextCursor
	if bcur == "" {
		t.Fatal("no cursor for app B")
	}
	bad(fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=1&cursor=%s", t0, nowTs, esc(bcur)))
	// The limit is not a filter: it may change from page to page.
	p := fx.list(t, fmt.Sprintf("/v1/calls?from=%d&to=%d&limit=7&cursor=%s", t0, nowTs, esc(cur)))
	want := fx.expected(t0, nowTs, true, nil)
	sameRecords(t, "second page, other limit", p.Calls, want[5:12])

	// The window of a defaulted "to" is fixed by the first page.
	p1 := fx.list(t, "/v1/calls?limit=3")
	defer fx.clock.Store(nowTs)
	fx.clock.Store(nowTs + 2*day)
	p2 := fx.list(t, "/v1/calls?limit=3&cursor="+esc(p1.NextCursor))
	if p2.From != p1.From || p2.To != p1.To {
		t.Fatalf("window moved under the cursor: [%d, %d] then [%d, %d]", p1.From, p1.To, p2.From, p2.To)
	}
	sameRecords(t, "page 2 after the clock moved", p2.Calls, fx.expected(nowTs-7*day, nowTs, true, nil)[3:6])
}

func listAs(t *testing.T, fx *fixture, q, target string) listResp {
	t.Helper()
	w := serve(fx.h, http.MethodGet, withQuery(target, q), "")
	var l listResp
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &l) != nil {
		t.Fatalf("GET %s: %d %.200s", target, w.Code, w.Body)
	}
	return l
}

// nativeParamErrors: every bad parameter is a 400 invalid_parameter naming it.
func nativeParamErrors(t *testing.T, fx *fixture) {
	u := fx.users[0]
	for _, tc := range []struct{ target, mention string }{
		{"/v1/calls/x?include=timeline", "include"},
		{"/v1/calls/x?include=events&include=events", "include"},
		{"/v1/calls/x?limit=5", "limit"}, // not a parameter of this route
		{"/v1/calls/" + strings.Repeat("x", 257), "callId"},
		{"/v1/calls?limit=0", "limit"},
		{"/v1/calls?limit=201", "limit"},
		{"/v1/calls?limit=-1", "limit"},
		{"/v1/calls?limit=ten", "limit"},
		{"/v1/calls?order=newest", "order"},
		{"/v1/calls?result=finished", "result"},
		{"/v1/calls?callType=conference", "callType"},
		{"/v1/calls?mediaType=screen", "mediaType"},
		{"/v1/calls?status=over", "status"},
		{"/v1/calls?role=caller", "role"}, // role needs a user
		{"/v1/calls?userId=" + u + "&role=host", "role"},
		{"/v1/calls?from=yesterday", "from"},
		{"/v1/calls?to=2026-13-01T00:00:00Z", "to"},
		{"/v1/calls?from=-5", "from"},
		{"/v1/calls?to=99999999999", "to"},
		// Beyond 10-digit Unix seconds in either form (the stores index 10-digit times).
		{"/v1/calls?from=2287-01-01T00:00:00Z&to=2287-01-02T00:00:00Z", "Unix seconds"},
		{"/v1/calls?from=9999-01-01T00:00:00Z&to=9999-01-02T00:00:00Z", "Unix seconds"},
		{fmt.Sprintf("/v1/calls?from=%d&to=%d", nowTs, nowTs-1), "from"},
		{fmt.Sprintf("/v1/calls?from=%d&to=%d", nowTs-query.NativeMaxAppSpan-1, nowTs), "366"},
		{fmt.Sprintf("/v1/users/%s/calls?from=%d&to=%d", u, nowTs-query.NativeMaxUserSpan-1, nowTs), "3660"},
		{"/v1/calls?userid=" + u, "userid"}, // a typo must not widen the query
		{"/v1/calls?from=1&from=2", "from"},
		{"/v1/users/" + u + "/calls?userId=other", "userId"},
		{"/v1/users/" + strings.Repeat("u", 257) + "/calls", "userId"},
	} {
		w := serve(fx.h, http.MethodGet, withQuery(tc.target, fx.adminA()), "")
		e := wantNativeErr(t, w, http.StatusBadRequest, "invalid_parameter")
		if !strings.Contains(e.Error.Message, tc.mention) {
			t.Fatalf("%s: message %q does not mention %q", tc.target, e.Error.Message, tc.mention)
		}
	}
}
