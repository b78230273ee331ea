package query_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/record"
)

const (
	v4ByCallID = "/v4/call_record_http_srv/get_record_by_callid"
	v4ByFilter = "/v4/call_record_http_srv/get_record_by_filter"
)

// tencentV4Example is the CallRecord of Tencent's documented v4 get_record_by_callid
// response (reference/tencent-callkit.md §7.2).
const tencentV4Example = `{"CallId":"04c9a0ac-8e38-4a19-be45-349c5ce7911b","Caller_Account":"user1","MediaType":"Audio",
  "CallType":"MultiCall","StartTime":1739868165,"EndTime":1740064224,"AcceptTime":1739872743,"CallResult":"NormalEnd",
  "CalleeList_Account":["user1","user5","user2"],"RoomId":"roomid-1434","RoomIdType":2}`

type v4Page struct {
	TotalNum       int               `json:"TotalNum"`
	Page           int               `json:"Page"`
	CallRecordList []json.RawMessage `json:"CallRecordList"`
}

func (fx *fixture) v4Filter(t *testing.T, body string) v4Page {
	t.Helper()
	r := v4Call(t, fx.h, fx.adminA(), v4ByFilter, body)
	wantV4Code(t, r, 0)
	sameKeys(t, "v4 filter Response", r.Response, "TotalNum", "Page", "CallRecordList")
	var p v4Page
	if err := json.Unmarshal(r.Response, &p); err != nil {
		t.Fatal(err)
	}
	if p.CallRecordList == nil {
		t.Fatalf("CallRecordList is not an array: %s", r.Response)
	}
	return p
}

func checkV4List(t *testing.T, got []json.RawMessage, want []record.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if g, w := decodeMap(t, got[i]), v4Want(want[i]); !equalJSON(g, w) {
			t.Fatalf("record %d:\n got  %v\n want %v", i, g, w)
		}
	}
}

// v4ByCallIDDocumented: {"CallId": …} answers Response.CallRecord in exactly the shape
// of Tencent's example, with the v4 spellings; a missing call is 101050.
func v4ByCallIDDocumented(t *testing.T, fx *fixture) {
	ref := jsonKinds(t, []byte(tencentV4Example))
	for id, want := range fx.recsA {
		r := v4Call(t, fx.h, fx.adminA(), v4ByCallID, fmt.Sprintf(`{"CallId":%q}`, id))
		wantV4Code(t, r, 0)
		sameKeys(t, "v4 Response", r.Response, "CallRecord")
		var resp struct{ CallRecord json.RawMessage }
		_ = json.Unmarshal(r.Response, &resp)
		if got := jsonKinds(t, resp.CallRecord); !reflect.DeepEqual(got, ref) {
			t.Fatalf("%s: fields and types %v\nreference has      %v", id, got, ref)
		}
		if got := decodeMap(t, resp.CallRecord); !equalJSON(got, v4Want(want)) {
			t.Fatalf("%s (%s):\n got  %v\n want %v", id, fx.callsA[id].Scenario, got, v4Want(want))
		}
	}
	// The known 1:1 call and the group call in the documented spellings.
	for _, c := range []struct {
		id, callType string
	}{{fx.known.CallID, "SingleCall"}, {fx.group.CallID, "MultiCall"}} {
		r := v4Call(t, fx.h, fx.adminA(), v4ByCallID, fmt.Sprintf(`{"CallId":%q}`, c.id))
		var resp struct{ CallRecord map[string]any }
		_ = json.Unmarshal(r.Response, &resp)
		if resp.CallRecord["CallType"] != c.callType {
			t.Fatalf("%s: CallType %v, want %s", c.id, resp.CallRecord["CallType"], c.callType)
		}
	}
	r := v4Call(t, fx.h, fx.adminA(), v4ByCallID, fmt.Sprintf(`{"CallId":%q}`, fx.known.CallID))
	var resp struct{ CallRecord map[string]any }
	_ = json.Unmarshal(r.Response, &resp)
	if resp.CallRecord["CallResult"] != "NormalEnd" || resp.CallRecord["CalleeList_Account"].([]any)[0] != resp.CallRecord["Caller_Account"] {
		t.Fatalf("answered call: %v", resp.CallRecord)
	}
	for _, id := range []string{"no-such-call", fx.onlyB} {
		wantV4Code(t, v4Call(t, fx.h, fx.adminA(), v4ByCallID, fmt.Sprintf(`{"CallId":%q}`, id)), query.V4CodeNoRecord)
	}
	wantV4Code(t, v4Call(t, fx.h, fx.adminA(), v4ByCallID, `{"CallId":`+fx.numID+`}`), 0)
}

// v4FilterDocumented: the documented request bodies — {} is the last 7 days, page 1,
// 10 records; every field of the example request; paging by incrementing Page until it
// comes back 0.
func v4FilterDocumented(t *testing.T, fx *fixture) {
	// {}: StartTime = now − 7 days, EndTime = now, NumberPerPage 10, Page 1, oldest first.
	want := fx.expected(nowTs-7*day, nowTs, false, nil)
	p := fx.v4Filter(t, `{}`)
	if p.TotalNum != len(want) || p.Page != 1 {
		t.Fatalf("{}: TotalNum %d Page %d, want %d and 1", p.TotalNum, p.Page, len(want))
	}
	checkV4List(t, p.CallRecordList, want[:query.V4DefaultPerPage])

	// Every field of the documented request.
	start, end := t0+day, t0+8*day
	keep := func(r *record.Record) bool { return r.CallResult == "normal_end" && r.CallType == "single" }
	want = fx.expected(start, end, false, keep)
	if len(want) <= 20 {
		t.Fatalf("fixture: %d answered 1:1 calls, want more than a page of 20", len(want))
	}
	p = fx.v4Filter(t, fmt.Sprintf(`{"StartTime":%d,"EndTime":%d,"CallResult":"NormalEnd","CallType":"SingleCall","NumberPerPage":20,"Page":2}`, start, end))
	if p.TotalNum != len(want) || p.Page != 2 {
		t.Fatalf("example request: TotalNum %d Page %d, want %d and 2", p.TotalNum, p.Page, len(want))
	}
	checkV4List(t, p.CallRecordList, want[20:min(40, len(want))])

	// Only StartTime: EndTime is now. Only EndTime: StartTime is 7 days before it.
	p = fx.v4Filter(t, fmt.Sprintf(`{"StartTime":%d,"NumberPerPage":1000}`, t0+5*day))
	checkV4List(t, p.CallRecordList, fx.expected(t0+5*day, nowTs, false, nil))
	p = fx.v4Filter(t, fmt.Sprintf(`{"EndTime":%d,"NumberPerPage":1000}`, nowTs-2*day))
	checkV4List(t, p.CallRecordList, fx.expected(nowTs-9*day, nowTs-2*day, false, nil))

	// "Page > 0 means data; increment to continue": walk until Page is 0.
	for _, tc := range []struct {
		name, body string
		keep       func(*record.Record) bool
	}{
		{"all", "", nil},
		{"MultiCall", `,"CallType":"MultiCall"`, func(r *record.Record) bool { return r.CallType == "group" }},
		{"Reject", `,"CallResult":"Reject"`, func(r *record.Record) bool { return r.CallResult == "reject" }},
		{"NotAnswer", `,"CallResult":"NotAnswer"`, func(r *record.Record) bool { return r.CallResult == "not_answer" }},
		{"Offline", `,"CallResult":"Offline"`, func(r *record.Record) bool { return r.CallResult == "offline" }},
	} {
		want := fx.expected(t0, nowTs, false, tc.keep)
		if len(want) == 0 {
			t.Fatalf("fixture: no call matches %s, paging would prove nothing", tc.name)
		}
		var got []json.RawMessage
		for page := 1; ; page++ {
			p := fx.v4Filter(t, fmt.Sprintf(`{"StartTime":%d,"EndTime":%d,"Page":%d%s}`, t0, nowTs, page, tc.body))
			if p.TotalNum != len(want) {
				t.Fatalf("%s page %d: TotalNum %d, want %d", tc.name, page, p.TotalNum, len(want))
			}
			if p.Page == 0 {
				if len(p.CallRecordList) != 0 {
					t.Fatalf("%s: Page 0 with records", tc.name)
				}
				break
			}
			if p.Page != page || len(p.CallRecordList) > query.V4DefaultPerPage || len(p.CallRecordList) == 0 {
				t.Fatalf("%s: Page %d with %d records, asked for page %d", tc.name, p.Page, len(p.CallRecordList), page)
			}
			got = append(got, p.CallRecordList...)
			if page > len(want)+1 {
				t.Fatalf("%s: paging does not end", tc.name)
			}
		}
		checkV4List(t, got, want)
	}
}

// v4FieldErrors: bad bodies are 60003, bad fields 101002.
func v4FieldErrors(t *testing.T, fx *fixture) {
	for _, tc := range []struct {
		path, body string
		code       int
	}{
		{v4ByCallID, ``, query.V4CodeJSON},
		{v4ByCallID, `{"CallId"`, query.V4CodeJSON},
		{v4ByCallID, `[]`, query.V4CodeJSON},
		{v4ByCallID, `{"CallId":false}`, query.V4CodeJSON},
		{v4ByCallID, `{}`, query.V4CodeParams},
		{v4ByCallID, `{"callId":"x"}`, query.V4CodeParams}, // v4 names are PascalCase
		{v4ByCallID, fmt.Sprintf(`{"CallId":"%0257d"}`, 0), query.V4CodeParams},
		{v4ByFilter, ``, query.V4CodeJSON},
		{v4ByFilter, `{"StartTime":"today"}`, query.V4CodeJSON},
		{v4ByFilter, `{"NumberPerPage":1.5}`, query.V4CodeJSON},
		{v4ByFilter, `{"CallType":[]}`, query.V4CodeJSON},
		{v4ByFilter, fmt.Sprintf(`{"StartTime":%d,"EndTime":%d}`, nowTs, nowTs-1), query.V4CodeParams},
		{v4ByFilter, fmt.Sprintf(`{"StartTime":%d,"EndTime":%d}`, nowTs-query.V1MaxSpan-1, nowTs), query.V4CodeParams},
		{v4ByFilter, `{"StartTime":-1}`, query.V4CodeParams},
		{v4ByFilter, `{"EndTime":99999999999}`, query.V4CodeParams},
		{v4ByFilter, `{"CallResult":"Finished"}`, query.V4CodeParams},
		{v4ByFilter, `{"CallType":"Conference"}`, query.V4CodeParams},
		{v4ByFilter, `{"NumberPerPage":0}`, query.V4CodeParams},
		{v4ByFilter, `{"NumberPerPage":1001}`, query.V4CodeParams},
		{v4ByFilter, `{"Page":0}`, query.V4CodeParams},
		{v4ByFilter, `{"Page":1001}`, query.V4CodeParams}, // 1001 × 10 > 10000
		{v4ByFilter, `{"Page":4611686018427387904,"NumberPerPage":4}`, query.V4CodeParams},
	} {
		r := v4Call(t, fx.h, fx.adminA(), tc.path, tc.body)
		if r.ErrorCode != tc.code {
			t.Fatalf("%s %.80s: ErrorCode %d (%s), want %d", tc.path, tc.body, r.ErrorCode, r.ErrorInfo, tc.code)
		}
	}
	// Past the end is not an error: Page 0 and no records.
	p := fx.v4Filter(t, `{"Page":1000}`)
	if p.Page != 0 || len(p.CallRecordList) != 0 || p.TotalNum == 0 {
		t.Fatalf("past the end: %+v", p)
	}
}
