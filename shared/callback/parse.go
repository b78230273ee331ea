package callback

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on values; generous for real traffic, tight enough to keep keys and items small.
const (
	MaxIDBytes       = 256        // CallId, UserId, RoomId
	MaxTotalNum      = 100000     // participants
	MaxUnixSeconds   = 9999999999 // 2286-11-20; larger values are milliseconds sent as seconds
	maxParamBytes    = 128        // clientip, optplatform
	maxSDKAppIDDigit = 20
)

// Callback is one validated, canonicalised v1 callback (status or event).
type Callback struct {
	SDKAppID    uint64
	Command     Command
	ClientIP    string
	OptPlatform string // canonical spelling for the documented platforms, else as sent

	CallID   string
	UserID   string
	RoomID   string
	TotalNum int

	MediaType  MediaType
	CallType   CallType
	Role       Role
	Event      string // event callbacks: the unprefixed event name; "" for status callbacks
	CallResult Result // status callbacks: always set (from the command or CallResult)

	EventTime   int64 // Unix seconds
	StartCallTs int64 // Unix seconds, 0 when absent
	AcceptTs    int64
	EndTs       int64

	V4 *V4 // the v4 payload; nil for v1 callbacks
}

// IsStatus reports whether the callback is a call status callback.
func (c *Callback) IsStatus() bool { return c.Command.IsStatus() }

// SDKAppIDFrom reads and validates the app id query parameter: `sdkappid` (v1) or
// `SdkAppid` (v4).
func SDKAppIDFrom(q url.Values) (uint64, error) {
	name := "sdkappid"
	if IsV4Request(q) {
		name = "SdkAppid"
	}
	s := q.Get(name)
	if s == "" {
		return 0, invalid(name, "query parameter is required")
	}
	id, err := parseAppID(s)
	if err != nil {
		return 0, invalid(name, "must be a positive integer")
	}
	return id, nil
}

func parseAppID(s string) (uint64, error) {
	if len(s) > maxSDKAppIDDigit {
		return 0, invalid("sdkappid", "must be a positive integer")
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, invalid("sdkappid", "must be a positive integer")
	}
	return id, nil
}

// Parse validates the query parameters and JSON body of a callback of either generation
// and returns the canonical callback. Errors are *FieldError values matching ErrInvalid
// or ErrMalformed.
func Parse(q url.Values, body []byte) (Callback, error) {
	if IsV4Request(q) {
		return parseV4(q, body)
	}
	var cb Callback
	var err error
	if cb.SDKAppID, err = SDKAppIDFrom(q); err != nil {
		return cb, err
	}
	cmdWord := q.Get("command")
	if cmdWord == "" {
		return cb, invalid("command", "query parameter is required")
	}
	var ok bool
	if cb.Command, ok = ParseCommand(cmdWord); !ok || cb.Command.IsV4() {
		return cb, invalid("command", "unknown command "+strconv.Quote(truncate(cmdWord, 64)))
	}
	if ct := q.Get("contenttype"); ct != "" && !strings.EqualFold(ct, "json") {
		return cb, invalid("contenttype", "must be json")
	}
	if cb.ClientIP, err = param(q, "clientip"); err != nil {
		return cb, err
	}
	var plat string
	if plat, err = param(q, "optplatform"); err != nil {
		return cb, err
	}
	cb.OptPlatform = CanonicalPlatform(plat)

	if err := parseBody(&cb, body); err != nil {
		return cb, err
	}
	return cb, nil
}

func param(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if len(v) > maxParamBytes || !printable(v) {
		return "", invalid(name, "must be at most 128 printable characters")
	}
	return v, nil
}

// CanonicalPlatform spells the documented optplatform values one way; other values are
// kept as sent.
func CanonicalPlatform(s string) string {
	switch strings.ToLower(s) {
	case "ios":
		return "iOS"
	case "android":
		return "Android"
	case "web":
		return "Web"
	case "miniprogram":
		return "miniProgram"
	}
	return s
}

// rawBody captures each known field undecoded so that types can be checked per field
// with a precise error; unknown fields are ignored (Tencent may add fields).
type rawBody struct {
	UserId      json.RawMessage
	RoomId      json.RawMessage
	TotalNum    json.RawMessage
	MediaType   json.RawMessage
	CallType    json.RawMessage
	CallId      json.RawMessage
	Role        json.RawMessage
	Event       json.RawMessage
	CallResult  json.RawMessage
	EventTime   json.RawMessage
	StartCallTs json.RawMessage
	AcceptTs    json.RawMessage
	EndTs       json.RawMessage
}

func trimSpace(b []byte) []byte { return bytes.TrimSpace(b) }

// checkText refuses bodies that are not text a queue can carry.
func checkText(body []byte) error {
	if !utf8.Valid(body) {
		return malformed("body is not valid UTF-8")
	}
	// U+FFFE/U+FFFF are valid UTF-8 but not allowed in SQS message bodies.
	if bytes.Contains(body, []byte("\xef\xbf\xbe")) || bytes.Contains(body, []byte("\xef\xbf\xbf")) {
		return malformed("body contains the Unicode noncharacters U+FFFE/U+FFFF")
	}
	return nil
}

func parseBody(cb *Callback, body []byte) error {
	body, err := jsonObject(body)
	if err != nil {
		return err
	}
	if !json.Valid(body) {
		return malformed("body is not valid JSON")
	}
	var rb rawBody
	rawFields(body, &rb)

	if cb.CallID, err = idField(rb.CallId, "CallId", true); err != nil {
		return err
	}
	if cb.UserID, err = idField(rb.UserId, "UserId", true); err != nil {
		return err
	}
	if cb.RoomID, err = idField(rb.RoomId, "RoomId", false); err != nil {
		return err
	}
	var total int64
	if total, err = intField(rb.TotalNum, "TotalNum", MaxTotalNum); err != nil {
		return err
	}
	cb.TotalNum = int(total)

	if err = enumField(rb.MediaType, "MediaType", "audio or video", func(s string) bool {
		var ok bool
		cb.MediaType, ok = ParseMediaType(s)
		return ok
	}); err != nil {
		return err
	}
	if err = enumField(rb.CallType, "CallType", "single or group", func(s string) bool {
		var ok bool
		cb.CallType, ok = ParseCallType(s)
		return ok
	}); err != nil {
		return err
	}
	if err = enumField(rb.Role, "Role", "caller or callee", func(s string) bool {
		var ok bool
		cb.Role, ok = ParseRole(s)
		return ok
	}); err != nil {
		return err
	}
	if err = enumField(rb.CallResult, "CallResult", "one of cancel, reject, not_answer, normal_end, call_busy, interrupt, offline", func(s string) bool {
		var ok bool
		cb.CallResult, ok = ParseResult(s)
		return ok
	}); err != nil {
		return err
	}

	if cb.EventTime, err = intField(rb.EventTime, "EventTime", MaxUnixSeconds); err != nil {
		return err
	}
	if cb.EventTime == 0 {
		return invalid("EventTime", "is required (Unix seconds)")
	}
	if cb.StartCallTs, err = intField(rb.StartCallTs, "StartCallTs", MaxUnixSeconds); err != nil {
		return err
	}
	if cb.AcceptTs, err = intField(rb.AcceptTs, "AcceptTs", MaxUnixSeconds); err != nil {
		return err
	}
	if cb.EndTs, err = intField(rb.EndTs, "EndTs", MaxUnixSeconds); err != nil {
		return err
	}

	var event string
	if event, err = stringField(rb.Event, "Event"); err != nil {
		return err
	}
	if cb.Command.IsStatus() {
		return checkStatus(cb, event)
	}
	return checkEvent(cb, event)
}

// checkStatus: the status comes from the command word; for `call_end` (Tencent's own
// example) it comes from CallResult. A CallResult contradicting the command is refused.
func checkStatus(cb *Callback, event string) error {
	if event != "" {
		return invalid("Event", "must be absent on status callbacks (command "+cb.Command.String()+")")
	}
	want := cb.Command.StatusResult()
	switch {
	case want == ResultNone && cb.CallResult == ResultNone:
		return invalid("CallResult", "is required when command is call_end")
	case want == ResultNone:
		// call_end: keep CallResult.
	case cb.CallResult == ResultNone:
		cb.CallResult = want
	case cb.CallResult != want:
		return invalid("CallResult", cb.CallResult.String()+" contradicts command "+cb.Command.String())
	}
	return nil
}

// checkEvent: `Event` must be the command without its caller_/callee_ prefix (it may be
// omitted, then it is implied), and a prefixed command fixes the role.
func checkEvent(cb *Callback, event string) error {
	name := cb.Command.EventName()
	if event != "" && foldEnum(event) != foldEnum(name) {
		return invalid("Event", strconv.Quote(truncate(event, 64))+" does not match command "+cb.Command.String()+" (expected "+name+")")
	}
	cb.Event = name
	if side := cb.Command.Side(); side != RoleUnknown {
		if cb.Role != RoleUnknown && cb.Role != side {
			return invalid("Role", cb.Role.String()+" contradicts command "+cb.Command.String())
		}
		cb.Role = side
	}
	return nil
}

// --- field decoders -------------------------------------------------------------------

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// idField accepts a JSON string or a JSON integer (Tencent sometimes sends numeric ids).
func idField(raw json.RawMessage, field string, required bool) (string, error) {
	if isNull(raw) {
		if required {
			return "", invalid(field, "is required")
		}
		return "", nil
	}
	var s string
	switch raw[0] {
	case '"':
		var err error
		if s, err = unquote(raw); err != nil {
			return "", invalid(field, "must be a string")
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// Any number of digits: the id is kept as its decimal text, never converted.
		if !isIntegerN(raw, MaxIDBytes) {
			return "", invalid(field, "must be a string or an integer")
		}
		s = string(raw)
	default:
		return "", invalid(field, "must be a string, got "+jsonKind(raw))
	}
	if s == "" {
		if required {
			return "", invalid(field, "must not be empty")
		}
		return "", nil
	}
	if len(s) > MaxIDBytes {
		return "", invalid(field, "must be at most 256 bytes")
	}
	if !printable(s) {
		return "", invalid(field, "must not contain control characters")
	}
	return s, nil
}

// intField accepts a JSON integer or a string of digits, 0 ≤ v ≤ max.
func intField(raw json.RawMessage, field string, max int64) (int64, error) {
	if isNull(raw) {
		return 0, nil
	}
	digits := raw
	if raw[0] == '"' {
		s, err := unquote(raw)
		if err != nil || s == "" {
			return 0, invalid(field, "must be an integer")
		}
		digits = json.RawMessage(s)
	}
	if !isInteger(digits) {
		return 0, invalid(field, "must be an integer, got "+jsonKind(raw))
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || v < 0 {
		return 0, invalid(field, "must be a non-negative integer")
	}
	if v > max {
		if max == MaxUnixSeconds {
			return 0, invalid(field, "must be Unix seconds; "+string(digits)+" looks like milliseconds")
		}
		return 0, invalid(field, "must be at most "+strconv.FormatInt(max, 10))
	}
	return v, nil
}

func stringField(raw json.RawMessage, field string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", invalid(field, "must be a string, got "+jsonKind(raw))
	}
	s, err := unquote(raw)
	if err != nil {
		return "", invalid(field, "must be a string")
	}
	if len(s) > maxParamBytes || !printable(s) {
		return "", invalid(field, "must be at most 128 printable characters")
	}
	return s, nil
}

func enumField(raw json.RawMessage, field, want string, set func(string) bool) error {
	s, err := stringField(raw, field)
	if err != nil {
		return err
	}
	if !set(s) {
		return invalid(field, strconv.Quote(truncate(s, 64))+" is not "+want)
	}
	return nil
}

// unquote decodes a JSON string; the fast path avoids a decoder for escape-free strings.
func unquote(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// isInteger reports whether b is an optionally negative decimal integer of at most 19
// digits (so that it fits an int64 unless it is out of range).
func isInteger(b []byte) bool { return isIntegerN(b, 19) }

func isIntegerN(b []byte, maxDigits int) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > maxDigits {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// printable rejects C0/C1 control characters (they would corrupt keys, logs and queues).
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError || r == 0xfffe || r == 0xffff {
			return false
		}
	}
	return true
}

// truncate shortens s for error messages without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
