// Package record turns the set of distinct callbacks of one call into its call record.
//
// The record is a pure function of that set (DESIGN invariant 3). Two implementations
// of the same rules live here: State, a join-semilattice summary merged incrementally by
// the persisters (order and duplicates cannot matter: every component is a min, max,
// union or bit-or), and Derive, a direct reading of the rules over the whole set, used to
// rebuild records from their timeline and, in the property test, as the specification
// State is checked against. The rules are in the README's "How a record is derived"
// table; this file holds the vocabulary both implementations share.
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

// eventResult maps a terminal event to the call result it implies for a one-to-one call.
func eventResult(c callback.Command) callback.Result {
	switch c {
	case callback.CmdCallerCallMissed, callback.CmdCalleeNotAnswerCall:
		return callback.ResultNotAnswer
	case callback.CmdCallerCallRejected, callback.CmdCalleeRejectCall:
		return callback.ResultReject
	case callback.CmdCallerCallBusy, callback.CmdCalleeIgnoreCall:
		return callback.ResultCallBusy
	case callback.CmdCallerCancelCall, callback.CmdCalleeCallCanceled:
		return callback.ResultCancel
	case callback.CmdCallerCallEnd, callback.CmdCalleeCallEnd:
		return callback.ResultNormalEnd
	case callback.CmdCallerCallInterrupted, callback.CmdCalleeCallInterrupted, callback.CmdCallerCallFailed:
		// No v1 result means "failed to start"; interrupt is Tencent's "network or other
		// reasons". The participant's outcome keeps the precise "failed".
		return callback.ResultInterrupt
	}
	return callback.ResultNone
}

// isAccept: events that mean the callee answered.
func isAccept(c callback.Command) bool {
	return c == callback.CmdCalleeAcceptCall || c == callback.CmdCallerCallAccepted
}

// isJoinOrAccept: events that mean someone is talking.
func isJoinOrAccept(c callback.Command) bool {
	return isAccept(c) || c == callback.CmdJoinInGroupCall
}

// leavesCall reports whether the event means its user has left a group call (or never
// joined it). Caller-side notices about one callee (call_rejected, call_missed,
// call_busy, call_accepted) do not end the caller's participation.
func leavesCall(c callback.Command) bool {
	switch c {
	case callback.CmdCallerCallEnd, callback.CmdCallerCancelCall, callback.CmdCallerCallFailed, callback.CmdCallerCallInterrupted,
		callback.CmdCalleeRejectCall, callback.CmdCalleeNotAnswerCall, callback.CmdCalleeIgnoreCall,
		callback.CmdCalleeCallCanceled, callback.CmdCalleeCallEnd, callback.CmdCalleeCallInterrupted:
		return true
	}
	return false
}

// endsGroupCall: caller events that end a whole group call.
func endsGroupCall(c callback.Command) bool {
	return c == callback.CmdCallerCancelCall || c == callback.CmdCallerCallFailed
}

// eventOutcome is what an event says about its own user's participation.
// group: in a group call the caller's per-callee notices say nothing about the caller.
func eventOutcome(c callback.Command, group bool) string {
	switch c {
	case callback.CmdCallerCallInterrupted, callback.CmdCalleeCallInterrupted:
		return OutcomeInterrupted
	case callback.CmdCallerCallFailed:
		return OutcomeFailed
	case callback.CmdCalleeAcceptCall, callback.CmdJoinInGroupCall, callback.CmdCallerCallEnd, callback.CmdCalleeCallEnd:
		return OutcomeAnswered
	case callback.CmdCallerCallAccepted:
		return OutcomeAnswered
	case callback.CmdCalleeRejectCall:
		return OutcomeRejected
	case callback.CmdCalleeIgnoreCall:
		return OutcomeBusy
	case callback.CmdCalleeNotAnswerCall:
		return OutcomeMissed
	case callback.CmdCallerCancelCall, callback.CmdCalleeCallCanceled:
		return OutcomeCancelled
	}
	if !group {
		switch c {
		case callback.CmdCallerCallRejected:
			return OutcomeRejected
		case callback.CmdCallerCallBusy:
			return OutcomeBusy
		case callback.CmdCallerCallMissed:
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
