// Package callback is the model of Tencent TUICallKit callbacks: the command vocabulary,
// the parser and validator for the query parameters and JSON body, and the deterministic
// event key that makes persistence idempotent. It is pure: no I/O, no clock.
package callback

import "strings"

// Command is a callback command word. The zero value is invalid.
type Command uint8

// The 6 status commands, the 19 event commands and the `call_end` word used by
// Tencent's own status-callback example (its status comes from CallResult).
const (
	CmdInvalid Command = iota

	// Status callbacks (sent once per reporting side after the call ends).
	CmdCancel
	CmdReject
	CmdNotAnswer
	CmdNormalEnd
	CmdCallBusy
	CmdInterrupt
	CmdCallEnd // documented example only; status is CallResult

	// Caller-side events.
	CmdCallerStartCall
	CmdCallerCallAccepted
	CmdCallerCallMissed
	CmdCallerCallRejected
	CmdCallerCallBusy
	CmdCallerCancelCall
	CmdCallerCallFailed
	CmdCallerCallEnd
	CmdCallerCallInterrupted

	// Callee-side events.
	CmdCalleeReceiveCall
	CmdCalleeAcceptCall
	CmdCalleeNotAnswerCall
	CmdCalleeRejectCall
	CmdCalleeIgnoreCall
	CmdCalleeCallCanceled
	CmdCalleeCallEnd
	CmdCalleeCallInterrupted

	// Either side.
	CmdInviteUser
	CmdJoinInGroupCall

	// The 2025 "v4" callbacks (query parameter CallbackCommand).
	CmdV4StartCall
	CmdV4EndCall
	CmdV4MemberChanged

	cmdCount
)

var commandNames = [cmdCount]string{
	CmdInvalid:               "",
	CmdCancel:                "cancel",
	CmdReject:                "reject",
	CmdNotAnswer:             "not_answer",
	CmdNormalEnd:             "normal_end",
	CmdCallBusy:              "call_busy",
	CmdInterrupt:             "interrupt",
	CmdCallEnd:               "call_end",
	CmdCallerStartCall:       "caller_start_call",
	CmdCallerCallAccepted:    "caller_call_accepted",
	CmdCallerCallMissed:      "caller_call_missed",
	CmdCallerCallRejected:    "caller_call_rejected",
	CmdCallerCallBusy:        "caller_call_busy",
	CmdCallerCancelCall:      "caller_cancel_call",
	CmdCallerCallFailed:      "caller_call_failed",
	CmdCallerCallEnd:         "caller_call_end",
	CmdCallerCallInterrupted: "caller_call_interrupted",
	CmdCalleeReceiveCall:     "callee_receive_call",
	CmdCalleeAcceptCall:      "callee_accept_call",
	CmdCalleeNotAnswerCall:   "callee_not_answer_call",
	CmdCalleeRejectCall:      "callee_reject_call",
	CmdCalleeIgnoreCall:      "callee_ignore_call",
	CmdCalleeCallCanceled:    "callee_call_canceled",
	CmdCalleeCallEnd:         "callee_call_end",
	CmdCalleeCallInterrupted: "callee_call_interrupted",
	CmdInviteUser:            "invite_user",
	CmdJoinInGroupCall:       "join_in_group_call",
	CmdV4StartCall:           "Call.CallbackAfterStartCall",
	CmdV4EndCall:             "Call.CallbackAfterEndCall",
	CmdV4MemberChanged:       "Call.CallbackAfterMemberChanged",
}

var commandByName = func() map[string]Command {
	m := make(map[string]Command, cmdCount)
	for c := CmdInvalid + 1; c < cmdCount; c++ {
		m[commandNames[c]] = c
		m[strings.ToLower(commandNames[c])] = c
	}
	return m
}()

// String returns the canonical (lowercase) command word.
func (c Command) String() string {
	if c >= cmdCount {
		return ""
	}
	return commandNames[c]
}

// ParseCommand maps a command word, case-insensitively, to a Command.
func ParseCommand(s string) (Command, bool) {
	c, ok := commandByName[s]
	if !ok {
		c, ok = commandByName[strings.ToLower(s)]
	}
	return c, ok
}

// Commands lists every v1 command word in declaration order (status first).
func Commands() []Command {
	out := make([]Command, 0, cmdCount-1)
	for c := CmdInvalid + 1; c <= CmdJoinInGroupCall; c++ {
		out = append(out, c)
	}
	return out
}

// V4Commands lists the v4 callback commands.
func V4Commands() []Command { return []Command{CmdV4StartCall, CmdV4EndCall, CmdV4MemberChanged} }

// IsStatus reports whether c is a call status command (including call_end).
func (c Command) IsStatus() bool { return c >= CmdCancel && c <= CmdCallEnd }

// IsEvent reports whether c is one of the 19 call event commands.
func (c Command) IsEvent() bool { return c >= CmdCallerStartCall && c <= CmdJoinInGroupCall }

// IsV4 reports whether c is a v4 (Call.CallbackAfter*) command.
func (c Command) IsV4() bool { return c >= CmdV4StartCall && c < cmdCount }

// Side is the role implied by an event command's prefix; RoleUnknown for the
// unprefixed events and for status commands.
func (c Command) Side() Role {
	switch {
	case c >= CmdCallerStartCall && c <= CmdCallerCallInterrupted:
		return RoleCaller
	case c >= CmdCalleeReceiveCall && c <= CmdCalleeCallInterrupted:
		return RoleCallee
	}
	return RoleUnknown
}

// EventName is the body's `Event` value for an event command: the command without its
// caller_/callee_ prefix.
func (c Command) EventName() string {
	if !c.IsEvent() {
		return ""
	}
	name := c.String()
	if rest, ok := strings.CutPrefix(name, "caller_"); ok {
		return rest
	}
	if rest, ok := strings.CutPrefix(name, "callee_"); ok {
		return rest
	}
	return name
}

// StatusResult is the call result a status command names; ResultNone for call_end
// (whose result is the body's CallResult) and for event commands.
func (c Command) StatusResult() Result {
	switch c {
	case CmdCancel:
		return ResultCancel
	case CmdReject:
		return ResultReject
	case CmdNotAnswer:
		return ResultNotAnswer
	case CmdNormalEnd:
		return ResultNormalEnd
	case CmdCallBusy:
		return ResultCallBusy
	case CmdInterrupt:
		return ResultInterrupt
	}
	return ResultNone
}
