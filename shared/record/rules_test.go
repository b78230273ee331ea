package record_test

import (
	"reflect"
	"testing"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
)

const app = 1400000001

// ev builds an event callback; role comes from the command prefix when it has one.
func ev(cmd, user string, t int64, mods ...func(*callback.Callback)) callback.Callback {
	c, ok := callback.ParseCommand(cmd)
	if !ok || !c.IsEvent() {
		panic("bad event command " + cmd)
	}
	cb := callback.Callback{SDKAppID: app, CallID: "c1", Command: c, UserID: user, Role: c.Side(), Event: c.EventName(), EventTime: t,
		CallType: callback.CallTypeSingle, MediaType: callback.MediaVideo, RoomID: "r1", TotalNum: 2}
	for _, m := range mods {
		m(&cb)
	}
	return cb
}

// st builds a status callback.
func st(result, user string, role callback.Role, t int64, mods ...func(*callback.Callback)) callback.Callback {
	res, ok := callback.ParseResult(result)
	if !ok {
		panic("bad result " + result)
	}
	cmd, _ := callback.ParseCommand(result)
	cb := callback.Callback{SDKAppID: app, CallID: "c1", Command: cmd, UserID: user, Role: role, CallResult: res, EventTime: t,
		CallType: callback.CallTypeSingle, MediaType: callback.MediaVideo, RoomID: "r1", TotalNum: 2}
	for _, m := range mods {
		m(&cb)
	}
	return cb
}

func group(cb *callback.Callback) { cb.CallType = callback.CallTypeGroup }
func audio(cb *callback.Callback) { cb.MediaType = callback.MediaAudio }
func room(r string) func(*callback.Callback) {
	return func(cb *callback.Callback) { cb.RoomID = r }
}
func total(n int) func(*callback.Callback) { return func(cb *callback.Callback) { cb.TotalNum = n } }
func times(s, a, e int64) func(*callback.Callback) {
	return func(cb *callback.Callback) { cb.StartCallTs, cb.AcceptTs, cb.EndTs = s, a, e }
}
func role(r callback.Role) func(*callback.Callback) {
	return func(cb *callback.Callback) { cb.Role = r }
}
func plat(p string) func(*callback.Callback) {
	return func(cb *callback.Callback) { cb.OptPlatform = p }
}

// TestRules checks each row of the README's derivation table on the smallest set of
// callbacks that exercises it, through both implementations.
func TestRules(t *testing.T) {
	callee := callback.RoleCallee
	caller := callback.RoleCaller
	cases := []struct {
		name  string
		cbs   []callback.Callback
		check func(t *testing.T, r record.Record)
	}{
		{"status timestamps win over events", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("callee_accept_call", "bob", 105), ev("callee_call_end", "bob", 160),
			st("normal_end", "alice", caller, 161, times(99, 104, 159)),
		}, func(t *testing.T, r record.Record) {
			eq(t, "startCallTs", r.StartCallTs, int64(99))
			eq(t, "acceptTs", r.AcceptTs, int64(104))
			eq(t, "endTs", r.EndTs, int64(159))
			eq(t, "durationSec", r.DurationSec, int64(55))
		}},
		{"without status: times from events", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("caller_call_accepted", "alice", 106), ev("callee_accept_call", "bob", 105),
			ev("caller_call_end", "alice", 160), ev("callee_call_end", "bob", 161),
		}, func(t *testing.T, r record.Record) {
			eq(t, "startCallTs", r.StartCallTs, int64(100))
			eq(t, "acceptTs", r.AcceptTs, int64(105))
			eq(t, "endTs", r.EndTs, int64(161))
			eq(t, "callResult", r.CallResult, "normal_end")
			eq(t, "status", r.Status, "ended")
		}},
		{"status result wins over events", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("callee_reject_call", "bob", 103), st("cancel", "alice", caller, 104),
		}, func(t *testing.T, r record.Record) { eq(t, "callResult", r.CallResult, "cancel") }},
		{"disagreeing statuses: rank decides", []callback.Callback{
			st("cancel", "alice", caller, 104), st("not_answer", "bob", callee, 103),
		}, func(t *testing.T, r record.Record) { eq(t, "callResult", r.CallResult, "not_answer") }},
		{"status without EndTs ends at its EventTime", []callback.Callback{
			ev("caller_start_call", "alice", 100), st("reject", "bob", callee, 107),
		}, func(t *testing.T, r record.Record) {
			eq(t, "endTs", r.EndTs, int64(107))
			eq(t, "acceptTs", r.AcceptTs, int64(0))
			eq(t, "durationSec", r.DurationSec, int64(0))
		}},
		{"callee_ignore_call alone means busy", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("callee_ignore_call", "bob", 101),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "call_busy")
			eq(t, "outcome bob", r.Participants[1].Outcome, "busy")
		}},
		{"caller_call_failed ends as interrupt, outcome failed", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("caller_call_failed", "alice", 101),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "interrupt")
			eq(t, "outcome", r.Participants[0].Outcome, "failed")
			eq(t, "callees", len(r.Callees), 0)
		}},
		{"interrupt beats normal_end", []callback.Callback{
			ev("callee_accept_call", "bob", 105), ev("caller_call_interrupted", "alice", 150), ev("callee_call_end", "bob", 151),
		}, func(t *testing.T, r record.Record) { eq(t, "callResult", r.CallResult, "interrupt") }},
		{"ringing then ongoing", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("callee_receive_call", "bob", 101),
		}, func(t *testing.T, r record.Record) {
			eq(t, "status", r.Status, "ringing")
			eq(t, "callResult", r.CallResult, "")
			eq(t, "endTs", r.EndTs, int64(0))
			eq(t, "outcome bob", r.Participants[1].Outcome, "pending")
		}},
		{"accepted is ongoing", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("callee_accept_call", "bob", 103),
		}, func(t *testing.T, r record.Record) { eq(t, "status", r.Status, "ongoing") }},
		{"group: a rejection does not end it", []callback.Callback{
			ev("caller_start_call", "alice", 100, group), ev("callee_reject_call", "bob", 103, group), ev("caller_call_rejected", "alice", 103, group),
			ev("callee_accept_call", "carol", 104, group),
		}, func(t *testing.T, r record.Record) {
			eq(t, "status", r.Status, "ongoing")
			eq(t, "outcome alice", r.Participants[0].Outcome, "pending") // her own callbacks say nothing yet
		}},
		{"group: the caller cancelling ends it", []callback.Callback{
			ev("caller_start_call", "alice", 100, group), ev("callee_receive_call", "bob", 101, group), ev("caller_cancel_call", "alice", 110, group),
		}, func(t *testing.T, r record.Record) {
			eq(t, "status", r.Status, "ended")
			eq(t, "callResult", r.CallResult, "normal_end")
			eq(t, "endTs", r.EndTs, int64(110))
		}},
		{"group: ends when everyone has left", []callback.Callback{
			ev("caller_start_call", "alice", 100, group), ev("callee_accept_call", "bob", 103, group), ev("callee_not_answer_call", "carol", 130, group),
			ev("join_in_group_call", "dave", 140, group), ev("caller_call_end", "alice", 200, group), ev("callee_call_end", "bob", 201, group),
			ev("callee_call_end", "dave", 205, group),
		}, func(t *testing.T, r record.Record) {
			eq(t, "status", r.Status, "ended")
			eq(t, "callResult", r.CallResult, "normal_end")
			eq(t, "endTs", r.EndTs, int64(205))
			eq(t, "callees", r.Callees, []string{"bob", "carol", "dave"})
			eq(t, "outcome carol", r.Participants[2].Outcome, "missed")
			eq(t, "outcome dave", r.Participants[3].Outcome, "answered")
		}},
		{"group flag from any callback of the deciding class", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("invite_user", "alice", 120, group),
		}, func(t *testing.T, r record.Record) { eq(t, "callType", r.CallType, "group") }},
		{"single when no callback says a call type", []callback.Callback{
			ev("caller_start_call", "alice", 100, func(cb *callback.Callback) { cb.CallType = callback.CallTypeUnknown }),
		}, func(t *testing.T, r record.Record) { eq(t, "callType", r.CallType, "single") }},
		{"earliest media and room; status class first", []callback.Callback{
			ev("caller_start_call", "alice", 100, audio, room("a")), ev("callee_accept_call", "bob", 99, room("b")),
			st("normal_end", "bob", callee, 300, room("z")),
		}, func(t *testing.T, r record.Record) {
			eq(t, "mediaType", r.MediaType, "video") // the status callback says video
			eq(t, "roomId", r.RoomID, "z")
		}},
		{"earliest media among events", []callback.Callback{
			ev("caller_start_call", "alice", 100, audio), ev("callee_accept_call", "bob", 99),
		}, func(t *testing.T, r record.Record) { eq(t, "mediaType", r.MediaType, "video") }},
		{"ties at the same second: smallest value", []callback.Callback{
			ev("caller_start_call", "alice", 100, room("b")), ev("callee_receive_call", "bob", 100, room("a")),
		}, func(t *testing.T, r record.Record) { eq(t, "roomId", r.RoomID, "a") }},
		{"totalUserNumber: max TotalNum, else participants", []callback.Callback{
			ev("caller_start_call", "alice", 100, total(0)), ev("callee_receive_call", "bob", 101, total(0)), ev("callee_receive_call", "carol", 101, total(0)),
		}, func(t *testing.T, r record.Record) { eq(t, "totalUserNumber", r.TotalUserNumber, 3) }},
		{"totalUserNumber from status", []callback.Callback{
			ev("caller_start_call", "alice", 100, total(5)), st("normal_end", "alice", caller, 200, total(3)),
		}, func(t *testing.T, r record.Record) { eq(t, "totalUserNumber", r.TotalUserNumber, 3) }},
		{"caller from status; callees exclude the caller", []callback.Callback{
			ev("callee_receive_call", "bob", 101), st("reject", "alice", caller, 110), st("reject", "bob", callee, 109),
		}, func(t *testing.T, r record.Record) {
			eq(t, "caller", r.Caller, "alice")
			eq(t, "callees", r.Callees, []string{"bob"})
			eq(t, "participants[0]", r.Participants[0].UserID, "alice")
		}},
		{"unknown role: not a callee", []callback.Callback{
			ev("caller_start_call", "alice", 100), ev("invite_user", "zed", 101, role(callback.RoleUnknown)),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callees", r.Callees, []string{})
			eq(t, "role zed", r.RoleOf("zed"), "")
		}},
		{"platforms: sorted union", []callback.Callback{
			ev("caller_start_call", "alice", 100, plat("iOS")), ev("callee_accept_call", "bob", 103, plat("Android")), ev("caller_call_end", "alice", 150, plat("iOS")),
		}, func(t *testing.T, r record.Record) {
			eq(t, "platforms", r.Platforms, []string{"Android", "iOS"})
			eq(t, "lastEventTs", r.LastEventTs, int64(150))
		}},
		{"indexTs falls back to the first event", []callback.Callback{
			ev("callee_receive_call", "bob", 101), ev("callee_accept_call", "bob", 104),
		}, func(t *testing.T, r record.Record) {
			eq(t, "startCallTs", r.StartCallTs, int64(0))
			eq(t, "indexTs", r.IndexTs, int64(101))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			derived := record.Derive(app, "c1", tc.cbs)
			st := record.NewState(app, "c1")
			for i := len(tc.cbs) - 1; i >= 0; i-- { // reverse order on purpose
				st.Apply(&tc.cbs[i])
			}
			merged := st.Record()
			if !reflect.DeepEqual(derived, merged) {
				t.Fatalf("Derive and State disagree\nderive: %s\nstate:  %s", js(derived), js(merged))
			}
			tc.check(t, derived)
		})
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestStateRoundTrip(t *testing.T) {
	st := record.NewState(app, "c1")
	cb := ev("caller_start_call", "alice", 100, plat("iOS"))
	st.Apply(&cb)
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := record.UnmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Record(), st.Record()) {
		t.Fatal("round trip changed the record")
	}
	b2, _ := back.Marshal()
	if string(b) != string(b2) {
		t.Fatalf("encoding is not canonical:\n%s\n%s", b, b2)
	}
	if _, err := record.UnmarshalState([]byte("{not json")); err == nil {
		t.Fatal("garbage state decoded")
	}
}

func v4cb(cmd callback.Command, ms int64, mods ...func(*callback.Callback)) callback.Callback {
	cb := callback.Callback{SDKAppID: app, CallID: "c1", Command: cmd, EventTime: ms / 1000, V4: &callback.V4{EventTimeMs: ms}}
	for _, m := range mods {
		m(&cb)
	}
	return cb
}

func users(us ...callback.V4Member) func(*callback.Callback) {
	return func(cb *callback.Callback) {
		cb.V4.Users = us
		if len(us) > 0 {
			cb.UserID = us[0].Account
		}
	}
}

func changed(acct string, a callback.V4Action) func(*callback.Callback) {
	return func(cb *callback.Callback) {
		cb.V4.Changed = append(cb.V4.Changed, callback.V4Change{Account: acct, Action: a})
		cb.UserID = acct
	}
}

func endRecord(res callback.Result, start, accept, end int64, caller string, callees ...string) func(*callback.Callback) {
	return func(cb *callback.Callback) {
		cb.CallResult, cb.StartCallTs, cb.AcceptTs, cb.EndTs = res, start, accept, end
		cb.CallType, cb.MediaType = callback.CallTypeSingle, callback.MediaAudio
		cb.V4.Record = &callback.V4Record{Caller: caller, Callees: callees}
		cb.UserID, cb.Role = caller, callback.RoleCaller
	}
}

// TestV4Rules checks the v4 rows of the derivation table.
func TestV4Rules(t *testing.T) {
	calling := func(a string) callback.V4Member { return callback.V4Member{Account: a, Status: callback.V4Calling} }
	waiting := func(a string) callback.V4Member { return callback.V4Member{Account: a, Status: callback.V4Waiting} }
	cases := []struct {
		name  string
		cbs   []callback.Callback
		check func(t *testing.T, r record.Record)
	}{
		{"start: Calling is the caller, Waiting are callees, ringing", []callback.Callback{
			v4cb(callback.CmdV4StartCall, 100_500, users(calling("alice"), waiting("bob"), waiting("carol"))),
		}, func(t *testing.T, r record.Record) {
			eq(t, "caller", r.Caller, "alice")
			eq(t, "callees", r.Callees, []string{"bob", "carol"})
			eq(t, "status", r.Status, "ringing")
			eq(t, "startCallTs", r.StartCallTs, int64(100))
			eq(t, "callType", r.CallType, "group") // two invitees: only a group call does that
		}},
		{"start with one invitee: single until something says otherwise", []callback.Callback{
			v4cb(callback.CmdV4StartCall, 100_000, users(calling("alice"), waiting("bob"))),
		}, func(t *testing.T, r record.Record) { eq(t, "callType", r.CallType, "single") }},
		{"a Join makes it a group call", []callback.Callback{
			v4cb(callback.CmdV4StartCall, 100_000, users(calling("alice"), waiting("bob"))),
			v4cb(callback.CmdV4MemberChanged, 130_000, changed("carol", callback.V4Join)),
		}, func(t *testing.T, r record.Record) { eq(t, "callType", r.CallType, "group") }},
		{"member Accept: ongoing, acceptTs", []callback.Callback{
			v4cb(callback.CmdV4StartCall, 100_000, users(calling("alice"), waiting("bob"))),
			v4cb(callback.CmdV4MemberChanged, 104_900, changed("bob", callback.V4Accept)),
		}, func(t *testing.T, r record.Record) {
			eq(t, "status", r.Status, "ongoing")
			eq(t, "acceptTs", r.AcceptTs, int64(104))
			eq(t, "outcome bob", r.Participants[1].Outcome, "answered")
		}},
		{"hangup before anyone answered is a cancel", []callback.Callback{
			v4cb(callback.CmdV4StartCall, 100_000, users(calling("alice"), waiting("bob"))),
			v4cb(callback.CmdV4MemberChanged, 110_000, changed("alice", callback.V4Hangup)),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "cancel")
			eq(t, "outcome alice", r.Participants[0].Outcome, "cancelled")
		}},
		{"hangup after an answer is a normal end", []callback.Callback{
			v4cb(callback.CmdV4MemberChanged, 105_000, changed("bob", callback.V4Accept)),
			v4cb(callback.CmdV4MemberChanged, 200_000, changed("bob", callback.V4Hangup)),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "normal_end")
			eq(t, "endTs", r.EndTs, int64(200))
			eq(t, "durationSec", r.DurationSec, int64(95))
		}},
		{"offline", []callback.Callback{
			v4cb(callback.CmdV4MemberChanged, 105_000, changed("bob", callback.V4Accept)),
			v4cb(callback.CmdV4MemberChanged, 150_000, changed("bob", callback.V4Offline)),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "offline")
			eq(t, "outcome bob", r.Participants[0].Outcome, "offline")
		}},
		{"the end record wins over status and events; the caller listed as callee is not a callee", []callback.Callback{
			ev("caller_start_call", "alice", 90, audio), st("reject", "bob", callback.RoleCallee, 95),
			v4cb(callback.CmdV4MemberChanged, 99_000, changed("bob", callback.V4Accept)),
			v4cb(callback.CmdV4EndCall, 300_000, endRecord(callback.ResultNormalEnd, 92, 99, 290, "alice", "alice", "bob")),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "normal_end")
			eq(t, "startCallTs", r.StartCallTs, int64(92))
			eq(t, "acceptTs", r.AcceptTs, int64(99))
			eq(t, "endTs", r.EndTs, int64(290))
			eq(t, "callees", r.Callees, []string{"bob"})
			eq(t, "totalUserNumber", r.TotalUserNumber, 2)
			eq(t, "mediaType", r.MediaType, "audio")
		}},
		{"end record with AcceptTime 0 (not answered)", []callback.Callback{
			v4cb(callback.CmdV4EndCall, 160_000, endRecord(callback.ResultNotAnswer, 100, 0, 150, "alice", "alice", "bob")),
		}, func(t *testing.T, r record.Record) {
			eq(t, "callResult", r.CallResult, "not_answer")
			eq(t, "acceptTs", r.AcceptTs, int64(0))
			eq(t, "durationSec", r.DurationSec, int64(0))
			eq(t, "status", r.Status, "ended")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			derived := record.Derive(app, "c1", tc.cbs)
			st := record.NewState(app, "c1")
			for i := len(tc.cbs) - 1; i >= 0; i-- {
				st.Apply(&tc.cbs[i])
			}
			if merged := st.Record(); !reflect.DeepEqual(derived, merged) {
				t.Fatalf("Derive and State disagree\nderive: %s\nstate:  %s", js(derived), js(merged))
			}
			tc.check(t, derived)
		})
	}
}
