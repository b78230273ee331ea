package callback_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
)

// checkErr asserts that err matches sentinel (and not the other sentinel), is a
// *FieldError naming field, and that its message contains every fragment.
func checkErr(t *testing.T, err, sentinel error, field string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error on %q", field)
	}
	other := callback.ErrMalformed
	if sentinel == callback.ErrMalformed {
		other = callback.ErrInvalid
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(%v, %v) = false", err, sentinel)
	}
	if errors.Is(err, other) {
		t.Errorf("error %v also matches %v", err, other)
	}
	var fe *callback.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v is not a *FieldError", err, err)
	}
	if fe.Field != field {
		t.Errorf("FieldError.Field = %q, want %q (error %q)", fe.Field, field, err)
	}
	if fe.Reason == "" {
		t.Errorf("FieldError has an empty reason")
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	long := strings.Repeat("x", callback.MaxIDBytes+1)
	cases := []struct {
		name      string
		q         url.Values
		body      []byte
		field     string
		fragments []string
	}{
		// ids
		{"CallId missing", query("caller_start_call"), body(map[string]string{"CallId": ""}), "CallId", []string{"required"}},
		{"CallId null", query("caller_start_call"), body(map[string]string{"CallId": `null`}), "CallId", []string{"required"}},
		{"CallId empty", query("caller_start_call"), body(map[string]string{"CallId": `""`}), "CallId", []string{"empty"}},
		{"UserId missing", query("caller_start_call"), body(map[string]string{"UserId": ""}), "UserId", []string{"required"}},
		{"UserId empty", query("caller_start_call"), body(map[string]string{"UserId": `""`}), "UserId", []string{"empty"}},
		{"CallId object", query("caller_start_call"), body(map[string]string{"CallId": `{"id":"x"}`}), "CallId", []string{"object"}},
		{"CallId array", query("caller_start_call"), body(map[string]string{"CallId": `["x"]`}), "CallId", []string{"array"}},
		{"CallId bool", query("caller_start_call"), body(map[string]string{"CallId": `true`}), "CallId", []string{"boolean"}},
		{"CallId float", query("caller_start_call"), body(map[string]string{"CallId": `1.5`}), "CallId", nil},
		{"CallId exponent", query("caller_start_call"), body(map[string]string{"CallId": `1e5`}), "CallId", nil},
		{"UserId object", query("caller_start_call"), body(map[string]string{"UserId": `{}`}), "UserId", []string{"object"}},
		{"RoomId array", query("caller_start_call"), body(map[string]string{"RoomId": `[]`}), "RoomId", []string{"array"}},
		{"CallId over 256 bytes", query("caller_start_call"), body(map[string]string{"CallId": `"` + long + `"`}), "CallId", []string{"256"}},
		{"UserId over 256 bytes", query("caller_start_call"), body(map[string]string{"UserId": `"` + long + `"`}), "UserId", []string{"256"}},
		{"RoomId over 256 bytes", query("caller_start_call"), body(map[string]string{"RoomId": `"` + long + `"`}), "RoomId", []string{"256"}},
		{"numeric CallId over 256 digits", query("caller_start_call"), body(map[string]string{"CallId": strings.Repeat("9", 257)}), "CallId", nil},
		{"CallId with a C0 control", query("caller_start_call"), body(map[string]string{"CallId": `"a\u0001b"`}), "CallId", []string{"control"}},
		{"UserId with a newline", query("caller_start_call"), body(map[string]string{"UserId": `"alice\n"`}), "UserId", []string{"control"}},
		{"CallId with DEL", query("caller_start_call"), body(map[string]string{"CallId": `"a\u007fb"`}), "CallId", []string{"control"}},
		{"CallId with a C1 control", query("caller_start_call"), body(map[string]string{"CallId": `"a\u0085b"`}), "CallId", []string{"control"}},
		{"RoomId with U+FFFF escaped", query("caller_start_call"), body(map[string]string{"RoomId": `"r\uffff"`}), "RoomId", nil},
		{"CallId with a lone surrogate", query("caller_start_call"), body(map[string]string{"CallId": `"a\ud800"`}), "CallId", nil},

		// query parameters
		{"sdkappid missing", url.Values{"command": {"caller_start_call"}}, body(nil), "sdkappid", []string{"required"}},
		{"sdkappid empty", query("caller_start_call", "sdkappid", ""), body(nil), "sdkappid", []string{"required"}},
		{"sdkappid not numeric", query("caller_start_call", "sdkappid", "app1"), body(nil), "sdkappid", []string{"positive integer"}},
		{"sdkappid zero", query("caller_start_call", "sdkappid", "0"), body(nil), "sdkappid", []string{"positive integer"}},
		{"sdkappid negative", query("caller_start_call", "sdkappid", "-1400000001"), body(nil), "sdkappid", nil},
		{"sdkappid overflows uint64", query("caller_start_call", "sdkappid", "18446744073709551616"), body(nil), "sdkappid", nil},
		{"sdkappid too long", query("caller_start_call", "sdkappid", strings.Repeat("1", 21)), body(nil), "sdkappid", nil},
		{"command missing", url.Values{"sdkappid": {testAppID}}, body(nil), "command", []string{"required"}},
		{"command unknown", query("hang_up"), body(nil), "command", []string{`"hang_up"`}},
		{"command with a prefix only", query("caller_"), body(nil), "command", nil},
		{"contenttype xml", query("caller_start_call", "contenttype", "xml"), body(nil), "contenttype", []string{"json"}},
		{"clientip too long", query("caller_start_call", "clientip", strings.Repeat("1", 129)), body(nil), "clientip", []string{"128"}},
		{"clientip with a control", query("caller_start_call", "clientip", "1.2.3.4\r\nX: y"), body(nil), "clientip", nil},
		{"optplatform too long", query("caller_start_call", "optplatform", strings.Repeat("i", 129)), body(nil), "optplatform", nil},

		// integers
		{"TotalNum word", query("caller_start_call"), body(map[string]string{"TotalNum": `"two"`}), "TotalNum", []string{"integer"}},
		{"TotalNum fraction", query("caller_start_call"), body(map[string]string{"TotalNum": `2.5`}), "TotalNum", []string{"integer"}},
		{"TotalNum negative", query("caller_start_call"), body(map[string]string{"TotalNum": `-1`}), "TotalNum", nil},
		{"TotalNum too large", query("caller_start_call"), body(map[string]string{"TotalNum": `100001`}), "TotalNum", []string{"100000"}},
		{"TotalNum empty string", query("caller_start_call"), body(map[string]string{"TotalNum": `""`}), "TotalNum", nil},
		{"TotalNum object", query("caller_start_call"), body(map[string]string{"TotalNum": `{}`}), "TotalNum", nil},
		{"EventTime bool", query("caller_start_call"), body(map[string]string{"EventTime": `true`}), "EventTime", []string{"boolean"}},
		{"EventTime float", query("caller_start_call"), body(map[string]string{"EventTime": `1795342500.5`}), "EventTime", []string{"integer"}},
		{"EventTime missing", query("caller_start_call"), body(map[string]string{"EventTime": ""}), "EventTime", []string{"required"}},
		{"EventTime null", query("caller_start_call"), body(map[string]string{"EventTime": `null`}), "EventTime", []string{"required"}},
		{"EventTime zero", query("caller_start_call"), body(map[string]string{"EventTime": `0`}), "EventTime", nil},
		{"EventTime negative", query("caller_start_call"), body(map[string]string{"EventTime": `-1795342500`}), "EventTime", nil},
		{"EventTime milliseconds", query("caller_start_call"), body(map[string]string{"EventTime": `1704856873000`}), "EventTime", []string{"milliseconds", "1704856873000"}},
		{"EventTime milliseconds as a string", query("caller_start_call"), body(map[string]string{"EventTime": `"1704856873000"`}), "EventTime", []string{"milliseconds"}},
		{"EventTime overflows int64", query("caller_start_call"), body(map[string]string{"EventTime": `99999999999999999999`}), "EventTime", nil},
		{"StartCallTs over the maximum", query("normal_end"), minimal(`"StartCallTs":10000000000`), "StartCallTs", []string{"milliseconds"}},
		{"AcceptTs over the maximum", query("normal_end"), minimal(`"AcceptTs":1795342500000`), "AcceptTs", nil},
		{"EndTs negative", query("normal_end"), minimal(`"EndTs":-5`), "EndTs", nil},

		// enums
		{"Role boss", query("invite_user"), minimal(`"Role":"boss"`), "Role", []string{`"boss"`, "caller or callee"}},
		{"MediaType hologram", query("caller_start_call"), body(map[string]string{"MediaType": `"hologram"`}), "MediaType", []string{`"hologram"`}},
		{"MediaType number", query("caller_start_call"), body(map[string]string{"MediaType": `5`}), "MediaType", []string{"string"}},
		{"CallType triple", query("caller_start_call"), body(map[string]string{"CallType": `"triple"`}), "CallType", []string{`"triple"`}},
		{"CallResult maybe", query("caller_call_end"), body(map[string]string{"Event": `"call_end"`, "CallResult": `"maybe"`}), "CallResult", []string{`"maybe"`}},
		{"Event number", query("caller_start_call"), body(map[string]string{"Event": `7`}), "Event", []string{"string"}},
		{"Event too long", query("caller_start_call"), body(map[string]string{"Event": `"` + strings.Repeat("e", 129) + `"`}), "Event", nil},

		// cross-field rules
		{"status CallResult contradicts command", query("reject"), minimal(`"CallResult":"normal_end"`), "CallResult", []string{"normal_end", "reject"}},
		{"call_end without CallResult", query("call_end"), minimal(), "CallResult", []string{"call_end"}},
		{"call_end with empty CallResult", query("call_end"), minimal(`"CallResult":""`), "CallResult", nil},
		{"Event on a status callback", query("normal_end"), minimal(`"Event":"call_end"`), "Event", []string{"status"}},
		{"Event does not match command", query("caller_start_call"), body(map[string]string{"Event": `"accept_call"`}), "Event", []string{"accept_call", "start_call"}},
		{"Event of the other side's prefix", query("caller_start_call"), body(map[string]string{"Event": `"caller_start_call"`}), "Event", nil},
		{"Role contradicts caller_ prefix", query("caller_start_call"), body(map[string]string{"Role": `"callee"`}), "Role", []string{"caller_start_call"}},
		{"Role contradicts callee_ prefix", query("callee_accept_call"), minimal(`"Role":"caller"`), "Role", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callback.Parse(tc.q, tc.body)
			checkErr(t, err, callback.ErrInvalid, tc.field, tc.fragments...)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	q := query("caller_start_call")
	valid := body(nil)
	cases := []struct {
		name string
		body []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"whitespace only", []byte(" \t\r\n ")},
		{"array", []byte(`[]`)},
		{"array of an object", []byte(`[` + string(valid) + `]`)},
		{"string", []byte(`"str"`)},
		{"number", []byte(`123`)},
		{"null", []byte(`null`)},
		{"true", []byte(`true`)},
		{"truncated", valid[:len(valid)/2]},
		{"missing closing brace", valid[:len(valid)-1]},
		{"trailing garbage", append(append([]byte{}, valid...), []byte(`}x`)...)},
		{"two objects", append(append([]byte{}, valid...), valid...)},
		{"single quotes", []byte(`{'CallId':'x'}`)},
		{"invalid UTF-8", []byte("{\"CallId\":\"\xff\xfe\",\"UserId\":\"u\",\"EventTime\":1795342500}")},
		{"invalid UTF-8 outside strings", []byte("\xff{}")},
		{"U+FFFF raw", []byte("{\"CallId\":\"a\uffff\",\"UserId\":\"u\",\"EventTime\":1795342500}")},
		{"U+FFFE raw in an unknown field", []byte("{\"CallId\":\"a\",\"UserId\":\"u\",\"EventTime\":1795342500,\"X\":\"\ufffe\"}")},
		{"raw control character in a string", []byte("{\"CallId\":\"a\x01\",\"UserId\":\"u\",\"EventTime\":1795342500}")},
		{"10k nested arrays", []byte(strings.Repeat("[", 10000))},
		{"10k nested arrays, closed", []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))},
		{"1M nested arrays in a field", []byte(`{"X":` + strings.Repeat("[", 1_000_000))},
		{"100k nested objects in a field, closed", []byte(`{"CallId":"a","UserId":"u","EventTime":1795342500,"X":` + strings.Repeat(`{"a":`, 100_000) + `1` + strings.Repeat("}", 100_000) + `}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			cb, err := callback.Parse(q, tc.body)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Parse took %v", took)
			}
			checkErr(t, err, callback.ErrMalformed, "")
			if cb.CallID != "" {
				t.Errorf("a malformed body yielded CallID %q", cb.CallID)
			}
		})
	}
}

// Query errors are reported before the body is looked at: a request for a foreign
// app is refused as such even when its body is garbage.
func TestParseChecksQueryFirst(t *testing.T) {
	_, err := callback.Parse(url.Values{"command": {"reject"}}, []byte("not json"))
	checkErr(t, err, callback.ErrInvalid, "sdkappid")
	_, err = callback.Parse(url.Values{"sdkappid": {testAppID}, "command": {"nope"}}, []byte("not json"))
	checkErr(t, err, callback.ErrInvalid, "command")
}

func TestSDKAppIDFrom(t *testing.T) {
	for in, want := range map[string]uint64{"1400000001": 1400000001, "8888888": 8888888, "1": 1} {
		got, err := callback.SDKAppIDFrom(url.Values{"sdkappid": {in}})
		if err != nil || got != want {
			t.Errorf("SDKAppIDFrom(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "x", " 1", "1 ", "+1", "0x10", "1.0"} {
		_, err := callback.SDKAppIDFrom(url.Values{"sdkappid": {in}})
		checkErr(t, err, callback.ErrInvalid, "sdkappid")
	}
}
