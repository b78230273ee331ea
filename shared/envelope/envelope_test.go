package envelope_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"testing"

	"github.com/callkit-records/callkit-records/shared/envelope"
)

func TestRoundTrip(t *testing.T) {
	body := []byte("{ \"UserId\" : \"张三\",\n \"CallId\": 12345678901234567, \"RoomId\":\"<r&1>\" }")
	e := envelope.Envelope{
		ReceivedAt: 1795342822747,
		RequestID:  "kPAa7d7up33runs=",
		SDKAppID:   1400000001,
		CallID:     "12345678901234567",
		EventKey:   "12345678901234567/caller_start_call/%E5%BC%A0%E4%B8%89/1795342500/0123456789abcdef",
		Query:      map[string]string{"sdkappid": "1400000001", "command": "caller_start_call"},
		Body:       body,
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := envelope.Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if got.V != envelope.Version || got.ReceivedAt != e.ReceivedAt || got.RequestID != e.RequestID || got.SDKAppID != e.SDKAppID ||
		got.CallID != e.CallID || got.EventKey != e.EventKey || !reflect.DeepEqual(got.Query, e.Query) {
		t.Errorf("round trip = %+v, want %+v", got, e)
	}
	// The body is kept as JSON, compacted, numbers exact.
	var gotBody, wantBody map[string]any
	dec := func(b []byte, v *map[string]any) {
		t.Helper()
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	dec(got.Body, &gotBody)
	dec(body, &wantBody)
	if !reflect.DeepEqual(gotBody, wantBody) {
		t.Errorf("body %s, want %s", got.Body, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "receivedAt", "requestId", "sdkAppId", "callId", "eventKey", "query", "body"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("wire format lacks %q: %s", k, b)
		}
	}
	if string(raw["body"])[0] != '{' {
		t.Errorf("body is not embedded as a JSON object: %s", raw["body"])
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":      `hello`,
		"wrong version": `{"v":2,"query":{},"body":{}}`,
		"no version":    `{"query":{},"body":{}}`,
		"no body":       `{"v":1,"query":{}}`,
		"no query":      `{"v":1,"body":{}}`,
		"empty":         ``,
	} {
		if _, err := envelope.Unmarshal([]byte(in)); !errors.Is(err, envelope.ErrBadEnvelope) {
			t.Errorf("%s: %v, want ErrBadEnvelope", name, err)
		}
	}
}

func TestQueryMap(t *testing.T) {
	q := url.Values{
		"sdkappid":    {"1400000001"},
		"command":     {"reject", "cancel"},
		"Sign":        {"abc"},
		"RequestTime": {"1795342500"},
		"empty":       {},
		"clientip":    {""},
	}
	got := envelope.QueryMap(q)
	want := map[string]string{"sdkappid": "1400000001", "command": "reject", "clientip": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("QueryMap = %v, want %v", got, want)
	}
	e := envelope.Envelope{Query: got}
	if v := e.Values(); v.Get("command") != "reject" || v.Get("sdkappid") != "1400000001" || v.Has("Sign") || len(v) != 3 {
		t.Errorf("Values = %v", v)
	}
}
