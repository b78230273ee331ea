package query_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/record"
)

const (
	byCallID = "/v1/records/get_record_by_callId"
	byFilter = "/v1/records/get_records_by_filter"
)

// tencentV1Example is the data object of Tencent's documented get_record_by_callId
// response (reference/tencent-callkit.md §5): our records must have exactly its keys,
// each with the same JSON type.
const tencentV1Example = `{"callId":"2ae7d549-c441-4a9b-87c0-61810fe19582","sdkAppId":88888888,"mediaType":"video",
  "roomId":"123456","startCallTs":1688705638,"acceptTs":1688705641,"endTs":1688705668,"caller":"alice",
  "totalUserNumber":2,"callType":"single","callResult":"normal_end","callees":["bob1","bob2"]}`

// jsonKinds maps each key of a JSON object to its JSON type (arrays with their element type).
func jsonKinds(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range decodeMap(t, raw) {
		out[k] = kind(v)
	}
	return out
}

func kind(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	case []any:
		el := "string" // an empty list is judged by what the reference puts in it
		if len(x) > 0 {
			el = kind(x[0])
		}
		return "array of " + el
	}
	return "object"
}

// v1ByCallIDEveryRecord: every seeded call comes back field for field as derived, in
// exactly the reference's shape.
func v1ByCallIDEveryRecord(t *testing.T, fx *fixture) {
	ref := jsonKinds(t, []byte(tencentV1Example))
	for id, want := range fx.recsA {
		r := v1Call(t, fx.h, fx.adminA(), byCallID, fmt.Sprintf(`{"callId":%q}`, id))
		wantV1Code(t, r, 0)
		if got := jsonKinds(t, r.Data); !reflect.DeepEqual(got, ref) {
			t.Fatalf("%s: fields and types %v\nreference has      %v", id, got, ref)
		}
		if got := decodeMap(t, r.Data); !equalJSON(got, v1Want(want)) {
			t.Fatalf("%s (%s):\n got  %v\n want %v", id, fx.callsA[id].Scenario, got, v1Want(want))
		}
	}
}

// v1ByCallIDForms: the id as a JSON number, unknown ids, other apps' ids.
func v1ByCallIDForms(t *testing.T, fx *fixture) {
	// A numeric callId may be sent as a number (Tencent's fields are often numeric ids).
	r := v1Call(t, fx.h, fx.adminA(), byCallID, `{"callId":`+fx.numID+`}`)
	wantV1Code(t, r, 0)
	if decodeMap(t, r.Data)["callId"] != fx.numID {
		t.Fatalf("numeric callId: %s", r.Data)
	}
	// Missing: Tencent's record-not-found code, in the envelope.
	for _, id := range []string{"no-such-call", fx.onlyB, strings.ToUpper(fx.known.CallID)} {
		r := v1Call(t, fx.h, fx.adminA(), byCallID, fmt.Sprintf(`{"callId":%q}`, id))
		wantV1Code(t, r, query.CodeNoRecord)
	}
	// The same call id in two apps: each app sees only its own record.
	r = v1Call(t, fx.h, fx.adminA(), byCallID, fmt.Sprintf(`{"callId":%q}`, fx.known.CallID))
	if !equalJSON(decodeMap(t, r.Data), v1Want(fx.recsA[fx.known.CallID])) {
		t.Fatalf("app A sees %s", r.Data)
	}
	r = v1Call(t, fx.h, fx.adminB(), byCallID, fmt.Sprintf(`{"callId":%q}`, fx.known.CallID))
	if !equalJSON(decodeMap(t, r.Data), v1Want(fx.recsB[fx.known.CallID])) {
		t.Fatalf("app B sees %s", r.Data)
	}
	r = v1Call(t, fx.h, fx.adminB(), byCallID, fmt.Sprintf(`{"callId":%q}`, fx.group.CallID))
	wantV1Code(t, r, query.CodeNoRecord)
}

// v1BodyErrors: 70009 when the body is not a JSON object of the right types, 70001 when
// a field's value is wrong — on both routes.
func v1BodyErrors(t *testing.T, fx *fixture) {
	long := strings.Repeat("x", 257)
	start := t0 + day
	for _, tc := range []struct {
		path, body string
		code       int
	}{
		{byCallID, ``, query.CodeBody},
		{byCallID, `   `, query.CodeBody},
		{byCallID, `{"callId":`, query.CodeBody},
		{byCallID, `["callId"]`, query.CodeBody},
		{byCallID, `null`, query.CodeBody},
		{byCallID, `"callId"`, query.CodeBody},
		{byCallID, `{"callId":true}`, query.CodeBody},
		{byCallID, `{"callId":{"id":"x"}}`, query.CodeBody},
		{byCallID, `{"callId":1.5}`, query.CodeBody},
		{byCallID, `{}`, query.CodeParams},
		{byCallID, `{"callId":""}`, query.CodeParams},
		{byCallID, `{"callId":null}`, query.CodeParams},
		{byCallID, `{"callid":"x"}`, query.CodeParams}, // field names are case-sensitive
		{byCallID, `{"callId":"` + long + `"}`, query.CodeParams},
		{byCallID, `{"callId":"` + strings.Repeat(" ", query.MaxBodyBytes) + `"}`, query.CodeParams},
		{byFilter, ``, query.CodeBody},
		{byFilter, `[]`, query.CodeBody},
		{byFilter, `{"startTimestamp":"soon"}`, query.CodeBody},
		{byFilter, `{"startTimestamp":1795000000.5}`, query.CodeBody},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":true}`, start), query.CodeBody},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":"ten"}`, start), query.CodeBody},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":[1]}`, start), query.CodeBody},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"callResult":7}`, start), query.CodeParams}, // digits are a string, but no result
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"callType":{}}`, start), query.CodeBody},
		{byFilter, `{}`, query.CodeParams}, // startTimestamp is required
		{byFilter, `{"startTimestamp":0}`, query.CodeParams},
		{byFilter, `{"startTimestamp":-5}`, query.CodeParams},
		{byFilter, `{"startTimestamp":99999999999}`, query.CodeParams}, // milliseconds
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d}`, start, start-1), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d}`, start, start+query.V1MaxSpan+1), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"callResult":"finished"}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"callType":"conference"}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":0}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":%d}`, start, query.V1MaxPerPage+1), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":0}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":-1}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":11,"numberPerPage":1000}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":10001}`, start), query.CodeParams},
		// page × numberPerPage must not wrap around int64 and slip under the depth limit.
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":4611686018427387904,"numberPerPage":4}`, start), query.CodeParams},
		{byFilter, fmt.Sprintf(`{"startTimestamp":%d,"page":9223372036854775807,"numberPerPage":1000}`, start), query.CodeParams},
	} {
		r := v1Call(t, fx.h, fx.adminA(), tc.path, tc.body)
		if r.ErrorCode != tc.code {
			t.Fatalf("%s %.80s: errorCode %d (%s), want %d", tc.path, tc.body, r.ErrorCode, r.ErrorMessage, tc.code)
		}
	}
}

// v1FilterDefaults: endTimestamp defaults to startTimestamp + 7 days, numberPerPage to
// 100, page to 1; records are listed oldest first; totalNum counts every match.
func v1FilterDefaults(t *testing.T, fx *fixture) {
	start := t0 + day + 1234
	want := fx.expected(start, start+7*day, false, nil)
	if len(want) <= query.V1DefaultPerPage {
		t.Fatalf("fixture: %d calls in the 7-day window, need more than a default page", len(want))
	}
	if all := fx.expected(start, nowTs+day, false, nil); len(all) == len(want) {
		t.Fatal("fixture: no calls after the 7-day window, the default end is not tested")
	}
	p := fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d}`, start))
	if p.TotalNum != len(want) || p.Page != 1 {
		t.Fatalf("totalNum %d page %d, want %d and 1", p.TotalNum, p.Page, len(want))
	}
	checkV1List(t, p.CallRecordList, want[:query.V1DefaultPerPage])
	for _, raw := range p.CallRecordList {
		sameKeys(t, "listed record", raw, "callId", "sdkAppId", "mediaType", "roomId", "startCallTs", "acceptTs",
			"endTs", "caller", "totalUserNumber", "callType", "callResult", "callees")
	}
	// Timestamps may come as digit strings; null means absent.
	p2 := fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":"%d","endTimestamp":null,"page":null,"numberPerPage":null}`, start))
	if p2.TotalNum != p.TotalNum || len(p2.CallRecordList) != len(p.CallRecordList) {
		t.Fatalf("string timestamp: totalNum %d, want %d", p2.TotalNum, p.TotalNum)
	}
	// The whole window in one page at the largest page size.
	p = fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":%d}`, start, query.V1MaxPerPage))
	checkV1List(t, p.CallRecordList, want)
}

// v1FilterPaging walks windows and filters page by page: the pages put together are
// exactly the matching records, oldest first, without gaps or repeats, and every page
// reports the same totalNum.
func v1FilterPaging(t *testing.T, fx *fixture) {
	type filt struct {
		name, body string
		keep       func(*record.Record) bool
	}
	from, to := t0, nowTs
	for _, f := range []filt{
		{"all", "", nil},
		{"normal_end", `,"callResult":"normal_end"`, func(r *record.Record) bool { return r.CallResult == "normal_end" }},
		{"v4 spelling NormalEnd", `,"callResult":"NormalEnd"`, func(r *record.Record) bool { return r.CallResult == "normal_end" }},
		{"reject, single", `,"callResult":"reject","callType":"single"`, func(r *record.Record) bool { return r.CallResult == "reject" && r.CallType == "single" }},
		{"group", `,"callType":"group"`, func(r *record.Record) bool { return r.CallType == "group" }},
		{"MultiCall", `,"callType":"MultiCall"`, func(r *record.Record) bool { return r.CallType == "group" }},
		{"interrupt", `,"callResult":"interrupt"`, func(r *record.Record) bool { return r.CallResult == "interrupt" }},
		{"offline (v4 callbacks)", `,"callResult":"offline"`, func(r *record.Record) bool { return r.CallResult == "offline" }},
	} {
		t.Run(f.name, func(t *testing.T) {
			want := fx.expected(from, to, false, f.keep)
			if len(want) == 0 {
				t.Fatal("fixture: no call matches, paging would prove nothing")
			}
			per := 37
			if len(want) < 2*per {
				per = max(1, len(want)/3)
			}
			var got []json.RawMessage
			for page := 1; ; page++ {
				p := fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d,"numberPerPage":%d,"page":%d%s}`, from, to, per, page, f.body))
				if p.TotalNum != len(want) || p.Page != page {
					t.Fatalf("page %d: totalNum %d page %d, want %d and %d", page, p.TotalNum, p.Page, len(want), page)
				}
				if len(p.CallRecordList) == 0 {
					break
				}
				if len(p.CallRecordList) > per || (len(p.CallRecordList) < per && len(got)+len(p.CallRecordList) != len(want)) {
					t.Fatalf("page %d has %d records (numberPerPage %d)", page, len(p.CallRecordList), per)
				}
				got = append(got, p.CallRecordList...)
				if page > len(want)+1 {
					t.Fatal("paging does not end")
				}
			}
			checkV1List(t, got, want)
		})
	}
}

// v1FilterWindows: the window is inclusive at both ends and over the call's start;
// the longest span is accepted; the deepest page is an empty page, not an error.
func v1FilterWindows(t *testing.T, fx *fixture) {
	all := fx.expected(0, 1<<40, false, nil)
	// A window of exactly one record's start second holds it (inclusive ends).
	pick := all[len(all)/2]
	want := fx.expected(pick.IndexTs, pick.IndexTs, false, nil)
	p := fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d}`, pick.IndexTs, pick.IndexTs))
	checkV1List(t, p.CallRecordList, want)
	// The longest documented span, and the deepest page allowed (empty: past the end).
	p = fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d}`, t0-80*day, t0-80*day+query.V1MaxSpan))
	checkV1List(t, p.CallRecordList, fx.expected(t0-80*day, t0-80*day+query.V1MaxSpan, false, nil)[:min(100, len(all))])
	p = fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d,"page":10,"numberPerPage":1000}`, t0, nowTs))
	if p.TotalNum != len(all) || p.Page != 10 || len(p.CallRecordList) != 0 {
		t.Fatalf("deepest page: totalNum %d page %d, %d records", p.TotalNum, p.Page, len(p.CallRecordList))
	}
	// A window before any call: nothing, and totalNum 0.
	p = fx.v1Filter(t, fmt.Sprintf(`{"startTimestamp":%d}`, t0-30*day))
	if p.TotalNum != 0 || len(p.CallRecordList) != 0 {
		t.Fatalf("empty window: totalNum %d, %d records", p.TotalNum, len(p.CallRecordList))
	}
	// Foreign records never count: app B sees exactly its own.
	r := v1Call(t, fx.h, fx.adminB(), byFilter, fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d,"numberPerPage":1000}`, t0, nowTs))
	wantV1Code(t, r, 0)
	var pb v1Page
	_ = json.Unmarshal(r.Data, &pb)
	var got []string
	for _, raw := range pb.CallRecordList {
		m := decodeMap(t, raw)
		if m["sdkAppId"] != float64(appB) {
			t.Fatalf("app B lists a record of app %v", m["sdkAppId"])
		}
		got = append(got, m["callId"].(string))
	}
	var wantB []string
	for id, rec := range fx.recsB {
		if rec.IndexTs >= t0 && rec.IndexTs <= nowTs {
			wantB = append(wantB, id)
		}
	}
	sort.Strings(got)
	sort.Strings(wantB)
	if pb.TotalNum != len(wantB) || strings.Join(got, ",") != strings.Join(wantB, ",") {
		t.Fatalf("app B: totalNum %d, %d records, want %d", pb.TotalNum, len(got), len(wantB))
	}
}
