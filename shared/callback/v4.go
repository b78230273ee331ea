package callback

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// The 2025 "v4" callbacks: query parameters SdkAppid, CallbackCommand, contenttype,
// ClientIP, OptPlatform; EventTime in milliseconds; accounts may arrive as numbers.

// V4Status is a member's status in a v4 UserList.
type V4Status uint8

const (
	V4StatusUnknown V4Status = iota
	V4Calling                // in the call
	V4Waiting                // invited, not connected yet
)

func (s V4Status) String() string {
	switch s {
	case V4Calling:
		return "Calling"
	case V4Waiting:
		return "Waiting"
	}
	return ""
}

// V4Action is a member change (ChangedUserList ActionType).
type V4Action uint8

const (
	V4ActionUnknown V4Action = iota
	V4Accept
	V4Reject
	V4NotAnswer
	V4Hangup
	V4Join
	V4Offline
	V4Invite
	V4CancelInvite
)

var v4ActionNames = []string{"", "Accept", "Reject", "NotAnswer", "Hangup", "Join", "Offline", "Invite", "Cancel_Invite"}

func (a V4Action) String() string {
	if int(a) < len(v4ActionNames) {
		return v4ActionNames[a]
	}
	return ""
}

// ParseV4Action accepts Tencent's documented spellings: Accept/Answer, Hangup/HangUp/
// "Hang Up", Invite/Invited, Cancel_Invite (also the docs' "Canncel_Invite"), any case.
func ParseV4Action(s string) (V4Action, bool) {
	switch foldEnum(s) {
	case "accept", "answer":
		return V4Accept, true
	case "reject":
		return V4Reject, true
	case "notanswer":
		return V4NotAnswer, true
	case "hangup":
		return V4Hangup, true
	case "join":
		return V4Join, true
	case "offline":
		return V4Offline, true
	case "invite", "invited":
		return V4Invite, true
	case "cancelinvite", "canncelinvite":
		return V4CancelInvite, true
	}
	return V4ActionUnknown, false
}

// ParseV4Status accepts Calling/Waiting, any case.
func ParseV4Status(s string) (V4Status, bool) {
	switch foldEnum(s) {
	case "":
		return V4StatusUnknown, true
	case "calling":
		return V4Calling, true
	case "waiting":
		return V4Waiting, true
	}
	return V4StatusUnknown, false
}

// V4Member is an entry of a UserList.
type V4Member struct {
	Account string
	Status  V4Status
}

// V4Change is an entry of a ChangedUserList.
type V4Change struct {
	Account string
	Action  V4Action
}

// V4Record is the CallRecord of Call.CallbackAfterEndCall (the rest of it — call id,
// media and call type, result, room, times — is in the Callback's common fields).
type V4Record struct {
	Caller  string
	Callees []string // CalleeList_Account as sent (Tencent lists the caller there too)
}

// V4 is the generation-specific payload of a v4 callback.
type V4 struct {
	EventTimeMs int64
	ChatGroupID string
	RoomIDType  int
	Users       []V4Member
	Changed     []V4Change
	Record      *V4Record
}

// IsV4Request tells the generations apart by their query parameters.
func IsV4Request(q url.Values) bool { return q.Has("CallbackCommand") || q.Has("SdkAppid") }

// Limits of v4 payloads.
const (
	MaxV4Members  = 1000
	minUnixMillis = 100000000000 // 1973: anything smaller is seconds sent as milliseconds
)

type rawV4 struct {
	CallbackCommand json.RawMessage
	CallId          json.RawMessage
	CallInfo        json.RawMessage
	CallRecord      json.RawMessage
	UserList        json.RawMessage
	ChangedUserList json.RawMessage
	EventTime       json.RawMessage
}

type rawCallInfo struct {
	CallId        json.RawMessage
	CallMediaType json.RawMessage
	MediaType     json.RawMessage
	ChatGroupId   json.RawMessage
	RoomId        json.RawMessage
	RoomIdType    json.RawMessage
}

type rawCallRecord struct {
	CallId             json.RawMessage
	Caller_Account     json.RawMessage
	CalleeList_Account json.RawMessage
	MediaType          json.RawMessage
	CallType           json.RawMessage
	StartTime          json.RawMessage
	EndTime            json.RawMessage
	AcceptTime         json.RawMessage
	CallResult         json.RawMessage
	RoomId             json.RawMessage
	RoomIdType         json.RawMessage
}

type rawMember struct {
	User_Account json.RawMessage
	Status       json.RawMessage
	ActionType   json.RawMessage
}

func parseV4(q url.Values, body []byte) (Callback, error) {
	var cb Callback
	s := q.Get("SdkAppid")
	if s == "" {
		return cb, invalid("SdkAppid", "query parameter is required")
	}
	var err error
	if cb.SDKAppID, err = parseAppID(s); err != nil {
		return cb, invalid("SdkAppid", "must be a positive integer")
	}
	word := q.Get("CallbackCommand")
	var ok bool
	if cb.Command, ok = ParseCommand(word); !ok || !cb.Command.IsV4() {
		return cb, invalid("CallbackCommand", "unknown command "+strconv.Quote(truncate(word, 64))+"; want Call.CallbackAfterStartCall, Call.CallbackAfterEndCall or Call.CallbackAfterMemberChanged")
	}
	if ct := q.Get("contenttype"); ct != "" && !strings.EqualFold(ct, "json") {
		return cb, invalid("contenttype", "must be json")
	}
	if cb.ClientIP, err = param(q, "ClientIP"); err != nil {
		return cb, err
	}
	var plat string
	if plat, err = param(q, "OptPlatform"); err != nil {
		return cb, err
	}
	cb.OptPlatform = CanonicalPlatform(plat)

	body, err = jsonObject(body)
	if err != nil {
		return cb, err
	}
	var rb rawV4
	if err := json.Unmarshal(body, &rb); err != nil {
		return cb, malformed("body is not valid JSON")
	}
	if bodyCmd, err := stringField(rb.CallbackCommand, "CallbackCommand"); err != nil {
		return cb, err
	} else if bodyCmd != "" && !strings.EqualFold(bodyCmd, cb.Command.String()) {
		return cb, invalid("CallbackCommand", "body says "+strconv.Quote(truncate(bodyCmd, 64))+", the query says "+cb.Command.String())
	}
	v4 := &V4{}
	cb.V4 = v4
	if v4.EventTimeMs, err = intField(rb.EventTime, "EventTime", MaxUnixSeconds*1000+999); err != nil {
		return cb, err
	}
	switch {
	case v4.EventTimeMs == 0:
		return cb, invalid("EventTime", "is required (Unix milliseconds)")
	case v4.EventTimeMs < minUnixMillis:
		return cb, invalid("EventTime", "must be Unix milliseconds; "+strconv.FormatInt(v4.EventTimeMs, 10)+" looks like seconds")
	}
	cb.EventTime = v4.EventTimeMs / 1000

	switch cb.Command {
	case CmdV4StartCall:
		err = parseStartCall(&cb, &rb)
	case CmdV4EndCall:
		err = parseEndCall(&cb, &rb)
	case CmdV4MemberChanged:
		err = parseMemberChanged(&cb, &rb)
	}
	return cb, err
}

// jsonObject checks what every body must be before its fields are read.
func jsonObject(body []byte) ([]byte, error) {
	body = trimSpace(body)
	if len(body) == 0 {
		return nil, malformed("body is empty; expected a JSON object")
	}
	if err := checkText(body); err != nil {
		return nil, err
	}
	if body[0] != '{' {
		if !json.Valid(body) {
			return nil, malformed("body is not valid JSON")
		}
		return nil, malformed("body must be a JSON object")
	}
	return body, nil
}

func object(raw json.RawMessage, field string, required bool, v any) (bool, error) {
	if isNull(raw) {
		if required {
			return false, invalid(field, "is required")
		}
		return false, nil
	}
	if raw[0] != '{' {
		return false, invalid(field, "must be an object, got "+jsonKind(raw))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, invalid(field, "must be an object")
	}
	return true, nil
}

func members(raw json.RawMessage, field string, required bool) ([]rawMember, error) {
	if isNull(raw) {
		if required {
			return nil, invalid(field, "is required")
		}
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, invalid(field, "must be an array, got "+jsonKind(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid(field, "must be an array")
	}
	if len(items) > MaxV4Members {
		return nil, invalid(field, "has more than 1000 entries")
	}
	if required && len(items) == 0 {
		return nil, invalid(field, "must not be empty")
	}
	out := make([]rawMember, len(items))
	for i, it := range items {
		if _, err := object(it, field+"["+strconv.Itoa(i)+"]", true, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func userList(cb *Callback, raw json.RawMessage, required bool) error {
	ms, err := members(raw, "UserList", required)
	if err != nil {
		return err
	}
	for i, m := range ms {
		f := "UserList[" + strconv.Itoa(i) + "]"
		acct, err := idField(m.User_Account, f+".User_Account", true)
		if err != nil {
			return err
		}
		var st V4Status
		if err := enumField(m.Status, f+".Status", "Calling or Waiting", func(s string) bool {
			var ok bool
			st, ok = ParseV4Status(s)
			return ok
		}); err != nil {
			return err
		}
		cb.V4.Users = append(cb.V4.Users, V4Member{Account: acct, Status: st})
	}
	return nil
}

func roomIDType(raw json.RawMessage, field string) (int, error) {
	n, err := intField(raw, field, 2)
	if err != nil {
		return 0, invalid(field, "must be 1 (numeric room) or 2 (string room)")
	}
	return int(n), nil
}

func parseStartCall(cb *Callback, rb *rawV4) error {
	var ci rawCallInfo
	if _, err := object(rb.CallInfo, "CallInfo", true, &ci); err != nil {
		return err
	}
	var err error
	if cb.CallID, err = idField(ci.CallId, "CallInfo.CallId", true); err != nil {
		return err
	}
	media := ci.CallMediaType // the example's name; the field table says MediaType
	name := "CallInfo.CallMediaType"
	if isNull(media) {
		media, name = ci.MediaType, "CallInfo.MediaType"
	}
	if err := enumField(media, name, "Audio or Video", func(s string) bool {
		var ok bool
		cb.MediaType, ok = ParseMediaType(s)
		return ok
	}); err != nil {
		return err
	}
	if cb.V4.ChatGroupID, err = idField(ci.ChatGroupId, "CallInfo.ChatGroupId", false); err != nil {
		return err
	}
	if cb.RoomID, err = idField(ci.RoomId, "CallInfo.RoomId", false); err != nil {
		return err
	}
	if cb.V4.RoomIDType, err = roomIDType(ci.RoomIdType, "CallInfo.RoomIdType"); err != nil {
		return err
	}
	if err := userList(cb, rb.UserList, true); err != nil {
		return err
	}
	cb.TotalNum = len(cb.V4.Users)
	// The callback's user: the one calling (the initiator), else the first listed.
	cb.UserID = cb.V4.Users[0].Account
	for _, u := range cb.V4.Users {
		if u.Status == V4Calling {
			cb.UserID, cb.Role = u.Account, RoleCaller
			break
		}
	}
	return nil
}

func parseEndCall(cb *Callback, rb *rawV4) error {
	var cr rawCallRecord
	if _, err := object(rb.CallRecord, "CallRecord", true, &cr); err != nil {
		return err
	}
	var err error
	if cb.CallID, err = idField(cr.CallId, "CallRecord.CallId", true); err != nil {
		return err
	}
	rec := &V4Record{}
	cb.V4.Record = rec
	if rec.Caller, err = idField(cr.Caller_Account, "CallRecord.Caller_Account", false); err != nil {
		return err
	}
	if !isNull(cr.CalleeList_Account) {
		var items []json.RawMessage
		if cr.CalleeList_Account[0] != '[' || json.Unmarshal(cr.CalleeList_Account, &items) != nil {
			return invalid("CallRecord.CalleeList_Account", "must be an array of accounts")
		}
		if len(items) > MaxV4Members {
			return invalid("CallRecord.CalleeList_Account", "has more than 1000 entries")
		}
		for i, it := range items {
			a, err := idField(it, "CallRecord.CalleeList_Account["+strconv.Itoa(i)+"]", true)
			if err != nil {
				return err
			}
			rec.Callees = append(rec.Callees, a)
		}
	}
	if err := enumField(cr.MediaType, "CallRecord.MediaType", "Audio or Video", func(s string) bool {
		var ok bool
		cb.MediaType, ok = ParseMediaType(s)
		return ok
	}); err != nil {
		return err
	}
	if err := enumField(cr.CallType, "CallRecord.CallType", "SingleCall or MultiCall", func(s string) bool {
		var ok bool
		cb.CallType, ok = ParseCallType(s)
		return ok
	}); err != nil {
		return err
	}
	if err := enumField(cr.CallResult, "CallRecord.CallResult", "one of Cancel, Reject, NotAnswer, NormalEnd, CallBusy, Interrupt, Offline", func(s string) bool {
		var ok bool
		cb.CallResult, ok = ParseResult(s)
		return ok
	}); err != nil {
		return err
	}
	if cb.CallResult == ResultNone {
		return invalid("CallRecord.CallResult", "is required")
	}
	if cb.StartCallTs, err = intField(cr.StartTime, "CallRecord.StartTime", MaxUnixSeconds); err != nil {
		return err
	}
	if cb.AcceptTs, err = intField(cr.AcceptTime, "CallRecord.AcceptTime", MaxUnixSeconds); err != nil {
		return err
	}
	if cb.EndTs, err = intField(cr.EndTime, "CallRecord.EndTime", MaxUnixSeconds); err != nil {
		return err
	}
	if cb.RoomID, err = idField(cr.RoomId, "CallRecord.RoomId", false); err != nil {
		return err
	}
	if cb.V4.RoomIDType, err = roomIDType(cr.RoomIdType, "CallRecord.RoomIdType"); err != nil {
		return err
	}
	members := map[string]bool{}
	if rec.Caller != "" {
		members[rec.Caller] = true
	}
	for _, c := range rec.Callees {
		members[c] = true
	}
	cb.TotalNum = len(members)
	switch {
	case rec.Caller != "":
		cb.UserID, cb.Role = rec.Caller, RoleCaller
	case len(rec.Callees) > 0:
		cb.UserID = rec.Callees[0]
	default:
		return invalid("CallRecord.Caller_Account", "is required when CalleeList_Account is empty")
	}
	return nil
}

func parseMemberChanged(cb *Callback, rb *rawV4) error {
	var err error
	if cb.CallID, err = idField(rb.CallId, "CallId", true); err != nil {
		return err
	}
	if err := userList(cb, rb.UserList, false); err != nil {
		return err
	}
	ms, err := members(rb.ChangedUserList, "ChangedUserList", true)
	if err != nil {
		return err
	}
	for i, m := range ms {
		f := "ChangedUserList[" + strconv.Itoa(i) + "]"
		acct, err := idField(m.User_Account, f+".User_Account", true)
		if err != nil {
			return err
		}
		s, err := stringField(m.ActionType, f+".ActionType")
		if err != nil {
			return err
		}
		a, ok := ParseV4Action(s)
		if !ok {
			return invalid(f+".ActionType", strconv.Quote(truncate(s, 64))+" is not one of Accept, Reject, NotAnswer, Hangup, Join, Offline, Invite, Cancel_Invite")
		}
		cb.V4.Changed = append(cb.V4.Changed, V4Change{Account: acct, Action: a})
	}
	cb.UserID = cb.V4.Changed[0].Account
	return nil
}

// --- rendering --------------------------------------------------------------------------

type wireV4Member struct {
	User_Account string `json:"User_Account"`
	Status       string `json:"Status,omitempty"`
	ActionType   string `json:"ActionType,omitempty"`
}

// renderV4 produces what Tencent would send for a v4 callback.
func (c *Callback) renderV4() (url.Values, []byte) {
	q := url.Values{}
	q.Set("SdkAppid", strconv.FormatUint(c.SDKAppID, 10))
	q.Set("CallbackCommand", c.Command.String())
	q.Set("contenttype", "json")
	if c.ClientIP != "" {
		q.Set("ClientIP", c.ClientIP)
	}
	if c.OptPlatform != "" {
		q.Set("OptPlatform", c.OptPlatform)
	}
	users := make([]wireV4Member, 0, len(c.V4.Users))
	for _, u := range c.V4.Users {
		users = append(users, wireV4Member{User_Account: u.Account, Status: u.Status.String()})
	}
	v4Media := map[MediaType]string{MediaAudio: "Audio", MediaVideo: "Video"}[c.MediaType]
	body := map[string]any{"CallbackCommand": c.Command.String(), "EventTime": c.V4.EventTimeMs}
	switch c.Command {
	case CmdV4StartCall:
		body["CallInfo"] = map[string]any{"CallId": c.CallID, "CallMediaType": v4Media, "ChatGroupId": c.V4.ChatGroupID, "RoomId": c.RoomID, "RoomIdType": c.V4.RoomIDType}
		body["UserList"] = users
	case CmdV4EndCall:
		callees := c.V4.Record.Callees
		if callees == nil {
			callees = []string{}
		}
		body["CallRecord"] = map[string]any{"CallId": c.CallID, "Caller_Account": c.V4.Record.Caller, "MediaType": v4Media,
			"CallType": V4CallType(c.CallType), "StartTime": c.StartCallTs, "EndTime": c.EndTs, "AcceptTime": c.AcceptTs,
			"CallResult": V4Result(c.CallResult), "CalleeList_Account": callees, "RoomId": c.RoomID, "RoomIdType": c.V4.RoomIDType}
	case CmdV4MemberChanged:
		changed := make([]wireV4Member, 0, len(c.V4.Changed))
		for _, ch := range c.V4.Changed {
			changed = append(changed, wireV4Member{User_Account: ch.Account, ActionType: ch.Action.String()})
		}
		body["CallId"] = c.CallID
		body["UserList"] = users
		body["ChangedUserList"] = changed
	}
	b, _ := json.Marshal(body)
	return q, b
}

// V4CallType spells a call type the v4 way (SingleCall, MultiCall).
func V4CallType(t CallType) string {
	switch t {
	case CallTypeSingle:
		return "SingleCall"
	case CallTypeGroup:
		return "MultiCall"
	}
	return ""
}

// V4MediaType spells a media type the v4 way (Audio, Video).
func V4MediaType(m MediaType) string {
	switch m {
	case MediaAudio:
		return "Audio"
	case MediaVideo:
		return "Video"
	}
	return ""
}

// V4Result spells a call result the v4 way (NormalEnd, NotAnswer, …).
func V4Result(r Result) string {
	switch r {
	case ResultCancel:
		return "Cancel"
	case ResultReject:
		return "Reject"
	case ResultNotAnswer:
		return "NotAnswer"
	case ResultNormalEnd:
		return "NormalEnd"
	case ResultCallBusy:
		return "CallBusy"
	case ResultInterrupt:
		return "Interrupt"
	case ResultOffline:
		return "Offline"
	}
	return ""
}
