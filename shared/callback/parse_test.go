package callback_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/callback"
)

// want is the canonical reading of one fixture, written out by hand from events/README.md.
type want struct {
	command   callback.Command
	role      callback.Role
	event     string
	result    callback.Result
	eventTime int64
}

var fixtureWant = map[string]want{
	"caller_start_call.json":       {callback.CmdCallerStartCall, callback.RoleCaller, "start_call", callback.ResultNone, 1795342500},
	"callee_receive_call.json":     {callback.CmdCalleeReceiveCall, callback.RoleCallee, "receive_call", callback.ResultNone, 1795342501},
	"callee_accept_call.json":      {callback.CmdCalleeAcceptCall, callback.RoleCallee, "accept_call", callback.ResultNone, 1795342508},
	"caller_call_accepted.json":    {callback.CmdCallerCallAccepted, callback.RoleCaller, "call_accepted", callback.ResultNone, 1795342509},
	"caller_call_end.json":         {callback.CmdCallerCallEnd, callback.RoleCaller, "call_end", callback.ResultNormalEnd, 1795342821},
	"callee_call_end.json":         {callback.CmdCalleeCallEnd, callback.RoleCallee, "call_end", callback.ResultNormalEnd, 1795342822},
	"normal_end.json":              {callback.CmdNormalEnd, callback.RoleCaller, "", callback.ResultNormalEnd, 1795342822},
	"callee_ignore_call.json":      {callback.CmdCalleeIgnoreCall, callback.RoleCallee, "ignore_call", callback.ResultCallBusy, 1795342662},
	"caller_call_busy.json":        {callback.CmdCallerCallBusy, callback.RoleCaller, "call_busy", callback.ResultCallBusy, 1795342663},
	"call_busy.json":               {callback.CmdCallBusy, callback.RoleCallee, "", callback.ResultCallBusy, 1795342663},
	"callee_reject_call.json":      {callback.CmdCalleeRejectCall, callback.RoleCallee, "reject_call", callback.ResultReject, 1795345336},
	"caller_call_rejected.json":    {callback.CmdCallerCallRejected, callback.RoleCaller, "call_rejected", callback.ResultReject, 1795345337},
	"reject.json":                  {callback.CmdReject, callback.RoleCallee, "", callback.ResultReject, 1795345337},
	"callee_not_answer_call.json":  {callback.CmdCalleeNotAnswerCall, callback.RoleCallee, "not_answer_call", callback.ResultNotAnswer, 1795350675},
	"caller_call_missed.json":      {callback.CmdCallerCallMissed, callback.RoleCaller, "call_missed", callback.ResultNotAnswer, 1795350675},
	"not_answer.json":              {callback.CmdNotAnswer, callback.RoleCaller, "", callback.ResultNotAnswer, 1795350676},
	"caller_cancel_call.json":      {callback.CmdCallerCancelCall, callback.RoleCaller, "cancel_call", callback.ResultCancel, 1795356509},
	"callee_call_canceled.json":    {callback.CmdCalleeCallCanceled, callback.RoleCallee, "call_canceled", callback.ResultCancel, 1795356510},
	"cancel.json":                  {callback.CmdCancel, callback.RoleCaller, "", callback.ResultCancel, 1795356510},
	"caller_call_interrupted.json": {callback.CmdCallerCallInterrupted, callback.RoleCaller, "call_interrupted", callback.ResultInterrupt, 1795365796},
	"callee_call_interrupted.json": {callback.CmdCalleeCallInterrupted, callback.RoleCallee, "call_interrupted", callback.ResultInterrupt, 1795365798},
	"interrupt.json":               {callback.CmdInterrupt, callback.RoleCallee, "", callback.ResultInterrupt, 1795365798},
	"caller_call_failed.json":      {callback.CmdCallerCallFailed, callback.RoleCaller, "call_failed", callback.ResultNone, 1795370713},
	"invite_user.json":             {callback.CmdInviteUser, callback.RoleCaller, "invite_user", callback.ResultNone, 1795377795},
	"join_in_group_call.json":      {callback.CmdJoinInGroupCall, callback.RoleCallee, "join_in_group_call", callback.ResultNone, 1795377940},
	// Tencent's published examples, verbatim: EventTime 170485688 is missing a digit in
	// the docs but is valid Unix seconds (1975), so it is accepted as sent.
	"doc-status-call_end.json":         {callback.CmdCallEnd, callback.RoleCaller, "", callback.ResultNormalEnd, 170485688},
	"doc-event-caller_start_call.json": {callback.CmdCallerStartCall, callback.RoleCaller, "start_call", callback.ResultNone, 1704695566},
}

// wire is an independent decoding of a fixture body, to compare the parser against.
type wire struct {
	UserId, RoomId, MediaType, CallType, CallId, Role, Event, CallResult string
	TotalNum                                                             int
	EventTime, StartCallTs, AcceptTs, EndTs                              int64
}

func TestParseFixtures(t *testing.T) {
	fs := loadFixtures(t)
	if len(fs) != 27 {
		t.Fatalf("index.json lists %d bodies, want 27 (25 commands + 2 doc examples)", len(fs))
	}
	seen := map[callback.Command]bool{}
	for _, f := range fs {
		t.Run(f.File, func(t *testing.T) {
			w, ok := fixtureWant[f.File]
			if !ok {
				t.Fatalf("no expectation for fixture %s: add it to fixtureWant", f.File)
			}
			cb, err := callback.Parse(f.Values(), f.Body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			seen[cb.Command] = true
			var raw wire
			if err := json.Unmarshal(f.Body, &raw); err != nil {
				t.Fatalf("fixture is not JSON: %v", err)
			}

			if cb.Command != w.command || cb.Command.String() != f.Query["command"] {
				t.Errorf("Command = %v (%q), want %v (query %q)", cb.Command, cb.Command.String(), w.command, f.Query["command"])
			}
			if cb.Role != w.role {
				t.Errorf("Role = %q, want %q", cb.Role, w.role)
			}
			if cb.Event != w.event {
				t.Errorf("Event = %q, want %q", cb.Event, w.event)
			}
			if cb.CallResult != w.result {
				t.Errorf("CallResult = %q, want %q", cb.CallResult, w.result)
			}
			if cb.EventTime != w.eventTime {
				t.Errorf("EventTime = %d, want %d", cb.EventTime, w.eventTime)
			}
			if cb.IsStatus() != (w.event == "") {
				t.Errorf("IsStatus = %v for a callback with Event %q", cb.IsStatus(), w.event)
			}
			if got := cb.SDKAppID; (f.Query["sdkappid"] == "8888888" && got != 8888888) || (f.Query["sdkappid"] == "1400000001" && got != 1400000001) {
				t.Errorf("SDKAppID = %d, query %s", got, f.Query["sdkappid"])
			}
			if cb.ClientIP != f.Query["clientip"] {
				t.Errorf("ClientIP = %q, want %q", cb.ClientIP, f.Query["clientip"])
			}
			// The fixtures use the documented spellings; they must come back unchanged.
			if cb.OptPlatform != f.Query["optplatform"] {
				t.Errorf("OptPlatform = %q, want %q", cb.OptPlatform, f.Query["optplatform"])
			}
			if cb.CallID != raw.CallId || cb.UserID != raw.UserId || cb.RoomID != raw.RoomId {
				t.Errorf("ids = %q/%q/%q, want %q/%q/%q", cb.CallID, cb.UserID, cb.RoomID, raw.CallId, raw.UserId, raw.RoomId)
			}
			if cb.TotalNum != raw.TotalNum {
				t.Errorf("TotalNum = %d, want %d", cb.TotalNum, raw.TotalNum)
			}
			if cb.MediaType.String() != raw.MediaType || cb.CallType.String() != raw.CallType {
				t.Errorf("MediaType/CallType = %q/%q, want %q/%q", cb.MediaType, cb.CallType, raw.MediaType, raw.CallType)
			}
			if cb.StartCallTs != raw.StartCallTs || cb.AcceptTs != raw.AcceptTs || cb.EndTs != raw.EndTs {
				t.Errorf("StartCallTs/AcceptTs/EndTs = %d/%d/%d, want %d/%d/%d",
					cb.StartCallTs, cb.AcceptTs, cb.EndTs, raw.StartCallTs, raw.AcceptTs, raw.EndTs)
			}
		})
	}
	t.Run("every command word has a fixture", func(t *testing.T) {
		for _, c := range callback.Commands() {
			if !seen[c] {
				t.Errorf("no fixture parses to command %s", c)
			}
		}
	})
}

func TestParseDocExamples(t *testing.T) {
	read := func(name string) []byte {
		for _, f := range loadFixtures(t) {
			if f.File == name {
				return f.Body
			}
		}
		t.Fatalf("fixture %s not in index.json", name)
		return nil
	}
	t.Run("status call_end", func(t *testing.T) {
		q := url.Values{"sdkappid": {"8888888"}, "command": {"call_end"}, "contenttype": {"json"}, "clientip": {"127.0.0.1"}, "optplatform": {"iOS"}}
		cb, err := callback.Parse(q, read("doc-status-call_end.json"))
		if err != nil {
			t.Fatalf("Tencent's own status example must be accepted: %v", err)
		}
		if cb.Command != callback.CmdCallEnd || !cb.IsStatus() || cb.CallResult != callback.ResultNormalEnd {
			t.Errorf("got command %s status=%v result %s, want call_end status normal_end", cb.Command, cb.IsStatus(), cb.CallResult)
		}
		if cb.EventTime != 170485688 || cb.StartCallTs != 1704856873 || cb.AcceptTs != 1704856876 || cb.EndTs != 1704856885 {
			t.Errorf("times = %d %d %d %d", cb.EventTime, cb.StartCallTs, cb.AcceptTs, cb.EndTs)
		}
		if cb.UserID != "Alice" || cb.RoomID != "Alice's Room" || cb.CallID != "aheahfo-eqwnknoihfsd-qweqf" || cb.SDKAppID != 8888888 {
			t.Errorf("ids = %+v", cb)
		}
	})
	t.Run("event caller_start_call", func(t *testing.T) {
		q := url.Values{"sdkappid": {"8888888"}, "command": {"caller_start_call"}, "contenttype": {"json"}, "clientip": {"127.0.0.1"}, "optplatform": {"iOS"}}
		cb, err := callback.Parse(q, read("doc-event-caller_start_call.json"))
		if err != nil {
			t.Fatalf("Tencent's own event example must be accepted: %v", err)
		}
		if cb.Event != "start_call" || cb.Role != callback.RoleCaller || cb.CallResult != callback.ResultNone || cb.EventTime != 1704695566 {
			t.Errorf("got %+v", cb)
		}
	})
}

// --- minimal bodies ------------------------------------------------------------------

const (
	testAppID = "1400000001"
	testCall  = "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3"
	testTime  = 1795342500
)

func query(command string, kv ...string) url.Values {
	q := url.Values{"sdkappid": {testAppID}, "command": {command}, "contenttype": {"json"}, "clientip": {"203.0.113.7"}, "optplatform": {"iOS"}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// body builds a JSON object from the base fields of a caller_start_call callback,
// with each set overriding (raw JSON value) or, when the value is "", deleting a key.
func body(set map[string]string) []byte {
	fields := map[string]json.RawMessage{
		"UserId": json.RawMessage(`"alice"`), "RoomId": json.RawMessage(`"795425564"`), "TotalNum": json.RawMessage(`2`),
		"MediaType": json.RawMessage(`"video"`), "CallType": json.RawMessage(`"single"`), "CallId": json.RawMessage(`"` + testCall + `"`),
		"Role": json.RawMessage(`"caller"`), "Event": json.RawMessage(`"start_call"`), "CallResult": json.RawMessage(`""`),
		"EventTime": json.RawMessage(`1795342500`),
	}
	for k, v := range set {
		if v == "" {
			delete(fields, k)
		} else {
			fields[k] = json.RawMessage(v)
		}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return b
}

// minimal is the smallest valid body: ids and time only.
func minimal(extra ...string) []byte {
	s := `{"CallId":"c-1","UserId":"u-1","EventTime":1795342500`
	for _, e := range extra {
		s += "," + e
	}
	return []byte(s + "}")
}

func mustParse(t *testing.T, q url.Values, b []byte) callback.Callback {
	t.Helper()
	cb, err := callback.Parse(q, b)
	if err != nil {
		t.Fatalf("Parse(%s, %s): %v", q.Encode(), b, err)
	}
	return cb
}

func TestParseEveryCommandMinimal(t *testing.T) {
	for _, c := range callback.Commands() {
		t.Run(c.String(), func(t *testing.T) {
			b := minimal()
			if c == callback.CmdCallEnd {
				b = minimal(`"CallResult":"normal_end"`)
			}
			cb := mustParse(t, query(c.String()), b)
			if cb.Command != c {
				t.Fatalf("Command = %s, want %s", cb.Command, c)
			}
			if cb.CallID != "c-1" || cb.UserID != "u-1" || cb.EventTime != 1795342500 {
				t.Errorf("ids/time = %q %q %d", cb.CallID, cb.UserID, cb.EventTime)
			}
			if c.IsStatus() {
				want := c.StatusResult()
				if c == callback.CmdCallEnd {
					want = callback.ResultNormalEnd
				}
				if cb.CallResult != want || cb.CallResult == callback.ResultNone {
					t.Errorf("status CallResult = %q, want %q", cb.CallResult, want)
				}
				if cb.Event != "" {
					t.Errorf("status callback has Event %q", cb.Event)
				}
				return
			}
			if !c.IsEvent() {
				t.Fatalf("%s is neither status nor event", c)
			}
			if cb.Event != c.EventName() || cb.Event == "" {
				t.Errorf("implied Event = %q, want %q", cb.Event, c.EventName())
			}
			if !strings.HasSuffix(c.String(), cb.Event) {
				t.Errorf("Event %q is not the command %q without its prefix", cb.Event, c)
			}
			if cb.Role != c.Side() {
				t.Errorf("Role = %q, want the prefix's %q", cb.Role, c.Side())
			}
		})
	}
	if n := len(callback.Commands()); n != 26 {
		t.Errorf("Commands() has %d words, want 6 status + call_end + 19 events = 26", n)
	}
}

func TestParseTolerance(t *testing.T) {
	cases := []struct {
		name  string
		q     url.Values
		body  []byte
		check func(t *testing.T, cb callback.Callback)
	}{
		{"MediaType Audio", query("caller_start_call"), body(map[string]string{"MediaType": `"Audio"`}), func(t *testing.T, cb callback.Callback) {
			if cb.MediaType != callback.MediaAudio || cb.MediaType.String() != "audio" {
				t.Errorf("MediaType = %q", cb.MediaType)
			}
		}},
		{"MediaType VIDEO", query("caller_start_call"), body(map[string]string{"MediaType": `"VIDEO"`}), func(t *testing.T, cb callback.Callback) {
			if cb.MediaType != callback.MediaVideo {
				t.Errorf("MediaType = %q", cb.MediaType)
			}
		}},
		{"CallResult Normal_end on normal_end", query("normal_end"), minimal(`"CallResult":"Normal_end"`), func(t *testing.T, cb callback.Callback) {
			if cb.CallResult != callback.ResultNormalEnd || cb.CallResult.String() != "normal_end" {
				t.Errorf("CallResult = %q", cb.CallResult)
			}
		}},
		{"CallResult NormalEnd (v4) on call_end", query("call_end"), minimal(`"CallResult":"NormalEnd"`), func(t *testing.T, cb callback.Callback) {
			if cb.CallResult != callback.ResultNormalEnd {
				t.Errorf("CallResult = %q", cb.CallResult)
			}
		}},
		{"CallResult NotAnswer on not_answer", query("not_answer"), minimal(`"CallResult":"NotAnswer"`), func(t *testing.T, cb callback.Callback) {
			if cb.CallResult != callback.ResultNotAnswer {
				t.Errorf("CallResult = %q", cb.CallResult)
			}
		}},
		{"Role Caller", query("invite_user"), minimal(`"Role":"Caller"`), func(t *testing.T, cb callback.Callback) {
			if cb.Role != callback.RoleCaller {
				t.Errorf("Role = %q", cb.Role)
			}
		}},
		{"Role CALLEE agrees with callee_ prefix", query("callee_accept_call"), minimal(`"Role":"CALLEE"`), func(t *testing.T, cb callback.Callback) {
			if cb.Role != callback.RoleCallee {
				t.Errorf("Role = %q", cb.Role)
			}
		}},
		{"CallType SingleCall", query("caller_start_call"), body(map[string]string{"CallType": `"SingleCall"`}), func(t *testing.T, cb callback.Callback) {
			if cb.CallType != callback.CallTypeSingle || cb.CallType.String() != "single" {
				t.Errorf("CallType = %q", cb.CallType)
			}
		}},
		{"CallType MultiCall", query("caller_start_call"), body(map[string]string{"CallType": `"MultiCall"`}), func(t *testing.T, cb callback.Callback) {
			if cb.CallType != callback.CallTypeGroup || cb.CallType.String() != "group" {
				t.Errorf("CallType = %q", cb.CallType)
			}
		}},
		{"command in upper case", query("CALLER_Start_Call"), body(nil), func(t *testing.T, cb callback.Callback) {
			if cb.Command != callback.CmdCallerStartCall || cb.Command.String() != "caller_start_call" {
				t.Errorf("Command = %q", cb.Command)
			}
		}},
		{"Event in other case", query("caller_start_call"), body(map[string]string{"Event": `"Start_Call"`}), func(t *testing.T, cb callback.Callback) {
			if cb.Event != "start_call" {
				t.Errorf("Event = %q, want canonical start_call", cb.Event)
			}
		}},
		{"Event omitted is implied", query("callee_reject_call"), body(map[string]string{"Event": "", "Role": ""}), func(t *testing.T, cb callback.Callback) {
			if cb.Event != "reject_call" || cb.Role != callback.RoleCallee {
				t.Errorf("Event/Role = %q/%q", cb.Event, cb.Role)
			}
		}},
		{"Event null on status", query("reject"), minimal(`"Event":null`), func(t *testing.T, cb callback.Callback) {
			if cb.Event != "" || cb.CallResult != callback.ResultReject {
				t.Errorf("Event/CallResult = %q/%q", cb.Event, cb.CallResult)
			}
		}},
		{"numeric CallId keeps every digit", query("caller_start_call"), body(map[string]string{"CallId": `12345678901234567`}), func(t *testing.T, cb callback.Callback) {
			// 12345678901234567 is not representable as float64 (it would become …568).
			if cb.CallID != "12345678901234567" {
				t.Errorf("CallID = %q", cb.CallID)
			}
		}},
		{"numeric CallId of 20 digits (uint64)", query("caller_start_call"), body(map[string]string{"CallId": `18446744073709551615`}), func(t *testing.T, cb callback.Callback) {
			if cb.CallID != "18446744073709551615" {
				t.Errorf("CallID = %q", cb.CallID)
			}
		}},
		{"numeric UserId and RoomId", query("caller_start_call"), body(map[string]string{"UserId": `10042`, "RoomId": `795425564`}), func(t *testing.T, cb callback.Callback) {
			if cb.UserID != "10042" || cb.RoomID != "795425564" {
				t.Errorf("UserID/RoomID = %q/%q", cb.UserID, cb.RoomID)
			}
		}},
		{"numeric strings for integer fields", query("normal_end"), minimal(`"TotalNum":"3"`, `"StartCallTs":"1795342400"`, `"AcceptTs":"1795342450"`, `"EndTs":"1795342499"`), func(t *testing.T, cb callback.Callback) {
			if cb.TotalNum != 3 || cb.StartCallTs != 1795342400 || cb.AcceptTs != 1795342450 || cb.EndTs != 1795342499 {
				t.Errorf("got %d %d %d %d", cb.TotalNum, cb.StartCallTs, cb.AcceptTs, cb.EndTs)
			}
		}},
		{"EventTime as a numeric string", query("caller_start_call"), body(map[string]string{"EventTime": `"1795342500"`}), func(t *testing.T, cb callback.Callback) {
			if cb.EventTime != 1795342500 {
				t.Errorf("EventTime = %d", cb.EventTime)
			}
		}},
		{"EventTime at the maximum", query("caller_start_call"), body(map[string]string{"EventTime": `9999999999`}), func(t *testing.T, cb callback.Callback) {
			if cb.EventTime != callback.MaxUnixSeconds {
				t.Errorf("EventTime = %d", cb.EventTime)
			}
		}},
		{"null optional fields", query("caller_start_call"), body(map[string]string{"RoomId": `null`, "TotalNum": `null`, "MediaType": `null`, "CallResult": `null`}), func(t *testing.T, cb callback.Callback) {
			if cb.RoomID != "" || cb.TotalNum != 0 || cb.MediaType != callback.MediaUnknown {
				t.Errorf("got %+v", cb)
			}
		}},
		{"unknown fields are ignored", query("caller_start_call"), body(map[string]string{"Future": `{"a":[1,2,{"b":null}]}`, "CallIdx": `"ignored"`, "Sign": `7`}), func(t *testing.T, cb callback.Callback) {
			if cb.UserID != "alice" || cb.CallID != testCall {
				t.Errorf("UserID/CallID = %q/%q", cb.UserID, cb.CallID)
			}
		}},
		{"surrounding whitespace", query("caller_start_call"), append(append([]byte(" \r\n\t"), body(nil)...), '\n'), func(t *testing.T, cb callback.Callback) {
			if cb.CallID != testCall {
				t.Errorf("CallID = %q", cb.CallID)
			}
		}},
		{"ids of exactly 256 bytes", query("caller_start_call"), body(map[string]string{"CallId": `"` + strings.Repeat("c", 256) + `"`, "UserId": `"` + strings.Repeat("é", 128) + `"`}), func(t *testing.T, cb callback.Callback) {
			if len(cb.CallID) != 256 || len(cb.UserID) != 256 {
				t.Errorf("lengths %d %d", len(cb.CallID), len(cb.UserID))
			}
		}},
		{"escaped and non-ASCII ids", query("caller_start_call"), body(map[string]string{"CallId": `"a\/b \u00e9"`, "UserId": `"张三"`}), func(t *testing.T, cb callback.Callback) {
			if cb.CallID != "a/b é" || cb.UserID != "张三" {
				t.Errorf("ids %q %q", cb.CallID, cb.UserID)
			}
		}},
		{"contenttype JSON in upper case", query("caller_start_call", "contenttype", "JSON"), body(nil), func(t *testing.T, cb callback.Callback) {}},
		{"contenttype absent", url.Values{"sdkappid": {testAppID}, "command": {"caller_start_call"}}, body(nil), func(t *testing.T, cb callback.Callback) {
			if cb.ClientIP != "" || cb.OptPlatform != "" {
				t.Errorf("ClientIP/OptPlatform = %q/%q", cb.ClientIP, cb.OptPlatform)
			}
		}},
		{"largest sdkappid", query("caller_start_call", "sdkappid", "18446744073709551615"), body(nil), func(t *testing.T, cb callback.Callback) {
			if cb.SDKAppID != 18446744073709551615 {
				t.Errorf("SDKAppID = %d", cb.SDKAppID)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustParse(t, tc.q, tc.body))
		})
	}
}

func TestOptPlatformCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"iOS": "iOS", "ios": "iOS", "IOS": "iOS",
		"android": "Android", "ANDROID": "Android",
		"web": "Web", "WEB": "Web",
		"miniprogram": "miniProgram", "MiniProgram": "miniProgram",
		"HarmonyOS": "HarmonyOS", // undocumented: kept as sent
		"":          "",
	} {
		cb := mustParse(t, query("caller_start_call", "optplatform", in), body(nil))
		if cb.OptPlatform != want {
			t.Errorf("optplatform %q → %q, want %q", in, cb.OptPlatform, want)
		}
	}
}

func TestParseErrorsAreFieldErrors(t *testing.T) {
	_, err := callback.Parse(query("caller_start_call"), body(map[string]string{"CallId": ""}))
	var fe *callback.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v is not a *FieldError", err, err)
	}
	if fe.Error() != "CallId: "+fe.Reason {
		t.Errorf("Error() = %q, want %q", fe.Error(), "CallId: "+fe.Reason)
	}
}
