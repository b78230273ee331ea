package hostile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
	bolt "go.etcd.io/bbolt"

	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/webhookauth"
)

// The deployment under attack: two apps with their own keys, a path token and a
// callback token (so Sign is checked), one admin.
const (
	appA      = 1400000001
	appB      = 1400000002
	appX      = 1400009999 // not served here
	keyA      = "hostile-catalogue-key-of-app-a-0123456789"
	keyB      = "hostile-catalogue-key-of-app-b-9876543210"
	pathToken = "path-token-0123456789abcdef"
	cbToken   = "callback-token-for-sign"
	admin     = "administrator"
)

// Kinds of response, each with its own shape.
const (
	webhook = iota // {"ErrorCode","ErrorMessage"} (v1) or {"ActionStatus","ErrorInfo","ErrorCode"} (v4)
	v1API          // HTTP 200, {"errorCode","errorMessage","requestId","data"}
	v4API          // HTTP 200, {"ActionStatus","ErrorInfo","ErrorCode","RequestId"}
	native         // HTTP status, {"error":{"code","message"},"requestId"}
	plain          // not ours: net/http's own answer (redirects, header limits)
)

// expect is what a case must get back.
type expect struct {
	status int
	code   int    // webhook ErrorCode, v1 errorCode, v4 ErrorCode
	native string // native error code
	v4ack  bool   // webhook: the v4 acknowledgement shape
	names  string // the message must contain this (the field or parameter at fault)
}

// tcase is one hostile request.
type tcase struct {
	name string
	cat  string
	kind int
	req  func(e *env) *http.Request
	want expect
	// For webhook cases through the API Gateway shim: a different expectation (nil:
	// the same), or skip when the shim cannot carry the request at all.
	apigw     *expect
	skipAPIGW string
}

// env holds what cases build their requests from.
type env struct {
	base   string // http://host:port of the target
	now    time.Time
	cursor map[string]string // valid cursors issued by the server, by name
}

// --- request builders -----------------------------------------------------------------

// v1Query is a valid v1 callback query for command on app, without Sign.
func v1Query(app int, command string) url.Values {
	return url.Values{"sdkappid": {strconv.Itoa(app)}, "command": {command}, "contenttype": {"json"},
		"clientip": {"203.0.113.7"}, "optplatform": {"iOS"}}
}

func v4Query(app int, command string) url.Values {
	return url.Values{"SdkAppid": {strconv.Itoa(app)}, "CallbackCommand": {command}, "contenttype": {"json"},
		"ClientIP": {"203.0.113.7"}, "OptPlatform": {"iOS"}}
}

// sign adds RequestTime and Tencent's Sign for it.
func sign(q url.Values, at time.Time) url.Values {
	rt := strconv.FormatInt(at.Unix(), 10)
	q.Set("RequestTime", rt)
	q.Set("Sign", webhookauth.Sign(cbToken, rt))
	return q
}

// startBody is a valid caller_start_call body with fields replaced (raw JSON values) or
// dropped (value "").
func startBody(fields map[string]string) []byte {
	base := [][2]string{
		{"UserId", `"mallory"`}, {"RoomId", `"room-hostile"`}, {"TotalNum", `2`}, {"MediaType", `"video"`},
		{"CallType", `"single"`}, {"CallId", `"hostile-call-1"`}, {"Role", `"caller"`}, {"Event", `"start_call"`},
		{"CallResult", `""`}, {"EventTime", `1795342500`},
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, kv := range base {
		v := kv[1]
		if r, ok := fields[kv[0]]; ok {
			v = r
		}
		if v == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + kv[0] + `":` + v)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

const v4StartBody = `{"CallbackCommand":"Call.CallbackAfterStartCall","CallInfo":{"CallId":"hostile-v4-1","CallMediaType":"Audio","ChatGroupId":"","RoomId":"","RoomIdType":1},` +
	`"UserList":[{"User_Account":144115212830834855,"Status":"Calling"},{"User_Account":144115212948889925,"Status":"Waiting"}],"EventTime":%s}`

// hook builds a webhook request: POST /callback/<token>?<q> with body; the query is
// signed now unless it already carries a Sign (or signing is suppressed with nosign).
func (e *env) hook(method, path string, q url.Values, body []byte) *http.Request {
	if path == "" {
		path = "/callback/" + pathToken
	}
	if _, has := q["Sign"]; !has && q.Get("nosign") == "" {
		q = sign(q, e.now)
	}
	q.Del("nosign")
	r, err := http.NewRequest(method, e.base+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

func (e *env) post(q url.Values, body []byte) *http.Request {
	return e.hook(http.MethodPost, "", q, body)
}

// rawHook sends a query string exactly as written (for encodings url.Values would fix).
func (e *env) rawHook(path, rawQuery string, body []byte) *http.Request {
	r, err := http.NewRequest(http.MethodPost, e.base+path+"?"+rawQuery, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

func userSig(app int, key, id string, expire int) string {
	s, err := tencentyun.GenUserSig(app, key, id, expire)
	if err != nil {
		panic(err)
	}
	return s
}

// authQ is a valid admin authentication for app A with overrides ("" deletes).
func authQ(over map[string]string) url.Values {
	q := url.Values{"sdkappid": {strconv.Itoa(appA)}, "identifier": {admin}, "usersig": {userSig(appA, keyA, admin, 3600)},
		"random": {"12345"}, "contenttype": {"json"}}
	for k, v := range over {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return q
}

func (e *env) api(method, path string, q url.Values, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequest(method, e.base+path+"?"+q.Encode(), rd)
	if err != nil {
		panic(err)
	}
	return r
}

func (e *env) v1(path string, over map[string]string, body string) *http.Request {
	return e.api(http.MethodPost, "/v1/records/"+path, authQ(over), []byte(body))
}

func (e *env) get(path string, over map[string]string, params string) *http.Request {
	q := authQ(over)
	if params != "" {
		extra, err := url.ParseQuery(params)
		if err != nil {
			panic(err)
		}
		for k, v := range extra {
			q[k] = v
		}
	}
	return e.api(http.MethodGet, path, q, nil)
}

// nested returns depth levels of arrays around 1.
func nested(depth int) string { return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth) }

// tamper flips one character of the cursor's signed payload.
func tamper(c string) string {
	b := []byte(c)
	i := len(b) / 4
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// --- the catalogue ----------------------------------------------------------------------

func webhookCases() []tcase {
	bad := expect{status: 400, code: 70001}
	notJSON := expect{status: 400, code: 70009}
	forbidden := expect{status: 403, code: 70001}
	v4bad := expect{status: 400, code: 70001, v4ack: true}
	ok := func(status, code int) expect { return expect{status: status, code: code} }
	named := func(e expect, field string) expect { e.names = field; return e }
	return []tcase{
		// Malformed, truncated, deeply nested JSON.
		{name: "truncated JSON", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(nil)[:40])
		}, want: notJSON},
		{name: "not JSON at all", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), []byte("UserId=mallory&CallId=1"))
		}, want: notJSON},
		{name: "empty body", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), nil)
		}, want: notJSON},
		{name: "JSON array instead of an object", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), []byte(`[`+string(startBody(nil))+`]`))
		}, want: notJSON},
		{name: "two objects back to back", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), append(startBody(nil), startBody(nil)...))
		}, want: notJSON},
		{name: "byte order mark before the object", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), append([]byte("\xef\xbb\xbf"), startBody(nil)...))
		}, want: notJSON},
		{name: "NaN is not JSON", cat: "malformed", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"TotalNum": "NaN"}))
		}, want: notJSON},
		{name: "nested 20000 deep in an unknown field", cat: "deeply nested", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), []byte(`{"Extra":`+nested(20000)+`,`+string(startBody(nil)[1:])))
		}, want: notJSON},
		{name: "nested 30000 deep, unterminated", cat: "deeply nested", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), []byte(`{"CallId":`+strings.Repeat("[", 30000)))
		}, want: notJSON},
		{name: "CallId a nested object", cat: "deeply nested", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"CallId": strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500)}))
		}, want: named(bad, "CallId")},

		// Huge bodies.
		{name: "body one byte over 64 KiB (Content-Length)", cat: "huge", req: func(e *env) *http.Request {
			pad := strings.Repeat("x", 65536-len(startBody(nil))+1-len(`,"Pad":""`))
			return e.post(v1Query(appA, "caller_start_call"), []byte(strings.TrimSuffix(string(startBody(nil)), "}")+`,"Pad":"`+pad+`"}`))
		}, want: ok(413, 70001)},
		{name: "1 MiB chunked body (no Content-Length)", cat: "huge", req: func(e *env) *http.Request {
			r := e.post(v1Query(appA, "caller_start_call"), nil)
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"Pad":"`), strings.NewReader(strings.Repeat("y", 1<<20)), strings.NewReader(`"}`)))
			r.ContentLength = -1
			return r
		}, want: ok(413, 70001)},
		{name: "100 KiB query string", cat: "huge", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Set("clientip", strings.Repeat("9", 100<<10))
			return e.post(q, startBody(nil))
		}, want: expect{status: 431}, skipAPIGW: "API Gateway has its own request-line limits; the shim's server accepts 1 MB of headers"},

		// Wrong types and values.
		{name: "EventTime a word", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"EventTime": `"yesterday"`}))
		}, want: named(bad, "EventTime")},
		{name: "EventTime 1e400", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"EventTime": `1e400`}))
		}, want: named(bad, "EventTime")},
		{name: "EventTime negative", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"EventTime": `-1795342500`}))
		}, want: named(bad, "EventTime")},
		{name: "v1 EventTime in milliseconds", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"EventTime": `1795342500000`}))
		}, want: named(bad, "EventTime")},
		{name: "TotalNum 2.5", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"TotalNum": `2.5`}))
		}, want: named(bad, "TotalNum")},
		{name: "TotalNum absurd", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"TotalNum": `99999999999`}))
		}, want: named(bad, "TotalNum")},
		{name: "UserId a boolean", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"UserId": `true`}))
		}, want: named(bad, "UserId")},
		{name: "MediaType a number", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"MediaType": `1`}))
		}, want: named(bad, "MediaType")},
		{name: "MediaType hologram", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"MediaType": `"hologram"`}))
		}, want: named(bad, "MediaType")},
		{name: "CallId missing", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"CallId": ""}))
		}, want: named(bad, "CallId")},
		{name: "UserId empty", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"UserId": `""`}))
		}, want: named(bad, "UserId")},
		{name: "EventTime missing", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"EventTime": ""}))
		}, want: named(bad, "EventTime")},
		{name: "Role contradicts the command", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"Role": `"callee"`}))
		}, want: named(bad, "Role")},
		{name: "status command with a contradicting CallResult", cat: "wrong types", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "reject"), startBody(map[string]string{"Event": "", "CallResult": `"normal_end"`}))
		}, want: named(bad, "CallResult")},
		{name: "contenttype xml", cat: "wrong types", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Set("contenttype", "xml")
			return e.post(q, startBody(nil))
		}, want: named(bad, "contenttype")},

		// Unknown commands and methods.
		{name: "unknown command", cat: "unknown command", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_drop_tables"), startBody(nil))
		}, want: named(bad, "command")},
		{name: "command with SQL appended", cat: "unknown command", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call'; DROP TABLE calls;--"), startBody(nil))
		}, want: named(bad, "command")},
		{name: "command missing", cat: "unknown command", req: func(e *env) *http.Request {
			q := v1Query(appA, "")
			q.Del("command")
			return e.post(q, startBody(nil))
		}, want: named(bad, "command")},
		{name: "v4 command name as a v1 command", cat: "unknown command", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "Call.CallbackAfterStartCall"), []byte(fmt.Sprintf(v4StartBody, "1795342500000")))
		}, want: named(bad, "command")},
		{name: "unknown v4 CallbackCommand", cat: "unknown command", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackBeforeStartCall"), []byte(fmt.Sprintf(v4StartBody, "1795342500000")))
		}, want: named(v4bad, "CallbackCommand")},
		{name: "GET instead of POST", cat: "unknown command", req: func(e *env) *http.Request {
			return e.hook(http.MethodGet, "", v1Query(appA, "caller_start_call"), nil)
		}, want: ok(405, 70001)},

		// sdkappid.
		{name: "sdkappid missing", cat: "sdkappid", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Del("sdkappid")
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "sdkappid")},
		{name: "sdkappid of another deployment", cat: "sdkappid", req: func(e *env) *http.Request {
			return e.post(v1Query(appX, "caller_start_call"), startBody(nil))
		}, want: expect{status: 403, code: 70001, names: "sdkappid: 1400009999"}},
		{name: "sdkappid not a number", cat: "sdkappid", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Set("sdkappid", "1400000001 OR 1=1")
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "sdkappid")},
		{name: "sdkappid 0", cat: "sdkappid", req: func(e *env) *http.Request {
			return e.post(v1Query(0, "caller_start_call"), startBody(nil))
		}, want: named(forbidden, "sdkappid")},
		{name: "sdkappid overflowing uint64", cat: "sdkappid", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Set("sdkappid", "184467440737095516161")
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "sdkappid")},
		{name: "v4 SdkAppid of another deployment", cat: "sdkappid", req: func(e *env) *http.Request {
			return e.post(v4Query(appX, "Call.CallbackAfterStartCall"), []byte(fmt.Sprintf(v4StartBody, "1795342500000")))
		}, want: expect{status: 403, code: 70001, v4ack: true, names: "SdkAppid: 1400009999"}},

		// Sign, RequestTime, path token.
		{name: "forged Sign", cat: "Sign", req: func(e *env) *http.Request {
			q := sign(v1Query(appA, "caller_start_call"), e.now)
			q.Set("Sign", strings.Repeat("ab", 32))
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "Sign")},
		{name: "Sign missing", cat: "Sign", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Set("RequestTime", strconv.FormatInt(e.now.Unix(), 10))
			q.Set("nosign", "1")
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "Sign")},
		{name: "Sign of another RequestTime", cat: "Sign", req: func(e *env) *http.Request {
			q := sign(v1Query(appA, "caller_start_call"), e.now)
			q.Set("RequestTime", strconv.FormatInt(e.now.Unix()+1, 10))
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "Sign")},
		{name: "Sign made with another token", cat: "Sign", req: func(e *env) *http.Request {
			q := sign(v1Query(appA, "caller_start_call"), e.now)
			q.Set("Sign", webhookauth.Sign("guessed-token", q.Get("RequestTime")))
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "Sign")},
		{name: "replayed RequestTime (10 min old, genuine Sign)", cat: "replay", req: func(e *env) *http.Request {
			return e.post(sign(v1Query(appA, "caller_start_call"), e.now.Add(-10*time.Minute)), startBody(nil))
		}, want: named(forbidden, "RequestTime")},
		{name: "RequestTime 10 min ahead (genuine Sign)", cat: "replay", req: func(e *env) *http.Request {
			return e.post(sign(v1Query(appA, "caller_start_call"), e.now.Add(10*time.Minute)), startBody(nil))
		}, want: named(forbidden, "RequestTime")},
		{name: "RequestTime beyond int64 seconds", cat: "replay", req: func(e *env) *http.Request {
			q := v1Query(appA, "caller_start_call")
			q.Set("RequestTime", "99999999999999999999")
			q.Set("Sign", webhookauth.Sign(cbToken, "99999999999999999999"))
			return e.post(q, startBody(nil))
		}, want: named(forbidden, "RequestTime")},
		{name: "wrong path token", cat: "path token", req: func(e *env) *http.Request {
			return e.hook(http.MethodPost, "/callback/"+strings.ToUpper(pathToken), v1Query(appA, "caller_start_call"), startBody(nil))
		}, want: named(forbidden, "path token")},
		{name: "no path token", cat: "path token", req: func(e *env) *http.Request {
			return e.hook(http.MethodPost, "/callback", v1Query(appA, "caller_start_call"), startBody(nil))
		}, want: named(forbidden, "path token")},
		{name: "path traversal onto the token route", cat: "path traversal", req: func(e *env) *http.Request {
			return e.hook(http.MethodPost, "/callback/x/../"+pathToken, v1Query(appA, "caller_start_call"), startBody(nil))
		}, want: expect{status: 307}, apigw: &forbidden}, // net/http redirects to the canonical path (method kept); the shim passes it on and ingest refuses the token
		{name: "extra path segment after the token", cat: "path traversal", req: func(e *env) *http.Request {
			return e.hook(http.MethodPost, "/callback/"+pathToken+"/admin", v1Query(appA, "caller_start_call"), startBody(nil))
		}, want: named(forbidden, "path token")}, // everything under /callback/ is the webhook's: a token path that is not the token
		{name: "encoded traversal in the token", cat: "path traversal", req: func(e *env) *http.Request {
			return e.rawHook("/callback/..%2F"+pathToken, sign(v1Query(appA, "caller_start_call"), e.now).Encode(), startBody(nil))
		}, want: named(forbidden, "path token")},

		// Injection-looking and invalid ids, invalid UTF-8.
		{name: "CallId with a NUL", cat: "injection", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"CallId": `"abc\u0000def"`}))
		}, want: named(bad, "CallId")},
		{name: "UserId with CRLF header injection", cat: "injection", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"UserId": `"bob\r\nX-Admin: 1"`}))
		}, want: named(bad, "UserId")},
		{name: "CallId 257 bytes", cat: "injection", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"CallId": `"` + strings.Repeat("../", 85) + `ab"`}))
		}, want: named(bad, "CallId")},
		{name: "clientip with a NUL", cat: "injection", req: func(e *env) *http.Request {
			q := sign(v1Query(appA, "caller_start_call"), e.now)
			q.Del("clientip")
			return e.rawHook("/callback/"+pathToken, q.Encode()+"&clientip=%00", startBody(nil))
		}, want: named(bad, "clientip")},
		{name: "invalid UTF-8 inside a string", cat: "invalid UTF-8", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"UserId": "\"mal\xfflory\""}))
		}, want: notJSON},
		{name: "U+FFFF in the body", cat: "invalid UTF-8", req: func(e *env) *http.Request {
			return e.post(v1Query(appA, "caller_start_call"), startBody(map[string]string{"RoomId": "\"room\uffff\""}))
		}, want: notJSON},
		{name: "invalid UTF-8 in optplatform", cat: "invalid UTF-8", req: func(e *env) *http.Request {
			q := sign(v1Query(appA, "caller_start_call"), e.now)
			q.Del("optplatform")
			return e.rawHook("/callback/"+pathToken, q.Encode()+"&optplatform=%FF%FE", startBody(nil))
		}, want: named(bad, "optplatform")},

		// v4 shapes: CallbackCommand, millisecond EventTime, numeric User_Account.
		{name: "v4 EventTime in seconds", cat: "v4", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackAfterStartCall"), []byte(fmt.Sprintf(v4StartBody, "1795342500")))
		}, want: named(v4bad, "EventTime")},
		{name: "v4 EventTime beyond year 2286 in ms", cat: "v4", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackAfterStartCall"), []byte(fmt.Sprintf(v4StartBody, "99999999999999")))
		}, want: named(v4bad, "EventTime")},
		{name: "v4 User_Account 1.5", cat: "v4", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackAfterStartCall"), []byte(strings.Replace(fmt.Sprintf(v4StartBody, "1795342500000"), "144115212830834855", "1.5", 1)))
		}, want: named(v4bad, "User_Account")},
		{name: "v4 User_Account an object", cat: "v4", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackAfterStartCall"), []byte(strings.Replace(fmt.Sprintf(v4StartBody, "1795342500000"), "144115212830834855", `{"$ne":null}`, 1)))
		}, want: named(v4bad, "User_Account")},
		{name: "v4 body CallbackCommand contradicts the query", cat: "v4", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackAfterEndCall"), []byte(fmt.Sprintf(v4StartBody, "1795342500000")))
		}, want: named(v4bad, "CallbackCommand")},
		{name: "v4 truncated body", cat: "v4", req: func(e *env) *http.Request {
			return e.post(v4Query(appA, "Call.CallbackAfterStartCall"), []byte(fmt.Sprintf(v4StartBody, "1795342500000"))[:60])
		}, want: expect{status: 400, code: 70009, v4ack: true}},
	}
}

func queryCases() []tcase {
	v1 := func(code int) expect { return expect{status: 200, code: code} }
	nat := func(status int, code string) expect { return expect{status: status, native: code} }
	const rec = "get_record_by_callId"
	const filter = "get_records_by_filter"
	return []tcase{
		// Authentication: wrong or missing sdkappid, forged/expired/foreign UserSig.
		{name: "v1 usersig missing", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"usersig": ""}, `{"callId":"seed-a-1"}`)
		}, want: v1(70001)},
		{name: "v1 usersig garbage", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"usersig": "eJyrVkrNK0nNS1GyUkoqSgEAKe0FVw__"}, `{"callId":"seed-a-1"}`)
		}, want: v1(70002)},
		{name: "v1 UserSig of another identifier", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"usersig": userSig(appA, keyA, "mallory", 3600)}, `{"callId":"seed-a-1"}`)
		}, want: v1(70002)},
		{name: "v1 UserSig signed with app B's key", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"usersig": userSig(appA, keyB, admin, 3600)}, `{"callId":"seed-a-1"}`)
		}, want: v1(70002)},
		{name: "v1 UserSig of app B presented for app A", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"usersig": userSig(appB, keyB, admin, 3600)}, `{"callId":"seed-a-1"}`)
		}, want: v1(70002)},
		{name: "v1 expired UserSig", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"usersig": userSig(appA, keyA, admin, -1)}, `{"callId":"seed-a-1"}`)
		}, want: v1(70003)},
		{name: "v1 identifier not an admin", cat: "UserSig", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"identifier": "mallory", "usersig": userSig(appA, keyA, "mallory", 3600)}, `{"callId":"seed-a-1"}`)
		}, want: v1(70004)},
		{name: "v1 sdkappid not served", cat: "sdkappid", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"sdkappid": strconv.Itoa(appX)}, `{"callId":"seed-a-1"}`)
		}, want: v1(70001)},
		{name: "v1 random not a number", cat: "sdkappid", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"random": "1;DROP"}, `{"callId":"seed-a-1"}`)
		}, want: v1(70001)},
		{name: "v1 random beyond uint32", cat: "sdkappid", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"random": "4294967296"}, `{"callId":"seed-a-1"}`)
		}, want: v1(70001)},
		{name: "v1 contenttype xml", cat: "sdkappid", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, map[string]string{"contenttype": "xml"}, `{"callId":"seed-a-1"}`)
		}, want: v1(70001)},
		{name: "v1 record of app B asked by app A", cat: "sdkappid", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `{"callId":"seed-b-1"}`)
		}, want: v1(101050)},
		{name: "v4 route record of app B asked by app A", cat: "sdkappid", kind: v4API, req: func(e *env) *http.Request {
			return e.api(http.MethodPost, "/v4/call_record_http_srv/get_record_by_callid", authQ(nil), []byte(`{"CallId":"seed-b-1"}`))
		}, want: v1(101050)},
		{name: "native usersig 3000 characters", cat: "UserSig", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/seed-a-1", map[string]string{"usersig": strings.Repeat("A", 3000)}, "")
		}, want: nat(401, "invalid_usersig")},
		{name: "native forged UserSig", cat: "UserSig", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/seed-a-1", map[string]string{"usersig": userSig(appA, "not-the-key", admin, 3600)}, "")
		}, want: nat(401, "invalid_usersig")},
		{name: "native expired UserSig", cat: "UserSig", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/seed-a-1", map[string]string{"usersig": userSig(appA, keyA, admin, -1)}, "")
		}, want: nat(401, "usersig_expired")},
		{name: "native not an admin", cat: "UserSig", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", map[string]string{"identifier": "mallory", "usersig": userSig(appA, keyA, "mallory", 3600)}, "")
		}, want: nat(403, "not_admin")},
		{name: "native sdkappid twice", cat: "sdkappid", kind: native, req: func(e *env) *http.Request {
			r := e.get("/v1/calls", nil, "")
			r.URL.RawQuery += "&sdkappid=" + strconv.Itoa(appB)
			return r
		}, want: nat(400, "invalid_parameter")},
		{name: "v4 route forged UserSig", cat: "UserSig", kind: v4API, req: func(e *env) *http.Request {
			return e.api(http.MethodPost, "/v4/call_record_http_srv/get_record_by_callid", authQ(map[string]string{"usersig": "forged"}), []byte(`{"CallId":"seed-a-1"}`))
		}, want: v1(60004)},

		// Bodies of the v1/v4 routes.
		{name: "v1 body not JSON", cat: "malformed", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `callId=seed-a-1`)
		}, want: v1(70009)},
		{name: "v1 body nested 20000 deep", cat: "deeply nested", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `{"callId":`+nested(20000)+`}`)
		}, want: v1(70009)},
		{name: "v1 callId an object", cat: "wrong types", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `{"callId":{"$gt":""}}`)
		}, want: v1(70009)},
		{name: "v1 callId 300 bytes", cat: "injection", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `{"callId":"`+strings.Repeat("a", 300)+`"}`)
		}, want: v1(70001)},
		{name: "v1 SQL-looking callId is just not found", cat: "injection", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `{"callId":"' OR '1'='1"}`)
		}, want: v1(101050)},
		{name: "v1 body over 64 KiB", cat: "huge", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(rec, nil, `{"callId":"seed-a-1","pad":"`+strings.Repeat("z", 70000)+`"}`)
		}, want: v1(70001)},
		{name: "v4 route body not JSON", cat: "malformed", kind: v4API, req: func(e *env) *http.Request {
			return e.api(http.MethodPost, "/v4/call_record_http_srv/get_record_by_callid", authQ(nil), []byte(`<xml/>`))
		}, want: v1(60003)},

		// Absurd time ranges and page sizes (v1).
		{name: "v1 startTimestamp missing", cat: "time range", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"endTimestamp":1795342500}`)
		}, want: v1(70001)},
		{name: "v1 startTimestamp beyond 2286", cat: "time range", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":99999999999}`)
		}, want: v1(70001)},
		{name: "v1 end before start", cat: "time range", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342500,"endTimestamp":1795342400}`)
		}, want: v1(70001)},
		{name: "v1 range of 50 years", cat: "time range", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1,"endTimestamp":1577836800}`)
		}, want: v1(70001)},
		{name: "v1 numberPerPage 0", cat: "page size", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342000,"numberPerPage":0}`)
		}, want: v1(70001)},
		{name: "v1 numberPerPage a million", cat: "page size", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342000,"numberPerPage":1000000}`)
		}, want: v1(70001)},
		{name: "v1 page × numberPerPage overflowing int64", cat: "page size", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342000,"numberPerPage":1000,"page":9223372036854775807}`)
		}, want: v1(70001)},
		{name: "v1 page 0", cat: "page size", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342000,"page":0}`)
		}, want: v1(70001)},
		{name: "v1 numberPerPage 10.5", cat: "wrong types", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342000,"numberPerPage":10.5}`)
		}, want: v1(70009)},
		{name: "v1 callResult unknown", cat: "wrong types", kind: v1API, req: func(e *env) *http.Request {
			return e.v1(filter, nil, `{"startTimestamp":1795342000,"callResult":"hacked"}`)
		}, want: v1(70001)},

		// Native: ids, ranges, page sizes, cursors, parameters.
		{name: "native traversal-looking callId is just not found", cat: "path traversal", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/..%2F..%2Fetc%2Fpasswd", nil, "")
		}, want: nat(404, "not_found")},
		{name: "native callId of invalid UTF-8 is just not found", cat: "invalid UTF-8", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/%FF%FE", nil, "")
		}, want: nat(404, "not_found")},
		{name: "native callId 300 bytes", cat: "injection", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/"+strings.Repeat("b", 300), nil, "")
		}, want: nat(400, "invalid_parameter")},
		{name: "native record of app B asked by app A", cat: "sdkappid", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/seed-b-1", nil, "")
		}, want: nat(404, "not_found")},
		{name: "native include=everything", cat: "wrong types", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls/seed-a-1", nil, "include=everything")
		}, want: nat(400, "invalid_parameter")},
		{name: "native from after to", cat: "time range", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "from=1795342500&to=1795342400")
		}, want: nat(400, "invalid_parameter")},
		{name: "native range of 100 years", cat: "time range", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "from=0&to=3155760000")
		}, want: nat(400, "invalid_parameter")},
		{name: "native to beyond 2286", cat: "time range", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "to=99999999999")
		}, want: nat(400, "invalid_parameter")},
		{name: "native RFC 3339 year 9999", cat: "time range", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "from=9999-12-31T23:59:59Z")
		}, want: nat(400, "invalid_parameter")},
		{name: "native from negative", cat: "time range", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "from=-86400")
		}, want: nat(400, "invalid_parameter")},
		{name: "native user history of 20 years", cat: "time range", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/users/alice/calls", nil, "from=1000000000&to=1700000000")
		}, want: nat(400, "invalid_parameter")},
		{name: "native limit 0", cat: "page size", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "limit=0")
		}, want: nat(400, "invalid_parameter")},
		{name: "native limit 201", cat: "page size", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "limit=201")
		}, want: nat(400, "invalid_parameter")},
		{name: "native limit beyond int64", cat: "page size", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "limit=99999999999999999999")
		}, want: nat(400, "invalid_parameter")},
		{name: "native tampered cursor", cat: "cursor", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, e.cursor["params"]+"&cursor="+url.QueryEscape(tamper(e.cursor["a"])))
		}, want: nat(400, "invalid_cursor")},
		{name: "native cursor with its signature cut off", cat: "cursor", kind: native, req: func(e *env) *http.Request {
			c, _, _ := strings.Cut(e.cursor["a"], ".")
			return e.get("/v1/calls", nil, e.cursor["params"]+"&cursor="+url.QueryEscape(c))
		}, want: nat(400, "invalid_cursor")},
		{name: "native cursor reused with other filters", cat: "cursor", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, e.cursor["params"]+"&mediaType=video&cursor="+url.QueryEscape(e.cursor["a"]))
		}, want: nat(400, "invalid_cursor")},
		{name: "native cursor of app B", cat: "cursor", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, e.cursor["params"]+"&cursor="+url.QueryEscape(e.cursor["b"]))
		}, want: nat(400, "invalid_cursor")},
		{name: "native cursor of 5000 characters", cat: "cursor", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, e.cursor["params"]+"&cursor="+strings.Repeat("Q", 5000)+".x")
		}, want: nat(400, "invalid_cursor")},
		{name: "native unknown parameter (a typo)", cat: "wrong types", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "userid=alice")
		}, want: nat(400, "invalid_parameter")},
		{name: "native repeated limit", cat: "wrong types", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "limit=1&limit=200")
		}, want: nat(400, "invalid_parameter")},
		{name: "native role without a user", cat: "wrong types", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/calls", nil, "role=caller")
		}, want: nat(400, "invalid_parameter")},
		{name: "native POST to a GET route", cat: "unknown route", kind: native, req: func(e *env) *http.Request {
			return e.api(http.MethodPost, "/v1/calls", authQ(nil), []byte(`{}`))
		}, want: nat(405, "method_not_allowed")},
		{name: "native unknown route", cat: "unknown route", kind: native, req: func(e *env) *http.Request {
			return e.get("/v1/admin/export", nil, "")
		}, want: nat(404, "not_found")},
	}
}

// --- checks -----------------------------------------------------------------------------

// leaks are fragments of internal error text no answer may carry.
var leaks = regexp.MustCompile(`(?i)bolt|dynamodb|boltqueue|boltstore|store: |queue: |runtime error|panic|goroutine|\.go:\d|/work/|/root/|/home/|nil pointer|exception|tencentyun|zlib|flate|illegal base64|stack trace`)

// checkAnswer checks status, shape and code of one answer, and that it leaks nothing.
func checkAnswer(kind int, want expect, status int, hdr http.Header, body []byte) error {
	if status != want.status {
		return fmt.Errorf("status %d, want %d; body %.300s", status, want.status, body)
	}
	if m := leaks.Find(body); m != nil {
		return fmt.Errorf("answer leaks internal text %q: %.300s", m, body)
	}
	if want.names != "" && !bytes.Contains(body, []byte(want.names)) {
		return fmt.Errorf("the message does not name %q: %s", want.names, body)
	}
	switch kind {
	case plain:
		return nil
	case webhook:
		if status == 307 { // net/http canonicalising the path: not ours to shape
			if hdr.Get("Location") == "" {
				return fmt.Errorf("redirect without Location")
			}
			return nil
		}
		if status == 431 {
			return nil
		}
		var a struct {
			ErrorCode    *int
			ErrorMessage *string
			ActionStatus *string
			ErrorInfo    *string
		}
		if err := json.Unmarshal(body, &a); err != nil || a.ErrorCode == nil {
			return fmt.Errorf("acknowledgement %q is not Tencent's shape (%v)", body, err)
		}
		if *a.ErrorCode != want.code {
			return fmt.Errorf("ErrorCode %d, want %d: %s", *a.ErrorCode, want.code, body)
		}
		if want.v4ack {
			if a.ActionStatus == nil || (*a.ActionStatus != "FAIL") == (want.code != 0) || a.ErrorInfo == nil {
				return fmt.Errorf("v4 acknowledgement expected: %s", body)
			}
		} else if a.ErrorMessage == nil || (want.code != 0 && *a.ErrorMessage == "") {
			return fmt.Errorf("v1 acknowledgement with a message expected: %s", body)
		}
	case v1API:
		var a struct {
			ErrorCode    *int    `json:"errorCode"`
			ErrorMessage *string `json:"errorMessage"`
			RequestID    string  `json:"requestId"`
			Data         json.RawMessage
		}
		if err := json.Unmarshal(body, &a); err != nil || a.ErrorCode == nil || a.ErrorMessage == nil {
			return fmt.Errorf("not the v1 envelope: %s", body)
		}
		if *a.ErrorCode != want.code {
			return fmt.Errorf("errorCode %d, want %d: %s", *a.ErrorCode, want.code, body)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a.RequestID) {
			return fmt.Errorf("requestId %q is not 32 hex digits", a.RequestID)
		}
	case v4API:
		var a struct {
			ActionStatus string
			ErrorCode    *int
			RequestID    string `json:"RequestId"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.ErrorCode == nil {
			return fmt.Errorf("not the v4 envelope: %s", body)
		}
		if *a.ErrorCode != want.code || (a.ActionStatus == "FAIL") != (want.code != 0) {
			return fmt.Errorf("ErrorCode %d (%s), want %d: %s", *a.ErrorCode, a.ActionStatus, want.code, body)
		}
	case native:
		var a struct {
			Error *struct {
				Code    string
				Message string
			}
			RequestID string `json:"requestId"`
		}
		if err := json.Unmarshal(body, &a); err != nil || a.Error == nil {
			return fmt.Errorf("not the native error shape: %s", body)
		}
		if a.Error.Code != want.native || a.Error.Message == "" || a.RequestID == "" {
			return fmt.Errorf("error %+v, want code %s with a message and a requestId", a.Error, want.native)
		}
	}
	return nil
}

// state is everything a request could change in the local server.
type state struct {
	depth, dead, inFlight int64
	deadLetters           string
	records               string // digest of every bucket, key and value of records.db
}

func snapshot(t *testing.T, s *localserver.Server) state {
	t.Helper()
	st := s.Queue().Stats()
	dl, err := s.Queue().DeadLetters(0)
	if err != nil {
		t.Fatal(err)
	}
	dlj, _ := json.Marshal(dl)
	h := sha256.New()
	err = s.Store().DB().View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			fmt.Fprintf(h, "bucket %x\n", name)
			return hashBucket(h, b)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return state{depth: st.Depth, dead: st.Dead, inFlight: int64(st.InFlight), deadLetters: string(dlj), records: hex.EncodeToString(h.Sum(nil))}
}

func hashBucket(h io.Writer, b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			fmt.Fprintf(h, "sub %x\n", k)
			return hashBucket(h, b.Bucket(k))
		}
		fmt.Fprintf(h, "%x=%x\n", k, v)
		return nil
	})
}

// noRedirect sees redirects instead of following them (a POST would turn into a GET).
var noRedirect = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(r *http.Request) (int, http.Header, []byte, error) {
	resp, err := noRedirect.Do(r)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, b, err
}
