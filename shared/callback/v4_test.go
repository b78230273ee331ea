package callback_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/callback"
)

type v4Fixture struct {
	File     string            `json:"file"`
	Query    map[string]string `json:"query"`
	Scenario string            `json:"scenario"`
}

func v4Fixtures(t testing.TB) []v4Fixture {
	t.Helper()
	dir := filepath.Join("..", "..", "events", "tencent", "v4")
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx []v4Fixture
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func v4Body(t testing.TB, f v4Fixture) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "tencent", "v4", f.File))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func values(m map[string]string) url.Values {
	q := url.Values{}
	for k, v := range m {
		q.Set(k, v)
	}
	return q
}

// TestV4Fixtures: every v4 fixture (the three documented examples and two scenarios)
// parses, round-trips through Render, and says what it should.
func TestV4Fixtures(t *testing.T) {
	for _, f := range v4Fixtures(t) {
		cb, err := callback.Parse(values(f.Query), v4Body(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f.File, err)
		}
		if !cb.Command.IsV4() || cb.V4 == nil || cb.CallID == "" || cb.UserID == "" || cb.V4.EventTimeMs < 1e11 || cb.EventTime != cb.V4.EventTimeMs/1000 {
			t.Fatalf("%s: %+v %+v", f.File, cb, cb.V4)
		}
		q, body := cb.Render()
		back, err := callback.Parse(q, body)
		if err != nil || !reflect.DeepEqual(back, cb) || back.Key() != cb.Key() {
			t.Fatalf("%s: Render round trip: %v", f.File, err)
		}
	}
	// The documented examples in detail.
	q := url.Values{"SdkAppid": {"8888888"}, "CallbackCommand": {"Call.CallbackAfterStartCall"}, "contenttype": {"json"}}
	start, err := callback.Parse(q, v4Body(t, v4Fixture{File: "doc-Call.CallbackAfterStartCall.json"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []callback.V4Member{{Account: "144115212830834855", Status: callback.V4Calling}, {Account: "144115212948889925", Status: callback.V4Waiting}}
	if !reflect.DeepEqual(start.V4.Users, want) || start.UserID != "144115212830834855" || start.Role != callback.RoleCaller ||
		start.MediaType != callback.MediaAudio || start.V4.RoomIDType != 1 || start.V4.EventTimeMs != 1740464128807 || start.TotalNum != 2 {
		t.Fatalf("start example: %+v %+v", start, start.V4)
	}
	q.Set("CallbackCommand", "Call.CallbackAfterEndCall")
	end, err := callback.Parse(q, v4Body(t, v4Fixture{File: "doc-Call.CallbackAfterEndCall.json"}))
	if err != nil {
		t.Fatal(err)
	}
	if end.CallResult != callback.ResultNotAnswer || end.CallType != callback.CallTypeSingle || end.AcceptTs != 0 || end.StartCallTs != 1741231146 ||
		end.EndTs != 1741231296 || end.V4.Record.Caller != "10001" || !reflect.DeepEqual(end.V4.Record.Callees, []string{"10001", "user2"}) || end.TotalNum != 2 {
		t.Fatalf("end example: %+v %+v", end, end.V4.Record)
	}
	q.Set("CallbackCommand", "Call.CallbackAfterMemberChanged")
	mc, err := callback.Parse(q, v4Body(t, v4Fixture{File: "doc-Call.CallbackAfterMemberChanged.json"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mc.V4.Changed, []callback.V4Change{{Account: "user2", Action: callback.V4Accept}}) || mc.UserID != "user2" {
		t.Fatalf("member example: %+v", mc.V4)
	}
}

// TestV4DocumentationTextIsNotJSON: Tencent's pages print the end-call and member-changed
// examples with a missing comma (and an inline comment); as printed they are refused
// as malformed, never half-parsed.
func TestV4DocumentationTextIsNotJSON(t *testing.T) {
	for cmd, text := range map[string]string{
		"Call.CallbackAfterEndCall":       `{"CallbackCommand":"Call.CallbackAfterEndCall","CallRecord": {"CallId": "055662e1-bc8a-469c-a334-1126c8c17d58","Caller_Account": "10001","MediaType": "Audio","CallType": "SingleCall","StartTime": 1741231146,"EndTime": 1741231296,"AcceptTime": 0,"CallResult": "NotAnswer","CalleeList_Account": ["10001", "user2"],"RoomId": "roomid-1434","RoomIdType": 2}"EventTime":1703589922780}`,
		"Call.CallbackAfterMemberChanged": `{"CallbackCommand":"Call.CallbackAfterMemberChanged","CallId":"055662e1-bc8a-469c-a334-1126c8c17d58","UserList":[{"User_Account":"user1","Status":"Calling"},{"User_Account":"user2","Status":"Calling"}],"ChangedUserList":[{"User_Account":"user2","ActionType":"Answer" // Answer: Answer;}]"EventTime":1740464128807}`,
	} {
		_, err := callback.Parse(url.Values{"SdkAppid": {"8888888"}, "CallbackCommand": {cmd}}, []byte(text))
		if !errors.Is(err, callback.ErrMalformed) {
			t.Errorf("%s as printed: err %v, want ErrMalformed", cmd, err)
		}
	}
}

func TestV4Spellings(t *testing.T) {
	for s, want := range map[string]callback.V4Action{
		"Accept": callback.V4Accept, "Answer": callback.V4Accept, "Reject": callback.V4Reject, "NotAnswer": callback.V4NotAnswer,
		"Hangup": callback.V4Hangup, "HangUp": callback.V4Hangup, "Hang Up": callback.V4Hangup, "Join": callback.V4Join,
		"Offline": callback.V4Offline, "Invite": callback.V4Invite, "Invited": callback.V4Invite, "Cancel_Invite": callback.V4CancelInvite,
		"Canncel_Invite": callback.V4CancelInvite, "cancelinvite": callback.V4CancelInvite,
	} {
		if got, ok := callback.ParseV4Action(s); !ok || got != want {
			t.Errorf("ParseV4Action(%q) = %v %v, want %v", s, got, ok, want)
		}
	}
	if _, ok := callback.ParseV4Action("Teleport"); ok {
		t.Error("unknown action accepted")
	}
	for _, s := range []string{"SingleCall", "singlecall", "MultiCall"} {
		if _, ok := callback.ParseCallType(s); !ok {
			t.Errorf("%s refused", s)
		}
	}
}

// TestV4Errors: each broken v4 callback is refused with the kind of error and the field
// it names.
func TestV4Errors(t *testing.T) {
	start := `{"CallbackCommand":"Call.CallbackAfterStartCall","CallInfo":{"CallId":"c1","CallMediaType":"Video","RoomId":"r","RoomIdType":2},"UserList":[{"User_Account":"a","Status":"Calling"},{"User_Account":"b","Status":"Waiting"}],"EventTime":1795342800120}`
	end := `{"CallbackCommand":"Call.CallbackAfterEndCall","CallRecord":{"CallId":"c1","Caller_Account":"a","MediaType":"Video","CallType":"SingleCall","StartTime":1795342800,"EndTime":1795343229,"AcceptTime":1795342806,"CallResult":"NormalEnd","CalleeList_Account":["a","b"],"RoomId":"r","RoomIdType":2},"EventTime":1795343230415}`
	member := `{"CallbackCommand":"Call.CallbackAfterMemberChanged","CallId":"c1","UserList":[{"User_Account":"a","Status":"Calling"}],"ChangedUserList":[{"User_Account":"b","ActionType":"Hangup"}],"EventTime":1795343229870}`
	q := func(cmd string) url.Values {
		return url.Values{"SdkAppid": {"1400000001"}, "CallbackCommand": {cmd}, "contenttype": {"json"}}
	}
	replace := func(body, old, new string) string {
		if !strings.Contains(body, old) {
			t.Fatalf("test setup: %q not in %s", old, body)
		}
		return strings.Replace(body, old, new, 1)
	}
	cases := []struct {
		name, cmd, body, field string
		malformed              bool
	}{
		{"unknown command", "Call.CallbackAfterNothing", start, "CallbackCommand", false},
		{"v1 word as v4 command", "caller_start_call", start, "CallbackCommand", false},
		{"body command differs", "Call.CallbackAfterEndCall", start, "CallbackCommand", false},
		{"EventTime in seconds", "Call.CallbackAfterStartCall", replace(start, "1795342800120", "1795342800"), "EventTime", false},
		{"EventTime missing", "Call.CallbackAfterStartCall", replace(start, `,"EventTime":1795342800120`, ""), "EventTime", false},
		{"EventTime string", "Call.CallbackAfterStartCall", replace(start, "1795342800120", `"soon"`), "EventTime", false},
		{"CallInfo missing", "Call.CallbackAfterStartCall", replace(start, `"CallInfo":{"CallId":"c1","CallMediaType":"Video","RoomId":"r","RoomIdType":2},`, ""), "CallInfo", false},
		{"CallInfo not an object", "Call.CallbackAfterStartCall", replace(start, `{"CallId":"c1","CallMediaType":"Video","RoomId":"r","RoomIdType":2}`, `[]`), "CallInfo", false},
		{"CallId missing", "Call.CallbackAfterStartCall", replace(start, `"CallId":"c1",`, ""), "CallInfo.CallId", false},
		{"media type", "Call.CallbackAfterStartCall", replace(start, `"Video"`, `"Hologram"`), "CallInfo.CallMediaType", false},
		{"room id type", "Call.CallbackAfterStartCall", replace(start, `"RoomIdType":2`, `"RoomIdType":3`), "CallInfo.RoomIdType", false},
		{"UserList missing", "Call.CallbackAfterStartCall", replace(start, `"UserList":[{"User_Account":"a","Status":"Calling"},{"User_Account":"b","Status":"Waiting"}],`, ""), "UserList", false},
		{"UserList empty", "Call.CallbackAfterStartCall", replace(start, `[{"User_Account":"a","Status":"Calling"},{"User_Account":"b","Status":"Waiting"}]`, `[]`), "UserList", false},
		{"account missing", "Call.CallbackAfterStartCall", replace(start, `{"User_Account":"b","Status":"Waiting"}`, `{"Status":"Waiting"}`), "UserList[1].User_Account", false},
		{"account object", "Call.CallbackAfterStartCall", replace(start, `"User_Account":"b"`, `"User_Account":{}`), "UserList[1].User_Account", false},
		{"status", "Call.CallbackAfterStartCall", replace(start, `"Waiting"`, `"Dancing"`), "UserList[1].Status", false},
		{"CallRecord missing", "Call.CallbackAfterEndCall", replace(end, `"CallRecord":`, `"Record":`), "CallRecord", false},
		{"result", "Call.CallbackAfterEndCall", replace(end, `"NormalEnd"`, `"Exploded"`), "CallRecord.CallResult", false},
		{"result missing", "Call.CallbackAfterEndCall", replace(end, `"CallResult":"NormalEnd",`, ""), "CallRecord.CallResult", false},
		{"call type", "Call.CallbackAfterEndCall", replace(end, `"SingleCall"`, `"TripleCall"`), "CallRecord.CallType", false},
		{"start time in ms", "Call.CallbackAfterEndCall", replace(end, `"StartTime":1795342800`, `"StartTime":1795342800000`), "CallRecord.StartTime", false},
		{"callee list not an array", "Call.CallbackAfterEndCall", replace(end, `["a","b"]`, `"a,b"`), "CallRecord.CalleeList_Account", false},
		{"callee entry", "Call.CallbackAfterEndCall", replace(end, `["a","b"]`, `["a",true]`), "CallRecord.CalleeList_Account[1]", false},
		{"no caller, no callees", "Call.CallbackAfterEndCall", replace(replace(end, `"Caller_Account":"a",`, ""), `["a","b"]`, `[]`), "CallRecord.Caller_Account", false},
		{"member CallId", "Call.CallbackAfterMemberChanged", replace(member, `"CallId":"c1",`, ""), "CallId", false},
		{"changed list missing", "Call.CallbackAfterMemberChanged", replace(member, `,"ChangedUserList":[{"User_Account":"b","ActionType":"Hangup"}]`, ""), "ChangedUserList", false},
		{"action", "Call.CallbackAfterMemberChanged", replace(member, `"Hangup"`, `"Teleport"`), "ChangedUserList[0].ActionType", false},
		{"action type", "Call.CallbackAfterMemberChanged", replace(member, `"Hangup"`, `7`), "ChangedUserList[0].ActionType", false},
		{"not JSON", "Call.CallbackAfterMemberChanged", `{"CallId":`, "", true},
		{"not an object", "Call.CallbackAfterMemberChanged", `[1,2]`, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callback.Parse(q(tc.cmd), []byte(tc.body))
			want := callback.ErrInvalid
			if tc.malformed {
				want = callback.ErrMalformed
			}
			if !errors.Is(err, want) {
				t.Fatalf("err %v, want %v", err, want)
			}
			var fe *callback.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %q names field %q, want %q", err, fe.Field, tc.field)
			}
		})
	}
	// The app id parameter is required under its v4 name.
	_, err := callback.Parse(url.Values{"CallbackCommand": {"Call.CallbackAfterMemberChanged"}}, []byte(member))
	var fe *callback.FieldError
	if !errors.As(err, &fe) || fe.Field != "SdkAppid" {
		t.Fatalf("missing SdkAppid: %v", err)
	}
}

// FuzzParseV4 runs the v4 parser on arbitrary bodies for each command (seeds: the v4
// fixtures): it never panics, and whatever it accepts round-trips through Render.
func FuzzParseV4(f *testing.F) {
	for _, fx := range v4Fixtures(f) {
		f.Add(fx.Query["CallbackCommand"], v4Body(f, fx))
	}
	f.Add("Call.CallbackAfterEndCall", []byte(`{"CallRecord":{"CallId":1,"CallResult":"offline","Caller_Account":2},"EventTime":1795343230415}`))
	f.Fuzz(func(t *testing.T, cmd string, body []byte) {
		q := url.Values{"SdkAppid": {"1400000001"}, "CallbackCommand": {cmd}}
		cb, err := callback.Parse(q, body)
		if err != nil {
			if errors.Is(err, callback.ErrInvalid) == errors.Is(err, callback.ErrMalformed) || err.Error() == "" {
				t.Fatalf("error %v is not exactly one of ErrInvalid/ErrMalformed", err)
			}
			return
		}
		if cb.V4 == nil || cb.CallID == "" || cb.UserID == "" || cb.V4.EventTimeMs < 1e11 {
			t.Fatalf("accepted an incomplete callback: %+v", cb)
		}
		rq, rb := cb.Render()
		back, err := callback.Parse(rq, rb)
		if err != nil || back.Key() != cb.Key() {
			t.Fatalf("Render round trip: %v", err)
		}
	})
}
