// Package recordtest generates realistic TUICallKit calls, as the callbacks Tencent would
// send for them, together with what their record must say. It is shared by the record
// property tests, the store conformance suite, the end-to-end tests and the load
// generator.
package recordtest

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
)

// Scenario names.
const (
	AnsweredCallerHangsUp = "answered-caller-hangs-up"
	AnsweredCalleeHangsUp = "answered-callee-hangs-up"
	Rejected              = "rejected"
	Cancelled             = "cancelled"
	Missed                = "missed"
	Busy                  = "busy"
	Interrupted           = "interrupted"
	CallerFailed          = "caller-failed"
	Ringing               = "ringing"
	Ongoing               = "ongoing"
	Group                 = "group"
	GroupOngoing          = "group-ongoing"
	GroupCancelled        = "group-cancelled"

	// v4 callbacks (Call.CallbackAfter*) only.
	V4Answered  = "v4-answered"
	V4Rejected  = "v4-rejected"
	V4Missed    = "v4-missed"
	V4Cancelled = "v4-cancelled"
	V4Offline   = "v4-offline"
	V4Group     = "v4-group"
	V4Ongoing   = "v4-ongoing"

	// Both generations report the same call (an app with both callback configurations).
	MixedAnswered = "mixed-answered"
	MixedRejected = "mixed-rejected"
)

// Scenarios lists every scenario Gen picks from.
var Scenarios = []string{
	AnsweredCallerHangsUp, AnsweredCalleeHangsUp, Rejected, Cancelled, Missed, Busy,
	Interrupted, CallerFailed, Ringing, Ongoing, Group, GroupOngoing, GroupCancelled,
	V4Answered, V4Rejected, V4Missed, V4Cancelled, V4Offline, V4Group, V4Ongoing,
	MixedAnswered, MixedRejected,
}

// V1Scenarios are the scenarios made of v1 callbacks only.
var V1Scenarios = Scenarios[:13]

// Want is what the record of a complete call must say.
type Want struct {
	Status  string
	Result  string   // v1 callResult ("" while not over)
	Caller  string   // "" when no callback says who called
	Callees []string // sorted
}

// Call is one generated call: its distinct callbacks in the order they happened.
type Call struct {
	Scenario  string
	App       uint64
	CallID    string
	Callbacks []callback.Callback
	Want      Want
}

var names = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy"}
var platforms = []string{"iOS", "Android", "Web", "miniProgram"}

type builder struct {
	r      *rand.Rand
	call   *Call
	room   string
	media  callback.MediaType
	ctype  callback.CallType
	total  int
	plat   map[string]string
	ip     map[string]string
	caller string
}

// Gen returns a random call of a random scenario starting around t0 (Unix seconds).
func Gen(r *rand.Rand, app uint64, t0 int64) Call {
	return GenScenario(r, app, Scenarios[r.IntN(len(Scenarios))], t0)
}

// GenScenario returns a random call of the named scenario.
func GenScenario(r *rand.Rand, app uint64, scenario string, t0 int64) Call {
	c := Call{Scenario: scenario, App: app, CallID: fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)}
	b := &builder{r: r, call: &c, plat: map[string]string{}, ip: map[string]string{}}
	b.room = fmt.Sprintf("room-%d", r.IntN(100000))
	if r.IntN(4) == 0 {
		b.room = fmt.Sprint(r.IntN(1_000_000_000)) // numeric rooms are common
	}
	b.media = callback.MediaAudio
	if r.IntN(2) == 0 {
		b.media = callback.MediaVideo
	}
	perm := r.Perm(len(names))
	users := make([]string, len(perm))
	for i, p := range perm {
		users[i] = names[p]
		b.plat[names[p]] = platforms[r.IntN(len(platforms))]
		b.ip[names[p]] = fmt.Sprintf("198.51.100.%d", 1+r.IntN(250))
	}
	b.caller = users[0]
	switch scenario {
	case Group, GroupOngoing, GroupCancelled:
		b.ctype = callback.CallTypeGroup
		b.group(t0, users, scenario)
	case V4Answered, V4Rejected, V4Missed, V4Cancelled, V4Offline, V4Ongoing:
		b.ctype = callback.CallTypeSingle
		b.v4single(t0, users[1], scenario)
	case V4Group:
		b.ctype = callback.CallTypeGroup
		b.v4group(t0, users)
	case MixedAnswered, MixedRejected:
		b.ctype = callback.CallTypeSingle
		b.total = 2
		v1 := map[string]string{MixedAnswered: AnsweredCallerHangsUp, MixedRejected: Rejected}[scenario]
		b.single(t0, users[1], v1)
		b.v4mirror(users[1])
	default:
		b.ctype = callback.CallTypeSingle
		b.total = 2
		b.single(t0, users[1], scenario)
	}
	sort.Strings(c.Want.Callees)
	if c.Want.Callees == nil {
		c.Want.Callees = []string{}
	}
	return c
}

func (b *builder) add(cb callback.Callback) {
	cb.SDKAppID = b.call.App
	cb.CallID = b.call.CallID
	cb.RoomID = b.room
	cb.MediaType = b.media
	cb.CallType = b.ctype
	cb.TotalNum = b.total
	cb.ClientIP = b.ip[cb.UserID]
	cb.OptPlatform = b.plat[cb.UserID]
	// Tencent's example fills the call timestamps even on events; they must not matter.
	if !cb.IsStatus() && b.r.IntN(8) == 0 {
		cb.StartCallTs, cb.AcceptTs, cb.EndTs = cb.EventTime-int64(b.r.IntN(5)), cb.EventTime, cb.EventTime+int64(b.r.IntN(5))
	}
	b.call.Callbacks = append(b.call.Callbacks, cb)
}

func (b *builder) ev(cmd callback.Command, user string, role callback.Role, t int64) {
	cb := callback.Callback{Command: cmd, UserID: user, Role: role, Event: cmd.EventName(), EventTime: t}
	if side := cmd.Side(); side != callback.RoleUnknown {
		cb.Role = side
	}
	// Tencent fills CallResult on end-type events; it is optional for the record.
	if res := endResult(cmd); res != callback.ResultNone && b.r.IntN(2) == 0 {
		cb.CallResult = res
	}
	b.add(cb)
}

func endResult(c callback.Command) callback.Result {
	switch c {
	case callback.CmdCallerCallEnd, callback.CmdCalleeCallEnd:
		return callback.ResultNormalEnd
	case callback.CmdCallerCallRejected, callback.CmdCalleeRejectCall:
		return callback.ResultReject
	case callback.CmdCallerCallMissed, callback.CmdCalleeNotAnswerCall:
		return callback.ResultNotAnswer
	case callback.CmdCallerCancelCall, callback.CmdCalleeCallCanceled:
		return callback.ResultCancel
	case callback.CmdCallerCallBusy, callback.CmdCalleeIgnoreCall:
		return callback.ResultCallBusy
	case callback.CmdCallerCallInterrupted, callback.CmdCalleeCallInterrupted:
		return callback.ResultInterrupt
	}
	return callback.ResultNone
}

// status adds the status callback(s) of an ended call: from the caller, the callee(s),
// both, or none (the app may not have enabled them) — the record must agree in all cases.
func (b *builder) status(res callback.Result, reporters []string, t, start, accept, end int64) {
	for _, u := range reporters {
		if b.r.IntN(3) == 0 {
			continue
		}
		role := callback.RoleCallee
		if u == b.caller {
			role = callback.RoleCaller
		}
		cmd := statusCommand(res)
		if b.r.IntN(6) == 0 {
			cmd = callback.CmdCallEnd // Tencent's own example uses command=call_end
		}
		cb := callback.Callback{Command: cmd, UserID: u, Role: role, CallResult: res, EventTime: t + int64(b.r.IntN(2))}
		if res == callback.ResultNormalEnd { // only normal_end carries the timestamps
			cb.StartCallTs, cb.AcceptTs, cb.EndTs = start, accept, end
		}
		b.add(cb)
	}
}

func statusCommand(r callback.Result) callback.Command {
	switch r {
	case callback.ResultCancel:
		return callback.CmdCancel
	case callback.ResultReject:
		return callback.CmdReject
	case callback.ResultNotAnswer:
		return callback.CmdNotAnswer
	case callback.ResultNormalEnd:
		return callback.CmdNormalEnd
	case callback.ResultCallBusy:
		return callback.CmdCallBusy
	case callback.ResultInterrupt:
		return callback.CmdInterrupt
	}
	return callback.CmdCallEnd
}

func (b *builder) single(t0 int64, callee, scenario string) {
	r, caller := b.r, b.caller
	w := &b.call.Want
	w.Caller = caller
	w.Callees = []string{callee}
	w.Status = record.StatusEnded
	d := func(lo, hi int) int64 { return int64(lo + r.IntN(hi-lo+1)) }

	b.ev(callback.CmdCallerStartCall, caller, callback.RoleCaller, t0)
	tr := t0 + d(0, 1)
	if scenario != CallerFailed && scenario != Busy {
		b.ev(callback.CmdCalleeReceiveCall, callee, callback.RoleCallee, tr)
	}
	both := []string{caller, callee}
	switch scenario {
	case AnsweredCallerHangsUp, AnsweredCalleeHangsUp, Interrupted, Ongoing:
		ta := tr + d(1, 20)
		b.ev(callback.CmdCalleeAcceptCall, callee, callback.RoleCallee, ta)
		b.ev(callback.CmdCallerCallAccepted, caller, callback.RoleCaller, ta+d(0, 1))
		te := ta + d(1, 3600)
		switch scenario {
		case Ongoing:
			w.Status = record.StatusOngoing
		case Interrupted:
			w.Result = "interrupt"
			if r.IntN(2) == 0 {
				b.ev(callback.CmdCallerCallInterrupted, caller, callback.RoleCaller, te)
				if r.IntN(2) == 0 {
					b.ev(callback.CmdCalleeCallEnd, callee, callback.RoleCallee, te+d(0, 2))
				}
			} else {
				b.ev(callback.CmdCalleeCallInterrupted, callee, callback.RoleCallee, te)
				if r.IntN(2) == 0 {
					b.ev(callback.CmdCallerCallInterrupted, caller, callback.RoleCaller, te+d(0, 2))
				}
			}
			b.status(callback.ResultInterrupt, both, te+d(0, 2), t0, ta, te)
		default:
			w.Result = "normal_end"
			first, second := callback.CmdCallerCallEnd, callback.CmdCalleeCallEnd
			if scenario == AnsweredCalleeHangsUp {
				first, second = second, first
			}
			b.ev(first, b.userOf(first, caller, callee), first.Side(), te)
			b.ev(second, b.userOf(second, caller, callee), second.Side(), te+d(0, 1))
			b.status(callback.ResultNormalEnd, both, te+d(0, 2), t0, ta, te)
		}
	case Rejected:
		w.Result = "reject"
		tx := tr + d(1, 20)
		b.ev(callback.CmdCalleeRejectCall, callee, callback.RoleCallee, tx)
		b.ev(callback.CmdCallerCallRejected, caller, callback.RoleCaller, tx+d(0, 1))
		b.status(callback.ResultReject, both, tx+d(0, 2), 0, 0, 0)
	case Cancelled:
		w.Result = "cancel"
		tx := tr + d(1, 25)
		b.ev(callback.CmdCallerCancelCall, caller, callback.RoleCaller, tx)
		b.ev(callback.CmdCalleeCallCanceled, callee, callback.RoleCallee, tx+d(0, 1))
		b.status(callback.ResultCancel, both, tx+d(0, 2), 0, 0, 0)
	case Missed:
		w.Result = "not_answer"
		tx := t0 + 30 + d(0, 30)
		b.ev(callback.CmdCalleeNotAnswerCall, callee, callback.RoleCallee, tx)
		b.ev(callback.CmdCallerCallMissed, caller, callback.RoleCaller, tx+d(0, 1))
		b.status(callback.ResultNotAnswer, both, tx+d(0, 2), 0, 0, 0)
	case Busy:
		w.Result = "call_busy"
		tx := t0 + d(0, 2)
		b.ev(callback.CmdCalleeIgnoreCall, callee, callback.RoleCallee, tx)
		b.ev(callback.CmdCallerCallBusy, caller, callback.RoleCaller, tx+d(0, 1))
		b.status(callback.ResultCallBusy, both, tx+d(0, 2), 0, 0, 0)
	case CallerFailed:
		w.Result = "interrupt"
		w.Callees = nil
		b.ev(callback.CmdCallerCallFailed, caller, callback.RoleCaller, t0+d(0, 3))
	case Ringing:
		w.Status = record.StatusRinging
	default:
		panic("recordtest: unknown scenario " + scenario)
	}
}

func (b *builder) userOf(c callback.Command, caller, callee string) string {
	if c.Side() == callback.RoleCaller {
		return caller
	}
	return callee
}

// group: a caller invites 2–4 users; each accepts, rejects, misses or is busy; someone
// who answered invites one more mid-call and another user joins; then everyone leaves.
func (b *builder) group(t0 int64, users []string, scenario string) {
	r, caller := b.r, b.caller
	w := &b.call.Want
	w.Caller = caller
	d := func(lo, hi int) int64 { return int64(lo + r.IntN(hi-lo+1)) }
	n := 2 + r.IntN(3)
	invited := users[1 : 1+n]
	b.total = 1 + n
	b.ev(callback.CmdCallerStartCall, caller, callback.RoleCaller, t0)

	var talking []string
	var lastT int64 = t0
	for _, u := range invited {
		w.Callees = append(w.Callees, u)
		tr := t0 + d(0, 2)
		b.ev(callback.CmdCalleeReceiveCall, u, callback.RoleCallee, tr)
		if scenario == GroupCancelled {
			continue
		}
		tx := tr + d(1, 30)
		lastT = max(lastT, tx)
		switch k := r.IntN(6); {
		case k < 3 || len(talking) == 0 && u == invited[len(invited)-1]:
			b.ev(callback.CmdCalleeAcceptCall, u, callback.RoleCallee, tx)
			b.ev(callback.CmdCallerCallAccepted, caller, callback.RoleCaller, tx+d(0, 1))
			talking = append(talking, u)
		case k == 3:
			b.ev(callback.CmdCalleeRejectCall, u, callback.RoleCallee, tx)
			b.ev(callback.CmdCallerCallRejected, caller, callback.RoleCaller, tx+d(0, 1))
		case k == 4:
			b.ev(callback.CmdCalleeNotAnswerCall, u, callback.RoleCallee, t0+30+d(0, 30))
		default:
			b.ev(callback.CmdCalleeIgnoreCall, u, callback.RoleCallee, tx)
		}
	}
	w.Result = "normal_end"
	w.Status = record.StatusEnded
	if scenario == GroupCancelled {
		tx := t0 + d(5, 30)
		b.ev(callback.CmdCallerCancelCall, caller, callback.RoleCaller, tx)
		for _, u := range invited {
			b.ev(callback.CmdCalleeCallCanceled, u, callback.RoleCallee, tx+d(0, 1))
		}
		b.status(callback.ResultNormalEnd, []string{caller}, tx+d(0, 2), t0, 0, tx)
		return
	}

	// Mid-call: an invite by someone talking, and a join.
	ti := lastT + d(5, 60)
	inviter := talking[r.IntN(len(talking))]
	b.ev(callback.CmdInviteUser, inviter, callback.RoleCallee, ti)
	extra := users[1+n]
	w.Callees = append(w.Callees, extra)
	b.total++
	b.ev(callback.CmdCalleeReceiveCall, extra, callback.RoleCallee, ti+d(0, 1))
	b.ev(callback.CmdCalleeAcceptCall, extra, callback.RoleCallee, ti+d(2, 10))
	talking = append(talking, extra)
	joiner := users[2+n]
	w.Callees = append(w.Callees, joiner)
	b.total++
	tj := ti + d(10, 60)
	b.ev(callback.CmdJoinInGroupCall, joiner, callback.RoleCallee, tj)
	talking = append(talking, joiner)

	if scenario == GroupOngoing {
		w.Result, w.Status = "", record.StatusOngoing
		return
	}
	te := tj + d(10, 3600)
	var accept int64
	for _, cb := range b.call.Callbacks {
		if cb.Command == callback.CmdCalleeAcceptCall && (accept == 0 || cb.EventTime < accept) {
			accept = cb.EventTime
		}
	}
	b.ev(callback.CmdCallerCallEnd, caller, callback.RoleCaller, te)
	for _, u := range talking {
		b.ev(callback.CmdCalleeCallEnd, u, callback.RoleCallee, te+d(0, 5))
	}
	b.status(callback.ResultNormalEnd, append([]string{caller}, talking...), te+d(5, 7), t0, accept, te+5)
}

// Deliveries returns what Tencent actually delivers for a set of callbacks: every
// callback at least once, some retried (up to Tencent's 6 attempts), all shuffled.
func Deliveries(r *rand.Rand, cbs []callback.Callback) []callback.Callback {
	var out []callback.Callback
	for _, cb := range cbs {
		copies := 1
		switch k := r.IntN(10); {
		case k == 0:
			copies = 6 // every retry of 0s,1s,1s,2s,3s,5s landed (our acks got lost)
		case k < 3:
			copies = 2 + r.IntN(3)
		}
		for range copies {
			out = append(out, cb)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Perturb adds plausible but conflicting callbacks to a call: a media switch, both sides
// reporting different results, a redial at another time, another room, a larger
// TotalNum, callbacks without Role or CallType, status timestamps that disagree, a
// stranger, and ties at the same second. The record must still be a function of the set;
// what it "should" say is then only what the rules say, so callers check Derive.
func Perturb(r *rand.Rand, call Call) []callback.Callback {
	out := append([]callback.Callback(nil), call.Callbacks...)
	if len(out) == 0 {
		return out
	}
	pick := func() callback.Callback { return out[r.IntN(len(out))] }
	for n := 1 + r.IntN(6); n > 0; n-- {
		cb := pick()
		if cb.V4 != nil {
			out = append(out, perturbV4(r, cb))
			continue
		}
		switch r.IntN(10) {
		case 0: // media switch
			if cb.MediaType == callback.MediaAudio {
				cb.MediaType = callback.MediaVideo
			} else {
				cb.MediaType = callback.MediaAudio
			}
			cb.EventTime += int64(r.IntN(3) - 1)
		case 1: // another status from someone, possibly disagreeing
			res := callback.Results()[r.IntN(len(callback.Results()))]
			cb = callback.Callback{SDKAppID: cb.SDKAppID, CallID: cb.CallID, Command: statusCommand(res), UserID: cb.UserID, Role: cb.Role,
				CallResult: res, EventTime: cb.EventTime + int64(r.IntN(5)), MediaType: cb.MediaType, CallType: cb.CallType, RoomID: cb.RoomID, TotalNum: cb.TotalNum}
			if r.IntN(2) == 0 {
				cb.StartCallTs, cb.AcceptTs, cb.EndTs = cb.EventTime-int64(r.IntN(100)), cb.EventTime-int64(r.IntN(50)), cb.EventTime+int64(r.IntN(3))
			}
		case 2: // redial: another start at another second
			cb.Command, cb.Event, cb.Role, cb.CallResult = callback.CmdCallerStartCall, "start_call", callback.RoleCaller, callback.ResultNone
			cb.EventTime += int64(r.IntN(21) - 10)
		case 3:
			cb.RoomID = fmt.Sprintf("room-%d", r.IntN(3))
		case 4:
			cb.TotalNum += 1 + r.IntN(3)
		case 5: // fields left out
			if !cb.IsStatus() && cb.Command.Side() == callback.RoleUnknown {
				cb.Role = callback.RoleUnknown
			}
			cb.CallType, cb.MediaType = callback.CallTypeUnknown, callback.MediaUnknown
		case 6: // a stranger's event (same call id)
			cb.UserID = names[r.IntN(len(names))] + "-x"
			cb.EventTime += int64(r.IntN(5))
		case 7: // a tie: same second, another value
			cb.UserID = names[r.IntN(len(names))]
			if cb.Role == callback.RoleCaller && cb.Command.Side() == callback.RoleUnknown {
				cb.Role = callback.RoleCallee
			}
		case 8: // another platform for the same user
			cb.OptPlatform = platforms[r.IntN(len(platforms))]
		default: // an accept or a group flip
			if r.IntN(2) == 0 {
				cb.Command, cb.Event, cb.Role, cb.CallResult = callback.CmdCalleeAcceptCall, "accept_call", callback.RoleCallee, callback.ResultNone
			} else if cb.CallType == callback.CallTypeSingle {
				cb.CallType = callback.CallTypeGroup
			}
		}
		out = append(out, cb)
	}
	return out
}

// Stream interleaves the callbacks of many concurrent calls the way they reach the
// webhook: by event time, with Tencent's retries (an un-acked attempt is retried 1–5 s
// later, up to 6 attempts in all) arriving a little later than the original.
func Stream(r *rand.Rand, calls []Call) []callback.Callback {
	type arrival struct {
		at int64 // milliseconds
		cb callback.Callback
	}
	var as []arrival
	for _, c := range calls {
		for _, cb := range c.Callbacks {
			at := cb.EventTime*1000 + int64(r.IntN(300))
			as = append(as, arrival{at, cb})
			retries := 0
			switch k := r.IntN(20); {
			case k == 0:
				retries = 5
			case k < 3:
				retries = 1 + r.IntN(2)
			}
			for i, delay := range []int64{0, 1000, 1000, 2000, 3000, 5000}[:retries] {
				at += delay + int64(r.IntN(200)) + int64(i)
				as = append(as, arrival{at, cb})
			}
		}
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].at < as[j].at })
	out := make([]callback.Callback, len(as))
	for i, a := range as {
		out[i] = a.cb
	}
	return out
}

// --- v4 -------------------------------------------------------------------------------

// v4 adds a v4 callback after a Render/Parse round trip, so it is exactly what the
// webhook would hand on.
func (b *builder) v4(cb callback.Callback, ms int64) {
	cb.SDKAppID, cb.CallID = b.call.App, b.call.CallID
	if cb.V4 == nil {
		cb.V4 = &callback.V4{}
	}
	cb.V4.EventTimeMs = ms
	cb.ClientIP = "203.0.113.9"
	cb.OptPlatform = []string{"iOS", "Android", "Web", "RESTAPI"}[b.r.IntN(4)]
	q, body := cb.Render()
	parsed, err := callback.Parse(q, body)
	if err != nil {
		panic("recordtest: generated v4 callback does not parse: " + err.Error() + ": " + string(body))
	}
	b.call.Callbacks = append(b.call.Callbacks, parsed)
}

func (b *builder) v4start(ms int64, callees []string) {
	users := []callback.V4Member{{Account: b.caller, Status: callback.V4Calling}}
	for _, c := range callees {
		users = append(users, callback.V4Member{Account: c, Status: callback.V4Waiting})
	}
	b.v4(callback.Callback{Command: callback.CmdV4StartCall, MediaType: b.media, RoomID: b.room,
		V4: &callback.V4{Users: users, RoomIDType: 2}}, ms)
}

func (b *builder) v4change(ms int64, present []string, changes ...callback.V4Change) {
	var users []callback.V4Member
	for _, u := range present {
		users = append(users, callback.V4Member{Account: u, Status: callback.V4Calling})
	}
	b.v4(callback.Callback{Command: callback.CmdV4MemberChanged, V4: &callback.V4{Users: users, Changed: changes}}, ms)
}

func (b *builder) v4end(ms int64, res callback.Result, start, accept, end int64, callees []string) {
	list := append([]string{b.caller}, callees...) // Tencent lists the caller among the callees
	b.v4(callback.Callback{Command: callback.CmdV4EndCall, MediaType: b.media, CallType: b.ctype, RoomID: b.room, CallResult: res,
		StartCallTs: start, AcceptTs: accept, EndTs: end, V4: &callback.V4{Record: &callback.V4Record{Caller: b.caller, Callees: list}, RoomIDType: 2}}, ms)
}

func (b *builder) v4single(t0 int64, callee, scenario string) {
	r := b.r
	w := &b.call.Want
	w.Caller, w.Callees, w.Status = b.caller, []string{callee}, record.StatusEnded
	ms := t0*1000 + int64(r.IntN(1000))
	b.v4start(ms, []string{callee})
	at := func(sec int) int64 { return ms + int64(sec)*1000 + int64(r.IntN(1000)) }
	change := func(sec int, present []string, who string, a callback.V4Action) int64 {
		m := at(sec)
		b.v4change(m, present, callback.V4Change{Account: who, Action: a})
		return m / 1000
	}
	both := []string{b.caller, callee}
	switch scenario {
	case V4Answered, V4Ongoing, V4Offline:
		ta := change(5, both, callee, callback.V4Accept)
		if scenario == V4Ongoing {
			w.Status = record.StatusOngoing
			return
		}
		res, action, who := callback.ResultNormalEnd, callback.V4Hangup, []string{b.caller, callee}[r.IntN(2)]
		if scenario == V4Offline {
			res, action, who = callback.ResultOffline, callback.V4Offline, callee
		}
		te := change(60+r.IntN(600), both, who, action)
		w.Result = res.String()
		if r.IntN(4) != 0 { // the end callback may not have arrived (yet)
			b.v4end(te*1000+1500, res, t0, ta, te, []string{callee})
		}
	case V4Rejected:
		tx := change(3, []string{b.caller}, callee, callback.V4Reject)
		w.Result = "reject"
		b.v4end(tx*1000+800, callback.ResultReject, t0, 0, tx, []string{callee})
	case V4Missed:
		tx := change(30, []string{b.caller}, callee, callback.V4NotAnswer)
		w.Result = "not_answer"
		b.v4end(tx*1000+800, callback.ResultNotAnswer, t0, 0, tx, []string{callee})
	case V4Cancelled:
		tx := change(4, []string{callee}, b.caller, callback.V4Hangup)
		w.Result = "cancel"
		b.v4end(tx*1000+800, callback.ResultCancel, t0, 0, tx, []string{callee})
	}
}

func (b *builder) v4group(t0 int64, users []string) {
	r := b.r
	w := &b.call.Want
	n := 2 + r.IntN(3)
	invited := users[1 : 1+n]
	w.Caller, w.Status, w.Result = b.caller, record.StatusEnded, "normal_end"
	w.Callees = append([]string(nil), invited...)
	ms := t0*1000 + int64(r.IntN(1000))
	b.v4start(ms, invited)
	present := []string{b.caller}
	var accept int64
	sec := 2
	for i, u := range invited {
		sec += 1 + r.IntN(10)
		m := ms + int64(sec)*1000
		a := []callback.V4Action{callback.V4Accept, callback.V4Accept, callback.V4Reject, callback.V4NotAnswer}[r.IntN(4)]
		if i == 0 {
			a = callback.V4Accept
		}
		if a == callback.V4Accept {
			present = append(present, u)
			if accept == 0 {
				accept = m / 1000
			}
		}
		b.v4change(m, present, callback.V4Change{Account: u, Action: a})
	}
	// Mid-call: an invite (ringing, then accepted) and a join.
	extra, joiner := users[1+n], users[2+n]
	w.Callees = append(w.Callees, extra, joiner)
	sec += 10
	b.v4change(ms+int64(sec)*1000, present, callback.V4Change{Account: extra, Action: callback.V4Invite})
	sec += 5
	present = append(present, extra)
	b.v4change(ms+int64(sec)*1000, present, callback.V4Change{Account: extra, Action: callback.V4Accept})
	sec += 20
	present = append(present, joiner)
	b.v4change(ms+int64(sec)*1000, present, callback.V4Change{Account: joiner, Action: callback.V4Join})
	// Everyone hangs up; the last one leaving ends the call.
	for len(present) > 1 {
		sec += 1 + r.IntN(300)
		who := present[r.IntN(len(present))]
		rest := make([]string, 0, len(present))
		for _, p := range present {
			if p != who {
				rest = append(rest, p)
			}
		}
		present = rest
		b.v4change(ms+int64(sec)*1000, present, callback.V4Change{Account: who, Action: callback.V4Hangup})
	}
	end := t0 + int64(sec) + 1
	b.v4end(end*1000, callback.ResultNormalEnd, t0, accept, end, append(append([]string(nil), invited...), extra, joiner))
}

// v4mirror adds the v4 callbacks of a 1:1 call already generated as v1 callbacks (the
// app has both callback configurations): start, the callee's answer, the end record.
func (b *builder) v4mirror(callee string) {
	var start, accept, end int64
	var res callback.Result
	for _, cb := range b.call.Callbacks {
		switch {
		case cb.Command == callback.CmdCallerStartCall:
			start = cb.EventTime
		case cb.Command == callback.CmdCalleeAcceptCall:
			accept = cb.EventTime
		case cb.IsStatus():
			res, end = cb.CallResult, max(end, cb.EventTime)
		case cb.Command == callback.CmdCallerCallEnd || cb.Command == callback.CmdCalleeCallEnd ||
			cb.Command == callback.CmdCalleeRejectCall || cb.Command == callback.CmdCallerCallRejected:
			end = max(end, cb.EventTime)
		}
	}
	if res == callback.ResultNone {
		res = map[bool]callback.Result{true: callback.ResultNormalEnd, false: callback.ResultReject}[accept > 0]
	}
	b.v4start(start*1000+100, []string{callee})
	if accept > 0 {
		b.v4change(accept*1000+200, []string{b.caller, callee}, callback.V4Change{Account: callee, Action: callback.V4Accept})
	} else {
		b.v4change(end*1000, []string{b.caller}, callback.V4Change{Account: callee, Action: callback.V4Reject})
	}
	b.v4end(end*1000+900, res, start, accept, end, []string{callee})
}

// perturbV4 changes a copy of a v4 callback: another time, another action, another
// result or caller in the end record, another media type. Like builder.v4 it returns the
// callback after a Render/Parse round trip: a change the wire cannot carry (the media type
// of a member change) or one that moves another field with it (a new caller is the end
// callback's user) must look exactly as the webhook would hand it on.
func perturbV4(r *rand.Rand, cb callback.Callback) callback.Callback {
	v := *cb.V4
	v.Users = append([]callback.V4Member(nil), v.Users...)
	v.Changed = append([]callback.V4Change(nil), v.Changed...)
	if v.Record != nil {
		rec := *v.Record
		rec.Callees = append([]string(nil), rec.Callees...)
		v.Record = &rec
	}
	cb.V4 = &v
	switch r.IntN(5) {
	case 0:
		v.EventTimeMs += int64(r.IntN(20000) - 10000)
		cb.EventTime = v.EventTimeMs / 1000
	case 1:
		if len(v.Changed) > 0 {
			v.Changed[0].Action = callback.V4Action(1 + r.IntN(8))
		} else if len(v.Users) > 0 {
			v.Users[0].Status = callback.V4Status(1 + r.IntN(2))
		}
	case 2:
		if v.Record != nil {
			cb.CallResult = callback.Results()[r.IntN(len(callback.Results()))]
		}
	case 3:
		if v.Record != nil && len(v.Record.Callees) > 1 {
			v.Record.Caller = v.Record.Callees[r.IntN(len(v.Record.Callees))]
		}
	default:
		if cb.MediaType == callback.MediaAudio {
			cb.MediaType = callback.MediaVideo
		} else {
			cb.MediaType = callback.MediaAudio
		}
	}
	q, body := cb.Render()
	parsed, err := callback.Parse(q, body)
	if err != nil {
		panic("recordtest: perturbed v4 callback does not parse: " + err.Error() + ": " + string(body))
	}
	return parsed
}
