package record

import "github.com/callkit-records/callkit-records/shared/callback"

// Derive computes a call's record directly from its callbacks, reading the rules straight
// off the README table over the facts of the distinct callbacks (duplicates — the same
// Key — count once). It is the specification State is tested against, and rebuilds a
// record from a stored timeline.
func Derive(app uint64, callID string, cbs []callback.Callback) Record {
	seen := map[callback.Key]bool{}
	var all []fact
	for i := range cbs {
		k := cbs[i].Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		all = append(all, facts(&cbs[i])...)
	}
	var byClass [numClasses][]fact
	users := map[string][]fact{}
	var order []string
	for _, f := range all {
		byClass[f.class] = append(byClass[f.class], f)
		if f.user == "" {
			continue
		}
		if _, ok := users[f.user]; !ok {
			order = append(order, f.user)
		}
		users[f.user] = append(users[f.user], f)
	}

	// earliest: the value reported earliest (then the smallest) by the strongest class
	// that reports one at all.
	earliest := func(get func(*fact) string) string {
		for _, class := range byClass {
			best, bestT := "", int64(0)
			for i := range class {
				v, t := get(&class[i]), class[i].t
				if v != "" && (best == "" || t < bestT || (t == bestT && v < best)) {
					best, bestT = v, t
				}
			}
			if best != "" {
				return best
			}
		}
		return ""
	}
	// strongest: the first class whose fold is non-zero.
	strongest := func(fold func(class int, fs []fact) int64) int64 {
		for c, class := range byClass {
			if v := fold(c, class); v != 0 {
				return v
			}
		}
		return 0
	}
	minOf := func(fs []fact, val func(*fact) int64) int64 {
		var m int64
		for i := range fs {
			if v := val(&fs[i]); v > 0 && (m == 0 || v < m) {
				m = v
			}
		}
		return m
	}
	maxOf := func(fs []fact, val func(*fact) int64) int64 {
		var m int64
		for i := range fs {
			m = max(m, val(&fs[i]))
		}
		return m
	}
	when := func(pred func(kind) bool) func(*fact) int64 {
		return func(f *fact) int64 {
			if pred(f.kind) {
				return f.t
			}
			return 0
		}
	}
	events := byClass[classEvent]
	anyEvent := func(pred func(kind) bool) bool {
		for _, f := range events {
			if pred(f.kind) {
				return true
			}
		}
		return false
	}

	r := Record{CallID: callID, SDKAppID: app}
	r.MediaType = earliest(func(f *fact) string { return f.media })
	r.RoomID = earliest(func(f *fact) string { return f.room })
	r.Caller = earliest(func(f *fact) string { return f.caller })

	ct := callback.CallTypeUnknown
	for _, class := range byClass {
		for _, f := range class {
			if f.callType == callback.CallTypeGroup || (f.callType == callback.CallTypeSingle && ct == callback.CallTypeUnknown) {
				ct = f.callType
			}
		}
		if ct != callback.CallTypeUnknown {
			break
		}
	}
	if ct == callback.CallTypeUnknown { // no callback says (v4 start/member callbacks carry no type)
		ct = callback.CallTypeSingle
	}
	r.CallType = ct.String()
	group := ct == callback.CallTypeGroup

	r.TotalUserNumber = int(strongest(func(_ int, fs []fact) int64 { return maxOf(fs, func(f *fact) int64 { return int64(f.total) }) }))
	if r.TotalUserNumber == 0 {
		r.TotalUserNumber = len(users)
	}
	r.StartCallTs = strongest(func(c int, fs []fact) int64 {
		if c == classEvent {
			return minOf(fs, when(func(k kind) bool { return k.is(callback.CmdCallerStartCall) }))
		}
		return minOf(fs, func(f *fact) int64 { return f.start })
	})
	r.AcceptTs = strongest(func(c int, fs []fact) int64 {
		if c == classEvent {
			return minOf(fs, when(isAccept))
		}
		return minOf(fs, func(f *fact) int64 { return f.accept })
	})
	accepted := r.AcceptTs > 0

	// The strongest class that ends the call by itself: a v4 end record, then status.
	var final []fact
	for _, c := range []int{classV4End, classStatus} {
		if len(byClass[c]) > 0 {
			final = byClass[c]
			break
		}
	}
	var ended bool
	switch {
	case final != nil:
		ended = true
	case !group:
		ended = anyEvent(terminal)
	case anyEvent(endsGroupCall):
		ended = true
	default:
		ended = len(users) > 0
		for _, fs := range users {
			left := false
			for _, f := range fs {
				left = left || leavesCall(f.kind)
			}
			ended = ended && left
		}
	}

	switch {
	case ended:
		r.Status = StatusEnded
	case accepted || anyEvent(isJoinOrAccept):
		r.Status = StatusOngoing
	default:
		r.Status = StatusRinging
	}

	if ended {
		switch {
		case final != nil:
			r.EndTs = maxOf(final, func(f *fact) int64 {
				switch {
				case !f.ends:
					return 0
				case f.end > 0:
					return f.end
				}
				return f.t
			})
			r.CallResult = bestResult(func(x callback.Result) bool {
				for _, f := range final {
					if f.ends && f.result == x {
						return true
					}
				}
				return false
			}).String()
		case group:
			r.EndTs = max(maxOf(events, when(leavesCall)), maxOf(events, when(terminal)))
			r.CallResult = callback.ResultNormalEnd.String()
		default:
			r.EndTs = maxOf(events, when(terminal))
			r.CallResult = bestResult(func(x callback.Result) bool {
				return anyEvent(func(k kind) bool { return eventResult(k, accepted) == x })
			}).String()
		}
		if r.EndTs == 0 {
			r.EndTs = maxOf(all, func(f *fact) int64 { return f.t })
		}
	}
	if accepted && r.EndTs >= r.AcceptTs {
		r.DurationSec = r.EndTs - r.AcceptTs
	}
	r.LastEventTs = maxOf(all, func(f *fact) int64 { return f.t })
	r.IndexTs = r.StartCallTs
	if r.IndexTs == 0 {
		r.IndexTs = minOf(all, func(f *fact) int64 { return f.t })
	}

	plats := map[string]bool{}
	for _, id := range order {
		fs := users[id]
		p := Participant{UserID: id, FirstEventTs: fs[0].t, LastEventTs: fs[0].t, Platforms: []string{}}
		isCaller, isCallee := id == r.Caller, false
		outcomes := map[string]bool{}
		for _, f := range fs {
			p.FirstEventTs = min(p.FirstEventTs, f.t)
			p.LastEventTs = max(p.LastEventTs, f.t)
			isCaller = isCaller || f.role == callback.RoleCaller
			isCallee = isCallee || f.role == callback.RoleCallee
			if f.platform != "" {
				p.Platforms = addSorted(p.Platforms, f.platform)
				plats[f.platform] = true
			}
			outcomes[statusOutcome(f.userResult)] = true
			outcomes[eventOutcome(f.kind, group, accepted)] = true
		}
		switch {
		case isCaller:
			p.Role = callback.RoleCaller.String()
		case isCallee:
			p.Role = callback.RoleCallee.String()
		}
		p.Outcome = bestOutcome(func(o string) bool { return outcomes[o] })
		r.Participants = append(r.Participants, p)
	}
	finish(&r, plats)
	return r
}
