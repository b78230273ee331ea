// Package record turns the set of distinct callbacks of one call into its call record.
//
// The record is a pure function of that set (DESIGN invariant 3). Each callback is first
// expanded into facts (facts.go): what it says about the call, and about each user it
// names — a v1 callback names one user, a v4 callback may name several. Two
// implementations of the rules then aggregate the facts: State, a join-semilattice
// summary merged incrementally by the persisters (order and duplicates cannot matter:
// every component is a min, max, union or bit-or), and Derive, a direct reading of the
// rules over the whole set, used to rebuild records from their timeline and, in the
// property test, as the specification State is checked against. The rules are in the
// README's "How a record is derived" table; this file holds the vocabulary both share.
package record

import "github.com/callkit-records/callkit-records/shared/callback"

// Call status (native record).
const (
	StatusRinging = "ringing"
	StatusOngoing = "ongoing"
	StatusEnded   = "ended"
)

// Participant outcomes (native record), strongest first in outcomeRank.
const (
	OutcomeInterrupted = "interrupted"
	OutcomeOffline     = "offline"
	OutcomeFailed      = "failed"
	OutcomeAnswered    = "answered"
	OutcomeRejected    = "rejected"
	OutcomeBusy        = "busy"
	OutcomeMissed      = "missed"
	OutcomeCancelled   = "cancelled"
	OutcomePending     = "pending"
)

var outcomeRank = []string{
	OutcomeInterrupted, OutcomeOffline, OutcomeFailed, OutcomeAnswered,
	OutcomeRejected, OutcomeBusy, OutcomeMissed, OutcomeCancelled,
}

// resultRank orders call results when callbacks disagree: the first present wins.
// A connected call that broke is reported as broken, a connected call beats one that
// never connected, and among unconnected calls the callee's explicit answer beats a
// timeout, which beats the caller giving up.
var resultRank = []callback.Result{
	callback.ResultInterrupt, callback.ResultOffline, callback.ResultNormalEnd,
	callback.ResultReject, callback.ResultCallBusy, callback.ResultNotAnswer, callback.ResultCancel,
}

// kind is a user action: a v1 event command (same value), or one of the v4 actions that
// have no v1 event of their own. A user's kinds are a bit set (uint64).
type kind uint8

const (
	kindNone    kind = 0
	kindHangup  kind = 40 // v4 Hangup: the user left (an end if the call was connected, else a cancel)
	kindOffline kind = 41 // v4 Offline: the server saw the user's heartbeat expire
)

func kindOf(c callback.Command) kind { return kind(c) }

func (k kind) is(c callback.Command) bool { return k == kind(c) }

// eventResult maps a terminal action to the call result it implies for a one-to-one
// call; accepted says whether the call was ever connected.
func eventResult(k kind, accepted bool) callback.Result {
	switch kind(k) {
	case kindOf(callback.CmdCallerCallMissed), kindOf(callback.CmdCalleeNotAnswerCall):
		return callback.ResultNotAnswer
	case kindOf(callback.CmdCallerCallRejected), kindOf(callback.CmdCalleeRejectCall):
		return callback.ResultReject
	case kindOf(callback.CmdCallerCallBusy), kindOf(callback.CmdCalleeIgnoreCall):
		return callback.ResultCallBusy
	case kindOf(callback.CmdCallerCancelCall), kindOf(callback.CmdCalleeCallCanceled):
		return callback.ResultCancel
	case kindOf(callback.CmdCallerCallEnd), kindOf(callback.CmdCalleeCallEnd):
		return callback.ResultNormalEnd
	case kindOf(callback.CmdCallerCallInterrupted), kindOf(callback.CmdCalleeCallInterrupted), kindOf(callback.CmdCallerCallFailed):
		// No v1 result means "failed to start"; interrupt is Tencent's "network or other
		// reasons". The participant's outcome keeps the precise "failed".
		return callback.ResultInterrupt
	case kindOffline:
		return callback.ResultOffline
	case kindHangup:
		if accepted {
			return callback.ResultNormalEnd
		}
		return callback.ResultCancel
	}
	return callback.ResultNone
}

// terminal: the action ends a one-to-one call.
func terminal(k kind) bool { return eventResult(k, true) != callback.ResultNone }

// isAccept: actions that mean the callee answered.
func isAccept(k kind) bool {
	return k.is(callback.CmdCalleeAcceptCall) || k.is(callback.CmdCallerCallAccepted)
}

// isJoinOrAccept: actions that mean someone is talking.
func isJoinOrAccept(k kind) bool { return isAccept(k) || k.is(callback.CmdJoinInGroupCall) }

// leavesCall reports whether the action means its user has left a group call (or never
// joined it). Caller-side notices about one callee (call_rejected, call_missed,
// call_busy, call_accepted) do not end the caller's participation.
func leavesCall(k kind) bool {
	switch k {
	case kindOf(callback.CmdCallerCallEnd), kindOf(callback.CmdCallerCancelCall), kindOf(callback.CmdCallerCallFailed),
		kindOf(callback.CmdCallerCallInterrupted), kindOf(callback.CmdCalleeRejectCall), kindOf(callback.CmdCalleeNotAnswerCall),
		kindOf(callback.CmdCalleeIgnoreCall), kindOf(callback.CmdCalleeCallCanceled), kindOf(callback.CmdCalleeCallEnd),
		kindOf(callback.CmdCalleeCallInterrupted), kindHangup, kindOffline:
		return true
	}
	return false
}

// endsGroupCall: caller actions that end a whole group call.
func endsGroupCall(k kind) bool {
	return k.is(callback.CmdCallerCancelCall) || k.is(callback.CmdCallerCallFailed)
}

// eventOutcome is what an action says about its own user's participation. In a group
// call the caller's per-callee notices say nothing about the caller; a v4 hang-up means
// answered when the call was connected, cancelled otherwise.
func eventOutcome(k kind, group, accepted bool) string {
	switch k {
	case kindOf(callback.CmdCallerCallInterrupted), kindOf(callback.CmdCalleeCallInterrupted):
		return OutcomeInterrupted
	case kindOffline:
		return OutcomeOffline
	case kindOf(callback.CmdCallerCallFailed):
		return OutcomeFailed
	case kindOf(callback.CmdCalleeAcceptCall), kindOf(callback.CmdJoinInGroupCall), kindOf(callback.CmdCallerCallEnd),
		kindOf(callback.CmdCalleeCallEnd), kindOf(callback.CmdCallerCallAccepted):
		return OutcomeAnswered
	case kindOf(callback.CmdCalleeRejectCall):
		return OutcomeRejected
	case kindOf(callback.CmdCalleeIgnoreCall):
		return OutcomeBusy
	case kindOf(callback.CmdCalleeNotAnswerCall):
		return OutcomeMissed
	case kindOf(callback.CmdCallerCancelCall), kindOf(callback.CmdCalleeCallCanceled):
		return OutcomeCancelled
	case kindHangup:
		if accepted {
			return OutcomeAnswered
		}
		return OutcomeCancelled
	}
	if !group {
		switch k {
		case kindOf(callback.CmdCallerCallRejected):
			return OutcomeRejected
		case kindOf(callback.CmdCallerCallBusy):
			return OutcomeBusy
		case kindOf(callback.CmdCallerCallMissed):
			return OutcomeMissed
		}
	}
	return ""
}

// statusOutcome is what a user's own status callback says about that user.
func statusOutcome(r callback.Result) string {
	switch r {
	case callback.ResultInterrupt:
		return OutcomeInterrupted
	case callback.ResultOffline:
		return OutcomeOffline
	case callback.ResultNormalEnd:
		return OutcomeAnswered
	case callback.ResultReject:
		return OutcomeRejected
	case callback.ResultCallBusy:
		return OutcomeBusy
	case callback.ResultNotAnswer:
		return OutcomeMissed
	case callback.ResultCancel:
		return OutcomeCancelled
	}
	return ""
}

// bestOutcome picks the strongest of the given outcomes, "pending" when none.
func bestOutcome(has func(string) bool) string {
	for _, o := range outcomeRank {
		if has(o) {
			return o
		}
	}
	return OutcomePending
}

// bestResult picks the strongest result among those present.
func bestResult(has func(callback.Result) bool) callback.Result {
	for _, r := range resultRank {
		if has(r) {
			return r
		}
	}
	return callback.ResultNone
}
