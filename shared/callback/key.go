package callback

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"strconv"
)

// Key identifies a distinct callback. Tencent's retries of one callback produce the same
// Key; two callbacks that differ in any field the record depends on produce different
// Keys. ClientIP is deliberately not part of it: it is transport metadata.
type Key struct {
	CallID    string
	Command   Command
	UserID    string
	EventTime int64
	Hash      string // 16 hex digits of SHA-256 over the canonical callback
}

// Key returns the callback's deterministic event key.
func (c *Callback) Key() Key {
	sum := sha256.Sum256(c.appendCanonical(make([]byte, 0, 256)))
	return Key{CallID: c.CallID, Command: c.Command, UserID: c.UserID, EventTime: c.EventTime, Hash: hex.EncodeToString(sum[:8])}
}

// String renders the key as "callId/command/userId/eventTime/hash" with the ids
// path-escaped, so it is unambiguous and safe as a queue message attribute.
func (k Key) String() string {
	return url.PathEscape(k.CallID) + "/" + k.Command.String() + "/" + url.PathEscape(k.UserID) + "/" +
		strconv.FormatInt(k.EventTime, 10) + "/" + k.Hash
}

// appendCanonical writes every record-relevant field, length-prefixed, in a fixed order.
func (c *Callback) appendCanonical(b []byte) []byte {
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(v int64) { b = binary.AppendVarint(b, v) }
	b = append(b, 'v', '1')
	num(int64(c.SDKAppID))
	b = append(b, byte(c.Command), byte(c.MediaType), byte(c.CallType), byte(c.Role), byte(c.CallResult))
	str(c.CallID)
	str(c.UserID)
	str(c.RoomID)
	str(c.OptPlatform)
	num(int64(c.TotalNum))
	num(c.EventTime)
	num(c.StartCallTs)
	num(c.AcceptTs)
	num(c.EndTs)
	if v := c.V4; v != nil {
		b = append(b, 'v', '4')
		num(v.EventTimeMs)
		str(v.ChatGroupID)
		num(int64(v.RoomIDType))
		num(int64(len(v.Users)))
		for _, u := range v.Users {
			str(u.Account)
			b = append(b, byte(u.Status))
		}
		num(int64(len(v.Changed)))
		for _, ch := range v.Changed {
			str(ch.Account)
			b = append(b, byte(ch.Action))
		}
		if r := v.Record; r != nil {
			str(r.Caller)
			num(int64(len(r.Callees)))
			for _, c := range r.Callees {
				str(c)
			}
		}
	}
	return b
}
