package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/callkit-records/callkit-records/shared/callback"
)

// State is the merge summary of a call's callbacks. Apply is commutative, associative
// and idempotent, so any order and any duplicates of the same set give the same State,
// and Record() is a function of the State alone.
type State struct {
	V       int              `json:"v"` // encoding version
	App     uint64           `json:"a"`
	CallID  string           `json:"c"`
	Src     [numClasses]Src  `json:"s"`
	Users   map[string]*User `json:"u"`
	FirstTs int64            `json:"f"` // min EventTime
	LastTs  int64            `json:"l"` // max EventTime
}

// Src aggregates one evidence class.
type Src struct {
	Seen   bool   `json:"n,omitempty"`
	Media  Cand   `json:"m"`            // earliest reported media type
	Room   Cand   `json:"r"`            // earliest reported room
	Caller Cand   `json:"cl"`           // earliest user reporting Role=caller
	Types  uint8  `json:"t,omitempty"`  // bit per callback.CallType reported
	Total  int    `json:"tn,omitempty"` // max TotalNum
	Start  int64  `json:"st,omitempty"` // status/record: min explicit start; events: min EventTime of caller_start_call
	Accept int64  `json:"ac,omitempty"` // status/record: min explicit accept; events: min EventTime of accept events
	End    int64  `json:"en,omitempty"` // status/record: max explicit end (or EventTime); events: max EventTime of 1:1-terminal events
	EndG   int64  `json:"eg,omitempty"` // events: max EventTime of events where a user leaves a group call
	Res    uint16 `json:"rs,omitempty"` // status/record: bit per reported CallResult
}

// Cand is a candidate value with the time it was reported; the earliest (then the
// smallest value) wins. V == "" means no candidate.
type Cand struct {
	T int64  `json:"t,omitempty"`
	V string `json:"v,omitempty"`
}

func (c *Cand) offer(t int64, v string) {
	if v == "" {
		return
	}
	if c.V == "" || t < c.T || (t == c.T && v < c.V) {
		c.T, c.V = t, v
	}
}

// User aggregates one participant's callbacks.
type User struct {
	Roles     uint8    `json:"r,omitempty"` // bit per callback.Role reported
	First     int64    `json:"f"`
	Last      int64    `json:"l"`
	Kinds     uint64   `json:"k,omitempty"` // bit per action kind of this user
	Results   uint16   `json:"s,omitempty"` // bit per result of this user's status callbacks
	Platforms []string `json:"p,omitempty"` // sorted set
}

// stateVersion is the State encoding; a stored state of another version is refused.
const stateVersion = 2

// NewState returns the empty state of a call.
func NewState(app uint64, callID string) *State {
	return &State{V: stateVersion, App: app, CallID: callID, Users: map[string]*User{}}
}

func minNZ(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// Apply merges one callback into the state.
func (s *State) Apply(cb *callback.Callback) {
	for _, f := range facts(cb) {
		s.apply(&f)
	}
}

func (s *State) apply(f *fact) {
	s.FirstTs = minNZ(s.FirstTs, f.t)
	s.LastTs = max(s.LastTs, f.t)

	src := &s.Src[f.class]
	src.Seen = true
	src.Media.offer(f.t, f.media)
	src.Room.offer(f.t, f.room)
	src.Caller.offer(f.t, f.caller)
	if f.callType != callback.CallTypeUnknown {
		src.Types |= 1 << f.callType
	}
	src.Total = max(src.Total, f.total)
	if f.class == classEvent {
		if f.kind.is(callback.CmdCallerStartCall) {
			src.Start = minNZ(src.Start, f.t)
		}
		if isAccept(f.kind) {
			src.Accept = minNZ(src.Accept, f.t)
		}
		if terminal(f.kind) {
			src.End = max(src.End, f.t)
		}
		if leavesCall(f.kind) {
			src.EndG = max(src.EndG, f.t)
		}
	} else {
		src.Start = minNZ(src.Start, f.start)
		src.Accept = minNZ(src.Accept, f.accept)
		if f.ends {
			end := f.end
			if end == 0 {
				end = f.t
			}
			src.End = max(src.End, end)
			src.Res |= 1 << f.result
		}
	}

	if f.user == "" {
		return
	}
	u := s.Users[f.user]
	if u == nil {
		u = &User{First: f.t, Last: f.t}
		if s.Users == nil {
			s.Users = map[string]*User{}
		}
		s.Users[f.user] = u
	}
	u.First = min(u.First, f.t)
	u.Last = max(u.Last, f.t)
	if f.role != callback.RoleUnknown {
		u.Roles |= 1 << f.role
	}
	if f.kind != kindNone {
		u.Kinds |= 1 << f.kind
	}
	if f.userResult != callback.ResultNone {
		u.Results |= 1 << f.userResult
	}
	if f.platform != "" {
		u.Platforms = addSorted(u.Platforms, f.platform)
	}
}

func addSorted(set []string, v string) []string {
	i := sort.SearchStrings(set, v)
	if i < len(set) && set[i] == v {
		return set
	}
	set = append(set, "")
	copy(set[i+1:], set[i:])
	set[i] = v
	return set
}

// Marshal encodes the state for storage. encoding/json sorts map keys, so equal states
// encode to equal bytes: stores compare encodings to skip writes that change nothing.
func (s *State) Marshal() ([]byte, error) { return json.Marshal(s) }

// ErrBadState marks a stored state that cannot be decoded.
var ErrBadState = errors.New("record: stored state cannot be decoded")

// UnmarshalState decodes a stored state.
func UnmarshalState(b []byte) (*State, error) {
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, errors.Join(ErrBadState, err)
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("%w: encoding version %d, this build reads %d", ErrBadState, s.V, stateVersion)
	}
	if s.Users == nil {
		s.Users = map[string]*User{}
	}
	for id, u := range s.Users {
		if u == nil { // only a damaged item says this; Record() would dereference it
			return nil, fmt.Errorf("%w: user %q has no state", ErrBadState, id)
		}
	}
	return s, nil
}

// --- the record -----------------------------------------------------------------------

// decide returns the first class for which has is true (status before events).
func (s *State) decide(has func(*Src) bool) *Src {
	for i := range s.Src {
		if has(&s.Src[i]) {
			return &s.Src[i]
		}
	}
	return nil
}

// callType: the deciding class's reports; group if any says group, else single (also
// when no callback says: v4 start/member callbacks carry no type).
func (s *State) callType() callback.CallType {
	src := s.decide(func(x *Src) bool { return x.Types != 0 })
	switch {
	case src == nil:
		return callback.CallTypeSingle
	case src.Types&(1<<callback.CallTypeGroup) != 0:
		return callback.CallTypeGroup
	default:
		return callback.CallTypeSingle
	}
}

func (s *State) anyKind(pred func(kind) bool) bool {
	for _, u := range s.Users {
		if kindsHave(u.Kinds, pred) {
			return true
		}
	}
	return false
}

func kindsHave(kinds uint64, pred func(kind) bool) bool {
	for k := kind(0); k < 64; k++ {
		if kinds&(1<<k) != 0 && pred(k) {
			return true
		}
	}
	return false
}

// final is the strongest class that ends the call by itself (a v4 end record, then a
// status callback), nil if none.
func (s *State) final() *Src {
	for _, c := range []int{classV4End, classStatus} {
		if s.Src[c].Seen {
			return &s.Src[c]
		}
	}
	return nil
}

func (s *State) ended(group bool) bool {
	if s.final() != nil {
		return true
	}
	if !group {
		return s.anyKind(terminal)
	}
	if s.anyKind(endsGroupCall) {
		return true
	}
	if len(s.Users) == 0 {
		return false
	}
	for _, u := range s.Users {
		if !kindsHave(u.Kinds, leavesCall) {
			return false
		}
	}
	return true
}

// Record derives the call record from the state.
func (s *State) Record() Record {
	r := Record{CallID: s.CallID, SDKAppID: s.App, LastEventTs: s.LastTs}
	if m := s.decide(func(x *Src) bool { return x.Media.V != "" }); m != nil {
		r.MediaType = m.Media.V
	}
	if m := s.decide(func(x *Src) bool { return x.Room.V != "" }); m != nil {
		r.RoomID = m.Room.V
	}
	ct := s.callType()
	r.CallType = ct.String()
	group := ct == callback.CallTypeGroup
	if m := s.decide(func(x *Src) bool { return x.Total > 0 }); m != nil {
		r.TotalUserNumber = m.Total
	} else {
		r.TotalUserNumber = len(s.Users)
	}
	if m := s.decide(func(x *Src) bool { return x.Start > 0 }); m != nil {
		r.StartCallTs = m.Start
	}
	if m := s.decide(func(x *Src) bool { return x.Accept > 0 }); m != nil {
		r.AcceptTs = m.Accept
	}
	if m := s.decide(func(x *Src) bool { return x.Caller.V != "" }); m != nil {
		r.Caller = m.Caller.V
	}

	ended := s.ended(group)
	switch {
	case ended:
		r.Status = StatusEnded
	case r.AcceptTs > 0 || s.anyKind(isJoinOrAccept):
		r.Status = StatusOngoing
	default:
		r.Status = StatusRinging
	}

	accepted := r.AcceptTs > 0
	if ended {
		ev := &s.Src[classEvent]
		switch fin := s.final(); {
		case fin != nil:
			r.EndTs = fin.End
			r.CallResult = bestResult(func(x callback.Result) bool { return fin.Res&(1<<x) != 0 }).String()
		case group:
			r.EndTs = max(ev.EndG, ev.End)
			r.CallResult = callback.ResultNormalEnd.String()
		default:
			r.EndTs = ev.End
			r.CallResult = bestResult(func(x callback.Result) bool {
				return s.anyKind(func(k kind) bool { return eventResult(k, accepted) == x })
			}).String()
		}
		if r.EndTs == 0 {
			r.EndTs = s.LastTs
		}
	}
	if r.AcceptTs > 0 && r.EndTs >= r.AcceptTs {
		r.DurationSec = r.EndTs - r.AcceptTs
	}
	r.IndexTs = r.StartCallTs
	if r.IndexTs == 0 {
		r.IndexTs = s.FirstTs
	}

	plats := map[string]bool{}
	for id, u := range s.Users {
		p := Participant{UserID: id, FirstEventTs: u.First, LastEventTs: u.Last, Platforms: u.Platforms}
		switch {
		case id == r.Caller || u.Roles&(1<<callback.RoleCaller) != 0:
			p.Role = callback.RoleCaller.String()
		case u.Roles&(1<<callback.RoleCallee) != 0:
			p.Role = callback.RoleCallee.String()
		}
		p.Outcome = bestOutcome(func(o string) bool {
			if kindsHave(u.Kinds, func(k kind) bool { return eventOutcome(k, group, accepted) == o }) {
				return true
			}
			for _, res := range callback.Results() {
				if u.Results&(1<<res) != 0 && statusOutcome(res) == o {
					return true
				}
			}
			return false
		})
		if p.Platforms == nil {
			p.Platforms = []string{}
		}
		for _, pl := range u.Platforms {
			plats[pl] = true
		}
		r.Participants = append(r.Participants, p)
	}
	finish(&r, plats)
	return r
}

// finish orders participants (caller first, then by first event, then id), lists the
// callees in that order and the platforms sorted. Shared by State.Record and Derive.
func finish(r *Record, plats map[string]bool) {
	sort.Slice(r.Participants, func(i, j int) bool {
		a, b := r.Participants[i], r.Participants[j]
		if (a.UserID == r.Caller) != (b.UserID == r.Caller) {
			return a.UserID == r.Caller
		}
		if a.FirstEventTs != b.FirstEventTs {
			return a.FirstEventTs < b.FirstEventTs
		}
		return a.UserID < b.UserID
	})
	r.Callees = []string{}
	for _, p := range r.Participants {
		if p.UserID != r.Caller && p.Role == callback.RoleCallee.String() {
			r.Callees = append(r.Callees, p.UserID)
		}
	}
	if r.Participants == nil {
		r.Participants = []Participant{}
	}
	r.Platforms = make([]string, 0, len(plats))
	for p := range plats {
		r.Platforms = append(r.Platforms, p)
	}
	sort.Strings(r.Platforms)
}
