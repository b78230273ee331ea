package record

import "github.com/callkit-records/callkit-records/shared/callback"

// Evidence classes, strongest first: a field is taken from the first class that has it.
const (
	classV4End  = iota // the CallRecord of a v4 Call.CallbackAfterEndCall
	classStatus        // v1 call status callbacks
	classEvent         // v1 event callbacks; v4 start-call and member-changed callbacks
	numClasses
)

// fact is one thing a callback says: about the call (as its evidence class reports it)
// and/or about one user. A v1 callback is one fact; a v4 callback is one per user named.
type fact struct {
	class int
	t     int64 // the callback's EventTime, Unix seconds

	// About the call ("" / 0: not reported by this fact).
	media    string
	room     string
	callType callback.CallType
	total    int
	caller   string          // the user this fact names as the caller
	start    int64           // explicit StartCallTs / StartTime (status and record facts)
	accept   int64           // explicit AcceptTs / AcceptTime
	end      int64           // explicit EndTs / EndTime
	ends     bool            // a status or record fact: the call is over (at end, else t)
	result   callback.Result // the call's result (status and record facts)

	// About one user ("" when the fact is about the call only).
	user       string
	role       callback.Role
	kind       kind
	userResult callback.Result // a status callback's result: its reporter's own outcome
	platform   string
}

// facts expands a callback.
func facts(cb *callback.Callback) []fact {
	if cb.V4 == nil {
		f := fact{t: cb.EventTime, media: cb.MediaType.String(), room: cb.RoomID, callType: cb.CallType, total: cb.TotalNum,
			user: cb.UserID, role: cb.Role, platform: cb.OptPlatform}
		if cb.Role == callback.RoleCaller {
			f.caller = cb.UserID
		}
		if cb.IsStatus() {
			f.class = classStatus
			f.start, f.accept, f.end, f.ends, f.result, f.userResult = cb.StartCallTs, cb.AcceptTs, cb.EndTs, true, cb.CallResult, cb.CallResult
		} else {
			f.class, f.kind = classEvent, kindOf(cb.Command)
		}
		return []fact{f}
	}

	v4 := cb.V4
	t := cb.EventTime
	plat := func(user string) string {
		if user == cb.UserID {
			return cb.OptPlatform // the platform belongs to the callback's own user
		}
		return ""
	}
	var out []fact
	switch cb.Command {
	case callback.CmdV4EndCall:
		rec := v4.Record
		call := fact{class: classV4End, t: t, media: cb.MediaType.String(), room: cb.RoomID, callType: cb.CallType, total: cb.TotalNum,
			caller: rec.Caller, start: cb.StartCallTs, accept: cb.AcceptTs, end: cb.EndTs, ends: true, result: cb.CallResult}
		if rec.Caller != "" {
			call.user, call.role, call.platform = rec.Caller, callback.RoleCaller, plat(rec.Caller)
		}
		out = append(out, call)
		for _, c := range rec.Callees { // Tencent lists the caller among the callees too
			if c != rec.Caller {
				out = append(out, fact{class: classV4End, t: t, user: c, role: callback.RoleCallee, platform: plat(c)})
			}
		}
	case callback.CmdV4StartCall:
		// v4 start callbacks carry no call type; more than one invitee can only be a group
		// call (a 1:1 call lists exactly its caller and callee).
		ct := callback.CallTypeUnknown
		if len(v4.Users) > 2 {
			ct = callback.CallTypeGroup
		}
		out = append(out, fact{class: classEvent, t: t, media: cb.MediaType.String(), room: cb.RoomID, total: cb.TotalNum, callType: ct})
		for _, u := range v4.Users {
			f := fact{class: classEvent, t: t, user: u.Account, platform: plat(u.Account)}
			switch u.Status {
			case callback.V4Calling: // the one who started the call
				f.role, f.kind, f.caller = callback.RoleCaller, kindOf(callback.CmdCallerStartCall), u.Account
			case callback.V4Waiting: // invited, ringing
				f.role, f.kind = callback.RoleCallee, kindOf(callback.CmdCalleeReceiveCall)
			}
			out = append(out, f)
		}
	case callback.CmdV4MemberChanged:
		for _, u := range v4.Users { // members present; their status alone changes nothing
			out = append(out, fact{class: classEvent, t: t, user: u.Account, platform: plat(u.Account)})
		}
		for _, ch := range v4.Changed {
			f := fact{class: classEvent, t: t, user: ch.Account, platform: plat(ch.Account)}
			switch ch.Action {
			case callback.V4Accept:
				f.role, f.kind = callback.RoleCallee, kindOf(callback.CmdCalleeAcceptCall)
			case callback.V4Reject:
				f.role, f.kind = callback.RoleCallee, kindOf(callback.CmdCalleeRejectCall)
			case callback.V4NotAnswer:
				f.role, f.kind = callback.RoleCallee, kindOf(callback.CmdCalleeNotAnswerCall)
			case callback.V4Invite:
				f.role, f.kind = callback.RoleCallee, kindOf(callback.CmdCalleeReceiveCall)
			case callback.V4CancelInvite:
				f.role, f.kind = callback.RoleCallee, kindOf(callback.CmdCalleeCallCanceled)
			case callback.V4Join: // joining a call in progress exists only in group calls
				f.kind, f.callType = kindOf(callback.CmdJoinInGroupCall), callback.CallTypeGroup
			case callback.V4Hangup:
				f.kind = kindHangup
			case callback.V4Offline:
				f.kind = kindOffline
			}
			out = append(out, f)
		}
	}
	return out
}
