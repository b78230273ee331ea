package envelope

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// The fast paths must be indistinguishable from encoding/json: Marshal byte for byte,
// Unmarshal in the values it returns and in what it accepts.

var marshalCases = []Envelope{
	{ReceivedAt: 1795342822747, RequestID: "abc-1", SDKAppID: 1400000001, CallID: "c-1", EventKey: "c-1/reject/bob/1795342500/0123456789abcdef",
		Query: map[string]string{"sdkappid": "1400000001", "command": "reject", "contenttype": "json", "clientip": "", "optplatform": "iOS"},
		Body:  []byte(`{"UserId":"bob","CallId":"c-1","EventTime":1795342500}`)},
	{Query: map[string]string{}, Body: []byte(` { "a" : [ 1 , 2 ] ,` + "\n" + ` "b" : "x y" } `)},                                // whitespace: compacted
	{RequestID: "quote\"and\\back", Query: map[string]string{}, Body: []byte(`{}`)},                                              // escapes
	{CallID: "<script>&", Query: map[string]string{"k": "<>&"}, Body: []byte(`{"RoomId":"<r&1>"}`)},                              // HTML escapes
	{CallID: "张三", EventKey: "tab\there", Query: map[string]string{"é": "ü"}, Body: []byte("{\"U\":\"\u2028\u2029\"}")},          // non-ASCII, U+2028
	{CallID: "bad\xffutf8", Query: map[string]string{}, Body: []byte(`{"a":1}`)},                                                 // invalid UTF-8
	{ReceivedAt: -5, SDKAppID: 18446744073709551615, Query: map[string]string{"b": "2", "a": "1", "c": ""}, Body: []byte(`"s"`)}, // limits, key order
	{Query: nil, Body: []byte(`{}`)},                    // no query
	{Query: map[string]string{}, Body: nil},             // no body
	{Query: map[string]string{}, Body: []byte(`{"a":`)}, // invalid body: an error, as json.Marshal gives
	{Query: map[string]string{}, Body: []byte(`[1,{"x":null},true,false,-1.5e3]`)},
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	for i, e := range marshalCases {
		e.V = Version
		want, werr := json.Marshal(&e)
		got, gerr := e.Marshal()
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d: Marshal = %s (%v), json.Marshal = %s (%v)", i, got, gerr, want, werr)
		}
		if werr == nil {
			checkUnmarshal(t, want)
		}
	}
}

func TestUnmarshalMatchesEncodingJSON(t *testing.T) {
	for _, in := range unmarshalCases {
		checkUnmarshal(t, []byte(in))
	}
}

var unmarshalCases = []string{
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{"a":"1"},"body":{"x":1}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{"x":1}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{"a":"1","a":"2"},"body":{}}`,
	`{"v":1,"receivedAt":1.0,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":1,"receivedAt":01,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":-2,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":18446744073709551616,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":99999999999,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":1,"receivedAt":1,"requestId":"r\u0041","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}} `,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{"a":}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":"}"}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":1}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{},"body":[]}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":null,"body":{}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{"a":1},"body":{}}`,
	"{\"v\":1,\"receivedAt\":1,\"requestId\":\"\xff\",\"sdkAppId\":2,\"callId\":\"c\",\"eventKey\":\"k\",\"query\":{},\"body\":{}}",
	"{\"v\":1,\"receivedAt\":1,\"requestId\":\"\t\",\"sdkAppId\":2,\"callId\":\"c\",\"eventKey\":\"k\",\"query\":{},\"body\":{}}",
	`{"V":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{}}`,
	`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":2,"callId":"c","eventKey":"k","query":{},"body":{"a":1} }`,
	`{"v":2,"query":{},"body":{}}`, `hello`, ``, `{}`, `null`,
}

func FuzzUnmarshal(f *testing.F) {
	for _, c := range unmarshalCases {
		f.Add([]byte(c))
	}
	for _, e := range marshalCases {
		e.V = Version
		if b, err := json.Marshal(&e); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkUnmarshal(t, b) })
}

// checkUnmarshal compares Unmarshal with decoding by encoding/json alone.
func checkUnmarshal(t *testing.T, b []byte) {
	t.Helper()
	got, gerr := Unmarshal(b)
	var want Envelope
	werr := json.Unmarshal(b, &want)
	if werr == nil {
		werr = check(want)
	}
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%q: Unmarshal error %v, encoding/json error %v", b, gerr, werr)
	}
	if gerr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: Unmarshal = %+v, encoding/json = %+v", b, got, want)
	}
}

func FuzzMarshal(f *testing.F) {
	for _, e := range marshalCases {
		k, v := "command", "reject"
		for k2, v2 := range e.Query {
			k, v = k2, v2
		}
		f.Add(e.RequestID, e.CallID, e.EventKey, k, v, []byte(e.Body), e.ReceivedAt, e.SDKAppID)
	}
	f.Fuzz(func(t *testing.T, rid, callID, key, k, v string, body []byte, at int64, app uint64) {
		e := Envelope{V: Version, ReceivedAt: at, RequestID: rid, SDKAppID: app, CallID: callID, EventKey: key,
			Query: map[string]string{k: v, "sdkappid": "1"}, Body: body}
		want, werr := json.Marshal(&e)
		got, gerr := e.Marshal()
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("Marshal = %s (%v), json.Marshal = %s (%v)", got, gerr, want, werr)
		}
		if werr == nil {
			checkUnmarshal(t, want)
		}
	})
}
