package record

import "github.com/callkit-records/callkit-records/shared/callback"

// Derive computes a call's record directly from its callbacks, reading the rules straight
// off the README table. Duplicates (same Key) count once. It is the specification State
// is tested against, and rebuilds a record from a stored timeline.
func Derive(app uint64, callID string, cbs []callback.Callback) Record {
	seen := map[callback.Key]bool{}
	var status, events []callback.Callback
	users := map[string][]callback.Callback{}
	var order []string
	for _, cb := range cbs {
		k := cb.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if cb.IsStatus() {
			status = append(status, cb)
		} else {
			events = append(events, cb)
		}
		if _, ok := users[cb.UserID]; !ok {
			order = append(order, cb.UserID)
		}
		users[cb.UserID] = append(users[cb.UserID], cb)
	}
	classes := [][]callback.Callback{status, events}
	all := append(append([]callback.Callback{}, status...), events...)

	// earliest: the value reported earliest (then smallest) by the first class that
	// reports one at all.
	earliest := func(get func(*callback.Callback) string) string {
		for _, class := range classes {
			best, bestT := "", int64(0)
			for i := range class {
				v := get(&class[i])
				t := class[i].EventTime
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
	// firstClass: the first class whose value (folded over the class) is non-zero.
	firstClass := func(fold func([]callback.Callback) int64) int64 {
		for _, class := range classes {
			if v := fold(class); v != 0 {
				return v
			}
		}
		return 0
	}

	r := Record{CallID: callID, SDKAppID: app}
	r.MediaType = earliest(func(c *callback.Callback) string { return c.MediaType.String() })
	r.RoomID = earliest(func(c *callback.Callback) string { return c.RoomID })
	r.Caller = earliest(func(c *callback.Callback) string {
		if c.Role == callback.RoleCaller {
			return c.UserID
		}
		return ""
	})

	ct := callback.CallTypeUnknown
	for _, class := range classes {
		for _, c := range class {
			if c.CallType == callback.CallTypeGroup || (c.CallType == callback.CallTypeSingle && ct == callback.CallTypeUnknown) {
				ct = c.CallType
			}
		}
		if ct != callback.CallTypeUnknown {
			break
		}
	}
	r.CallType = ct.String()
	group := ct == callback.CallTypeGroup

	r.TotalUserNumber = int(firstClass(func(cs []callback.Callback) int64 {
		m := 0
		for _, c := range cs {
			m = max(m, c.TotalNum)
		}
		return int64(m)
	}))
	if r.TotalUserNumber == 0 {
		r.TotalUserNumber = len(users)
	}

	minOf := func(cs []callback.Callback, val func(*callback.Callback) int64) int64 {
		var m int64
		for i := range cs {
			if v := val(&cs[i]); v > 0 && (m == 0 || v < m) {
				m = v
			}
		}
		return m
	}
	maxOf := func(cs []callback.Callback, val func(*callback.Callback) int64) int64 {
		var m int64
		for i := range cs {
			m = max(m, val(&cs[i]))
		}
		return m
	}
	eventTimeIf := func(pred func(callback.Command) bool) func(*callback.Callback) int64 {
		return func(c *callback.Callback) int64 {
			if pred(c.Command) {
				return c.EventTime
			}
			return 0
		}
	}

	r.StartCallTs = minOf(status, func(c *callback.Callback) int64 { return c.StartCallTs })
	if r.StartCallTs == 0 {
		r.StartCallTs = minOf(events, eventTimeIf(func(c callback.Command) bool { return c == callback.CmdCallerStartCall }))
	}
	r.AcceptTs = minOf(status, func(c *callback.Callback) int64 { return c.AcceptTs })
	if r.AcceptTs == 0 {
		r.AcceptTs = minOf(events, eventTimeIf(isAccept))
	}

	anyEvent := func(pred func(callback.Command) bool) bool {
		for _, c := range events {
			if pred(c.Command) {
				return true
			}
		}
		return false
	}
	oneToOneEnd := func(c callback.Command) bool { return eventResult(c) != callback.ResultNone }

	var ended bool
	switch {
	case len(status) > 0:
		ended = true
	case !group:
		ended = anyEvent(oneToOneEnd)
	case anyEvent(endsGroupCall):
		ended = true
	default:
		ended = len(users) > 0
		for _, cs := range users {
			left := false
			for _, c := range cs {
				left = left || (!c.IsStatus() && leavesCall(c.Command))
			}
			ended = ended && left
		}
	}

	switch {
	case ended:
		r.Status = StatusEnded
	case r.AcceptTs > 0 || anyEvent(isJoinOrAccept):
		r.Status = StatusOngoing
	default:
		r.Status = StatusRinging
	}

	if ended {
		switch {
		case len(status) > 0:
			r.EndTs = maxOf(status, func(c *callback.Callback) int64 {
				if c.EndTs > 0 {
					return c.EndTs
				}
				return c.EventTime
			})
			r.CallResult = bestResult(func(x callback.Result) bool {
				for _, c := range status {
					if c.CallResult == x {
						return true
					}
				}
				return false
			}).String()
		case group:
			r.EndTs = max(maxOf(events, eventTimeIf(leavesCall)), maxOf(events, eventTimeIf(oneToOneEnd)))
			r.CallResult = callback.ResultNormalEnd.String()
		default:
			r.EndTs = maxOf(events, eventTimeIf(oneToOneEnd))
			r.CallResult = bestResult(func(x callback.Result) bool {
				return anyEvent(func(c callback.Command) bool { return eventResult(c) == x })
			}).String()
		}
		if r.EndTs == 0 {
			r.EndTs = maxOf(all, func(c *callback.Callback) int64 { return c.EventTime })
		}
	}
	if r.AcceptTs > 0 && r.EndTs >= r.AcceptTs {
		r.DurationSec = r.EndTs - r.AcceptTs
	}
	r.LastEventTs = maxOf(all, func(c *callback.Callback) int64 { return c.EventTime })
	r.IndexTs = r.StartCallTs
	if r.IndexTs == 0 {
		r.IndexTs = minOf(all, func(c *callback.Callback) int64 { return c.EventTime })
	}

	plats := map[string]bool{}
	for _, id := range order {
		cs := users[id]
		p := Participant{UserID: id, FirstEventTs: cs[0].EventTime, LastEventTs: cs[0].EventTime, Platforms: []string{}}
		isCaller, isCallee := id == r.Caller, false
		outcomes := map[string]bool{}
		for _, c := range cs {
			p.FirstEventTs = min(p.FirstEventTs, c.EventTime)
			p.LastEventTs = max(p.LastEventTs, c.EventTime)
			isCaller = isCaller || c.Role == callback.RoleCaller
			isCallee = isCallee || c.Role == callback.RoleCallee
			if c.OptPlatform != "" {
				p.Platforms = addSorted(p.Platforms, c.OptPlatform)
				plats[c.OptPlatform] = true
			}
			if c.IsStatus() {
				outcomes[statusOutcome(c.CallResult)] = true
			} else {
				outcomes[eventOutcome(c.Command, group)] = true
			}
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
