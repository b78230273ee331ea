package callback

import "strings"

// Role is the role of the callback's UserId in the call.
type Role uint8

const (
	RoleUnknown Role = iota
	RoleCaller
	RoleCallee
)

func (r Role) String() string {
	switch r {
	case RoleCaller:
		return "caller"
	case RoleCallee:
		return "callee"
	}
	return ""
}

// MediaType is audio or video.
type MediaType uint8

const (
	MediaUnknown MediaType = iota
	MediaAudio
	MediaVideo
)

func (m MediaType) String() string {
	switch m {
	case MediaAudio:
		return "audio"
	case MediaVideo:
		return "video"
	}
	return ""
}

// CallType is single (one-to-one) or group.
type CallType uint8

const (
	CallTypeUnknown CallType = iota
	CallTypeSingle
	CallTypeGroup
)

func (t CallType) String() string {
	switch t {
	case CallTypeSingle:
		return "single"
	case CallTypeGroup:
		return "group"
	}
	return ""
}

// Result is a call result. ResultNone means "not over" (the v1 record's "").
type Result uint8

const (
	ResultNone Result = iota
	ResultCancel
	ResultReject
	ResultNotAnswer
	ResultNormalEnd
	ResultCallBusy
	ResultInterrupt
	ResultOffline // v4 "Offline" (heartbeat expiry); also seen in Tencent's v1 filter example
	resultCount
)

var resultNames = [resultCount]string{"", "cancel", "reject", "not_answer", "normal_end", "call_busy", "interrupt", "offline"}

func (r Result) String() string {
	if r >= resultCount {
		return ""
	}
	return resultNames[r]
}

// Results lists the results a finished call can have.
func Results() []Result {
	return []Result{ResultCancel, ResultReject, ResultNotAnswer, ResultNormalEnd, ResultCallBusy, ResultInterrupt, ResultOffline}
}

// foldEnum lowers s and drops '_', '-' and spaces, so that "Normal_end", "NormalEnd",
// "normal-end" and "normal_end" compare equal (Tencent's docs use all of these).
func foldEnum(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ParseRole canonicalises a role case-insensitively. "" parses as RoleUnknown.
func ParseRole(s string) (Role, bool) {
	switch foldEnum(s) {
	case "":
		return RoleUnknown, true
	case "caller":
		return RoleCaller, true
	case "callee":
		return RoleCallee, true
	}
	return RoleUnknown, false
}

// ParseMediaType canonicalises audio/video case-insensitively. "" parses as unknown.
func ParseMediaType(s string) (MediaType, bool) {
	switch foldEnum(s) {
	case "":
		return MediaUnknown, true
	case "audio":
		return MediaAudio, true
	case "video":
		return MediaVideo, true
	}
	return MediaUnknown, false
}

// ParseCallType canonicalises single/group (and v4's SingleCall/MultiCall).
func ParseCallType(s string) (CallType, bool) {
	switch foldEnum(s) {
	case "":
		return CallTypeUnknown, true
	case "single", "singlecall":
		return CallTypeSingle, true
	case "group", "multicall":
		return CallTypeGroup, true
	}
	return CallTypeUnknown, false
}

// ParseResult canonicalises a call result (v1 snake_case or v4 PascalCase spellings,
// any case). "" parses as ResultNone.
func ParseResult(s string) (Result, bool) {
	switch foldEnum(s) {
	case "":
		return ResultNone, true
	case "cancel":
		return ResultCancel, true
	case "reject":
		return ResultReject, true
	case "notanswer":
		return ResultNotAnswer, true
	case "normalend":
		return ResultNormalEnd, true
	case "callbusy":
		return ResultCallBusy, true
	case "interrupt":
		return ResultInterrupt, true
	case "offline":
		return ResultOffline, true
	}
	return ResultNone, false
}
