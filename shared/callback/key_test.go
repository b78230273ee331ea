package callback_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/callback"
)

var hashRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestKeyDeterministic(t *testing.T) {
	for _, f := range loadFixtures(t) {
		a := mustParse(t, f.Values(), f.Body)
		b := mustParse(t, f.Values(), append([]byte(nil), f.Body...))
		ka, kb := a.Key(), b.Key()
		if ka != kb || ka.String() != kb.String() {
			t.Errorf("%s: two parses give keys %v and %v", f.File, ka, kb)
		}
		if !hashRE.MatchString(ka.Hash) {
			t.Errorf("%s: Hash %q is not 16 lowercase hex digits", f.File, ka.Hash)
		}
		if ka.CallID != a.CallID || ka.UserID != a.UserID || ka.Command != a.Command || ka.EventTime != a.EventTime {
			t.Errorf("%s: key %+v does not carry the callback's identity", f.File, ka)
		}
	}
}

// All 27 fixtures are distinct callbacks, so all keys must differ.
func TestKeyDistinctAcrossFixtures(t *testing.T) {
	seen := map[string]string{}
	for _, f := range loadFixtures(t) {
		cb := mustParse(t, f.Values(), f.Body)
		k := cb.Key()
		if prev, ok := seen[k.Hash]; ok {
			t.Errorf("%s and %s share hash %s", prev, f.File, k.Hash)
		}
		seen[k.Hash] = f.File
	}
}

// Tencent's retries of one callback can arrive from another callback server, and the
// same callback may be re-serialised differently (key order, numeric vs string ids,
// enum spelling): none of that is a new event.
func TestKeySameForRetries(t *testing.T) {
	base := mustParse(t, query("caller_start_call"), body(nil))
	variants := []struct {
		name string
		q    url.Values
		b    []byte
	}{
		{"other clientip", query("caller_start_call", "clientip", "198.51.100.99"), body(nil)},
		{"no clientip", func() url.Values { q := query("caller_start_call"); q.Del("clientip"); return q }(), body(nil)},
		{"other key order and spacing", query("caller_start_call"), []byte(`{ "EventTime": 1795342500, "CallResult": "", "Event": "start_call", "Role": "caller",
			"CallId": "` + testCall + `", "CallType": "single", "MediaType": "video", "TotalNum": 2, "RoomId": "795425564", "UserId": "alice" }`)},
		{"enum spellings", query("CALLER_START_CALL", "optplatform", "IOS"), body(map[string]string{"MediaType": `"Video"`, "CallType": `"SingleCall"`, "Role": `"Caller"`, "Event": `"Start_Call"`})},
		{"numbers as strings", query("caller_start_call"), body(map[string]string{"TotalNum": `"2"`, "EventTime": `"1795342500"`, "RoomId": `795425564`})},
		{"Event and Role omitted (implied)", query("caller_start_call"), body(map[string]string{"Event": "", "Role": ""})},
	}
	for _, v := range variants {
		cb := mustParse(t, v.q, v.b)
		if cb.Key() != base.Key() || cb.Key().String() != base.Key().String() {
			t.Errorf("%s: key %s, want %s", v.name, cb.Key(), base.Key())
		}
	}
}

func TestKeyChangesWithEveryRecordField(t *testing.T) {
	base := mustParse(t, query("normal_end"), minimal(`"RoomId":"r1"`, `"TotalNum":2`, `"MediaType":"video"`, `"CallType":"single"`,
		`"Role":"caller"`, `"StartCallTs":1795342400`, `"AcceptTs":1795342410`, `"EndTs":1795342490`))
	mutations := map[string]func(c *callback.Callback){
		"SDKAppID":    func(c *callback.Callback) { c.SDKAppID++ },
		"Command":     func(c *callback.Callback) { c.Command = callback.CmdCallEnd },
		"CallID":      func(c *callback.Callback) { c.CallID += "x" },
		"UserID":      func(c *callback.Callback) { c.UserID = "u-2" },
		"RoomID":      func(c *callback.Callback) { c.RoomID = "r2" },
		"TotalNum":    func(c *callback.Callback) { c.TotalNum = 3 },
		"MediaType":   func(c *callback.Callback) { c.MediaType = callback.MediaAudio },
		"CallType":    func(c *callback.Callback) { c.CallType = callback.CallTypeGroup },
		"Role":        func(c *callback.Callback) { c.Role = callback.RoleCallee },
		"CallResult":  func(c *callback.Callback) { c.CallResult = callback.ResultInterrupt },
		"EventTime":   func(c *callback.Callback) { c.EventTime++ },
		"StartCallTs": func(c *callback.Callback) { c.StartCallTs++ },
		"AcceptTs":    func(c *callback.Callback) { c.AcceptTs++ },
		"EndTs":       func(c *callback.Callback) { c.EndTs++ },
		"OptPlatform": func(c *callback.Callback) { c.OptPlatform = "Android" },
		// Length-prefixing: moving a byte from one id to the next is a different callback.
		"CallID/UserID boundary": func(c *callback.Callback) { c.CallID, c.UserID = c.CallID+"u", strings.TrimPrefix(c.UserID, "u") },
		"RoomID/OptPlatform boundary": func(c *callback.Callback) {
			c.RoomID, c.OptPlatform = c.RoomID+c.OptPlatform[:1], c.OptPlatform[1:]
		},
	}
	seen := map[string]string{base.Key().Hash: "base"}
	for name, mutate := range mutations {
		c := base
		mutate(&c)
		if c == base {
			t.Fatalf("%s: mutation changed nothing", name)
		}
		h := c.Key().Hash
		if prev, dup := seen[h]; dup {
			t.Errorf("%s: hash %s equals that of %s", name, h, prev)
		}
		seen[h] = name
	}
	// ClientIP is transport metadata: not part of the key.
	c := base
	c.ClientIP = "192.0.2.200"
	if c.Key() != base.Key() {
		t.Errorf("ClientIP changed the key")
	}
}

// The same changes made on the wire (through Parse) change the hash too.
func TestKeyChangesThroughParse(t *testing.T) {
	base := mustParse(t, query("caller_call_end"), body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`}))
	for name, b := range map[string][]byte{
		"UserId":      body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "UserId": `"alice2"`}),
		"EventTime":   body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "EventTime": `1795342501`}),
		"CallResult":  body(map[string]string{"Event": `"call_end"`, "CallResult": `"interrupt"`}),
		"TotalNum":    body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "TotalNum": `3`}),
		"MediaType":   body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "MediaType": `"audio"`}),
		"RoomId":      body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "RoomId": `"795425565"`}),
		"StartCallTs": body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "StartCallTs": `1795342400`}),
		"AcceptTs":    body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "AcceptTs": `1795342400`}),
		"EndTs":       body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "EndTs": `1795342400`}),
		"CallType":    body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`, "CallType": `"group"`}),
	} {
		cb := mustParse(t, query("caller_call_end"), b)
		if cb.Key().Hash == base.Key().Hash {
			t.Errorf("changing %s kept hash %s", name, base.Key().Hash)
		}
	}
	cb := mustParse(t, query("caller_call_end", "optplatform", "Web"), body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`}))
	if cb.Key().Hash == base.Key().Hash {
		t.Errorf("changing optplatform kept the hash")
	}
	cb = mustParse(t, query("caller_call_end", "sdkappid", "1400000002"), body(map[string]string{"Event": `"call_end"`, "CallResult": `"normal_end"`}))
	if cb.Key().Hash == base.Key().Hash {
		t.Errorf("changing sdkappid kept the hash")
	}
}

func TestKeyStringEscapesIDs(t *testing.T) {
	cases := []struct{ callID, userID string }{
		{"a/b/c", "u/v"},
		{"plain", "alice"},
		{"with space%25", "张三/李四"},
		{"/", "//"},
	}
	for _, tc := range cases {
		cb := mustParse(t, query("caller_start_call"), body(map[string]string{
			"CallId": `"` + tc.callID + `"`, "UserId": `"` + tc.userID + `"`}))
		s := cb.Key().String()
		parts := strings.Split(s, "/")
		if len(parts) != 5 {
			t.Fatalf("Key.String() = %q splits into %d parts, want 5", s, len(parts))
		}
		gotCall, err1 := url.PathUnescape(parts[0])
		gotUser, err2 := url.PathUnescape(parts[2])
		if err1 != nil || err2 != nil || gotCall != tc.callID || gotUser != tc.userID {
			t.Errorf("%q: ids unescape to %q/%q (%v %v), want %q/%q", s, gotCall, gotUser, err1, err2, tc.callID, tc.userID)
		}
		if parts[1] != "caller_start_call" || parts[3] != "1795342500" || !hashRE.MatchString(parts[4]) {
			t.Errorf("%q: command/time/hash parts wrong", s)
		}
	}
}
