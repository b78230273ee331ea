package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/apigw"
)

// FuzzHandler: any HTTP API event becomes either a 400 or a request that carries the
// event's method, raw query, body (base64-decoded when flagged) and headers exactly; and
// any response the handler writes comes back with its status and exact body bytes
// (base64 when they are not UTF-8). Nothing panics.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/callback/a%2Fb%20c", "sdkappid=1400000001&x=a%26b&x=2", []byte(`{"CallId":"c1"}`), false, "content-type", "application/json", 200, []byte(`{"ErrorCode":0}`))
	f.Add("GET", "", "", []byte{}, false, "", "", 404, []byte{})
	f.Add("POST", "/callback", "a=%zz", []byte("eyJDYWxsSWQiOiJjMSJ9"), true, "X", "y", 413, []byte("\xff\xfe"))
	f.Add("BAD METHOD", "/%", "", []byte("not base64!"), true, "", "", 503, []byte("x"))
	f.Add("POST", "//x/../y", "q=1#frag", []byte("\x00"), false, "Host", "evil", 301, []byte(nil))
	f.Fuzz(func(t *testing.T, method, rawPath, rawQuery string, body []byte, b64 bool, hName, hValue string, status int, respBody []byte) {
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		ev := events.APIGatewayV2HTTPRequest{RawPath: rawPath, RawQueryString: rawQuery, Body: string(body), IsBase64Encoded: b64,
			Headers: map[string]string{hName: hValue}}
		ev.RequestContext.HTTP.Method = method
		ev.RequestContext.RequestID = "fuzz-req"
		want := body
		if b64 {
			var err error
			if want, err = base64.StdEncoding.DecodeString(string(body)); err != nil {
				want = nil // the adapter must refuse it
			}
		}
		var got *http.Request
		var gotBody []byte
		h := apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r
			gotBody, _ = io.ReadAll(r.Body)
			w.WriteHeader(status)
			_, _ = w.Write(respBody)
		}))
		res, err := h(context.Background(), ev)
		if err != nil {
			t.Fatalf("handler error %v", err)
		}
		if got == nil {
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("request not passed on, yet answered %d %q", res.StatusCode, res.Body)
			}
			return
		}
		if b64 && want == nil {
			t.Fatalf("invalid base64 body %q was passed on as %q", body, gotBody)
		}
		if !bytes.Equal(gotBody, want) || got.ContentLength != int64(len(want)) {
			t.Fatalf("body %q (length %d), want %q", gotBody, got.ContentLength, want)
		}
		if got.URL.RawQuery != rawQuery {
			t.Fatalf("raw query %q, want %q", got.URL.RawQuery, rawQuery)
		}
		if m := method; m != "" && got.Method != m {
			t.Fatalf("method %q, want %q", got.Method, m)
		}
		if hName != "" && http.CanonicalHeaderKey(hName) != "Cookie" && got.Header.Get(hName) != hValue && validHeader(hName, hValue) {
			t.Fatalf("header %q = %q, want %q", hName, got.Header.Get(hName), hValue)
		}
		if res.StatusCode != status {
			t.Fatalf("status %d, want %d", res.StatusCode, status)
		}
		out := []byte(res.Body)
		if res.IsBase64Encoded {
			if out, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
				t.Fatalf("response flagged base64 is not: %v", err)
			}
		}
		if !bytes.Equal(out, respBody) {
			t.Fatalf("response body %q, want %q", out, respBody)
		}
	})
}

// validHeader: what net/http itself would let through (the adapter need not carry more).
func validHeader(name, value string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
