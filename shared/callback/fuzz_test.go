package callback_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callkit-records/callkit-records/shared/callback"
)

// FuzzParse: Parse never panics; it is deterministic; every error is a classified
// *FieldError; every accepted callback satisfies the model's invariants and survives a
// Render → Parse round trip. The seed corpus (every fixture and every malformed shape
// of TestParseMalformed) runs in plain `go test`.
func FuzzParse(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.Values().Encode(), fx.Body)
	}
	q := query("caller_start_call").Encode()
	for _, b := range [][]byte{
		nil, []byte(" \n"), []byte(`[]`), []byte(`"str"`), []byte(`123`), []byte(`{"CallId":`),
		[]byte("{\"CallId\":\"\xff\"}"), []byte("{\"CallId\":\"\uffff\"}"), []byte(strings.Repeat("[", 10000)),
		body(map[string]string{"CallId": `12345678901234567`}),
		body(map[string]string{"CallId": `{}`}),
		body(map[string]string{"TotalNum": `2.5`}),
		body(map[string]string{"EventTime": `1704856873000`}),
		body(map[string]string{"Event": `"accept_call"`}),
		body(map[string]string{"Role": `"callee"`}),
		body(map[string]string{"MediaType": `"VIDEO"`, "CallType": `"MultiCall"`}),
		body(map[string]string{"CallId": `"a/b%2F"`}),
	} {
		f.Add(q, b)
	}
	f.Add(query("call_end").Encode(), minimal())
	f.Add(query("call_end").Encode(), minimal(`"CallResult":"NormalEnd"`))
	f.Add(query("reject").Encode(), minimal(`"CallResult":"normal_end"`))
	f.Add("sdkappid=0&command=reject", minimal())
	f.Add("sdkappid=1&command=REJECT&contenttype=xml", minimal())
	f.Add("sdkappid=1&command=invite_user&clientip=%00", minimal())

	f.Fuzz(func(t *testing.T, rawQuery string, b []byte) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // not a query string an HTTP server would hand over
		}
		cb, err := callback.Parse(q, b)
		cb2, err2 := callback.Parse(q, append([]byte(nil), b...))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("non-deterministic: %v then %v", err, err2)
		}
		if err != nil {
			if err.Error() != err2.Error() {
				t.Fatalf("non-deterministic error: %q then %q", err, err2)
			}
			checkFuzzError(t, err)
			return
		}
		if cb != cb2 || cb.Key() != cb2.Key() || cb.Key().String() != cb2.Key().String() {
			t.Fatalf("non-deterministic result:\n%+v\n%+v", cb, cb2)
		}
		checkInvariants(t, cb)

		// Render produces what Tencent would send for cb; it must parse back to cb.
		rq, rb := cb.Render()
		back, err := callback.Parse(rq, rb)
		if err != nil {
			t.Fatalf("Render of an accepted callback does not parse: %v\nquery %s\nbody %s", err, rq.Encode(), rb)
		}
		if back != cb {
			t.Fatalf("Render/Parse round trip changed the callback:\n got %+v\nwant %+v", back, cb)
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	inv, mal := errors.Is(err, callback.ErrInvalid), errors.Is(err, callback.ErrMalformed)
	if inv == mal {
		t.Fatalf("error %q matches ErrInvalid=%v ErrMalformed=%v; want exactly one", err, inv, mal)
	}
	var fe *callback.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %q is not a *FieldError", err, err)
	}
	if fe.Reason == "" || err.Error() == "" {
		t.Fatalf("error has an empty message: %#v", fe)
	}
	if inv && fe.Field == "" {
		t.Fatalf("invalid-callback error %q names no field", err)
	}
	if !utf8.ValidString(err.Error()) {
		t.Fatalf("error message is not valid UTF-8: %q", err)
	}
}

func checkInvariants(t *testing.T, cb callback.Callback) {
	t.Helper()
	for name, id := range map[string]string{"CallID": cb.CallID, "UserID": cb.UserID} {
		if id == "" || len(id) > callback.MaxIDBytes {
			t.Fatalf("%s %q: length %d outside 1..%d", name, id, len(id), callback.MaxIDBytes)
		}
	}
	if len(cb.RoomID) > callback.MaxIDBytes {
		t.Fatalf("RoomID has %d bytes", len(cb.RoomID))
	}
	for name, s := range map[string]string{"CallID": cb.CallID, "UserID": cb.UserID, "RoomID": cb.RoomID, "ClientIP": cb.ClientIP, "OptPlatform": cb.OptPlatform} {
		if !utf8.ValidString(s) {
			t.Fatalf("%s %q is not valid UTF-8", name, s)
		}
		for _, r := range s {
			if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError || r == 0xfffe || r == 0xffff {
				t.Fatalf("%s %q contains %U", name, s, r)
			}
		}
	}
	if cb.SDKAppID == 0 {
		t.Fatalf("SDKAppID is 0")
	}
	if cb.EventTime < 1 || cb.EventTime > callback.MaxUnixSeconds {
		t.Fatalf("EventTime %d outside 1..%d", cb.EventTime, int64(callback.MaxUnixSeconds))
	}
	for name, ts := range map[string]int64{"StartCallTs": cb.StartCallTs, "AcceptTs": cb.AcceptTs, "EndTs": cb.EndTs} {
		if ts < 0 || ts > callback.MaxUnixSeconds {
			t.Fatalf("%s %d out of range", name, ts)
		}
	}
	if cb.TotalNum < 0 || cb.TotalNum > callback.MaxTotalNum {
		t.Fatalf("TotalNum %d out of range", cb.TotalNum)
	}
	switch {
	case cb.Command.IsStatus():
		if cb.CallResult == callback.ResultNone {
			t.Fatalf("status callback %s without CallResult", cb.Command)
		}
		if r := cb.Command.StatusResult(); r != callback.ResultNone && r != cb.CallResult {
			t.Fatalf("status command %s with CallResult %s", cb.Command, cb.CallResult)
		}
		if cb.Event != "" {
			t.Fatalf("status callback with Event %q", cb.Event)
		}
	case cb.Command.IsEvent():
		if cb.Event != cb.Command.EventName() {
			t.Fatalf("event callback %s with Event %q", cb.Command, cb.Event)
		}
		if side := cb.Command.Side(); side != callback.RoleUnknown && cb.Role != side {
			t.Fatalf("command %s with Role %q", cb.Command, cb.Role)
		}
	default:
		t.Fatalf("accepted invalid command %d", cb.Command)
	}
	if strings.Count(cb.Key().String(), "/") != 4 {
		t.Fatalf("Key.String() %q does not have 5 parts", cb.Key().String())
	}
}
