package apigw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/apigw"
	"github.com/callkit-records/callkit-records/shared/reqid"
)

func event() events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "POST /callback/{token}",
		RawPath:        "/callback/a%2Fb%20c",
		RawQueryString: "sdkappid=1400000001&command=caller_start_call&x=a%26b&x=2&empty=",
		Cookies:        []string{"session=abc", "theme=dark"},
		Headers: map[string]string{
			"content-type":    "application/json",
			"x-forwarded-for": "192.0.2.10",
			"user-agent":      "Go-http-client/1.1",
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID:  "kPAa7d7up33runs=",
			DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:   http.MethodPost,
				Path:     "/callback/a/b c",
				SourceIP: "192.0.2.10",
			},
		},
		Body: `{"CallId":"c1"}`,
	}
}

func TestRequest(t *testing.T) {
	r, err := apigw.Request(context.Background(), event())
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if r.Method != http.MethodPost {
		t.Errorf("Method = %q", r.Method)
	}
	if r.URL.Path != "/callback/a/b c" || r.URL.EscapedPath() != "/callback/a%2Fb%20c" {
		t.Errorf("Path %q, EscapedPath %q", r.URL.Path, r.URL.EscapedPath())
	}
	if r.URL.RawQuery != "sdkappid=1400000001&command=caller_start_call&x=a%26b&x=2&empty=" {
		t.Errorf("RawQuery = %q", r.URL.RawQuery)
	}
	q := r.URL.Query()
	if q.Get("sdkappid") != "1400000001" || q.Get("command") != "caller_start_call" || len(q["x"]) != 2 || q["x"][0] != "a&b" || !q.Has("empty") {
		t.Errorf("Query = %v", q)
	}
	if r.RequestURI != "/callback/a%2Fb%20c?sdkappid=1400000001&command=caller_start_call&x=a%26b&x=2&empty=" {
		t.Errorf("RequestURI = %q", r.RequestURI)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Forwarded-For") != "192.0.2.10" {
		t.Errorf("Header = %v", r.Header)
	}
	if c, err := r.Cookie("session"); err != nil || c.Value != "abc" {
		t.Errorf("cookie session = %v, %v", c, err)
	}
	if c, err := r.Cookie("theme"); err != nil || c.Value != "dark" {
		t.Errorf("cookie theme = %v, %v", c, err)
	}
	if got := reqid.From(r.Context()); got != "kPAa7d7up33runs=" {
		t.Errorf("request id in context = %q", got)
	}
	if r.Host != "abc123.execute-api.us-east-1.amazonaws.com" || r.RemoteAddr != "192.0.2.10" {
		t.Errorf("Host %q RemoteAddr %q", r.Host, r.RemoteAddr)
	}
	b, _ := io.ReadAll(r.Body)
	if string(b) != `{"CallId":"c1"}` || r.ContentLength != int64(len(b)) {
		t.Errorf("body %q, ContentLength %d", b, r.ContentLength)
	}
}

func TestRequestVariants(t *testing.T) {
	t.Run("base64 body", func(t *testing.T) {
		ev := event()
		raw := []byte{0x00, 0xff, '{', '}', 0x80}
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(raw), true
		r, err := apigw.Request(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != string(raw) || r.ContentLength != int64(len(raw)) {
			t.Errorf("body %q (len %d), want %q", b, r.ContentLength, raw)
		}
	})
	t.Run("bad base64", func(t *testing.T) {
		ev := event()
		ev.Body, ev.IsBase64Encoded = "***not base64***", true
		if _, err := apigw.Request(context.Background(), ev); err == nil {
			t.Error("invalid base64 accepted")
		}
	})
	t.Run("path from the request context when rawPath is empty", func(t *testing.T) {
		ev := event()
		ev.RawPath = ""
		ev.RequestContext.HTTP.Path = "/v1/calls/abc"
		r, err := apigw.Request(context.Background(), ev)
		if err != nil || r.URL.Path != "/v1/calls/abc" {
			t.Errorf("Path %q, %v", r.URL.Path, err)
		}
	})
	t.Run("method defaults to GET", func(t *testing.T) {
		ev := event()
		ev.RequestContext.HTTP.Method = ""
		r, err := apigw.Request(context.Background(), ev)
		if err != nil || r.Method != http.MethodGet {
			t.Errorf("Method %q, %v", r.Method, err)
		}
	})
	t.Run("no body", func(t *testing.T) {
		ev := event()
		ev.Body = ""
		r, err := apigw.Request(context.Background(), ev)
		if err != nil || r.ContentLength != 0 {
			t.Fatalf("ContentLength %d, %v", r.ContentLength, err)
		}
	})
	t.Run("no cookies", func(t *testing.T) {
		ev := event()
		ev.Cookies = nil
		r, _ := apigw.Request(context.Background(), ev)
		if _, ok := r.Header["Cookie"]; ok {
			t.Errorf("Cookie header set without cookies")
		}
	})
	t.Run("the caller's context is kept", func(t *testing.T) {
		type k struct{}
		ctx := context.WithValue(context.Background(), k{}, "v")
		r, _ := apigw.Request(ctx, event())
		if r.Context().Value(k{}) != "v" {
			t.Errorf("context value lost")
		}
	})
}

func TestHandler(t *testing.T) {
	var seen *http.Request
	h := apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusInternalServerError) // ignored, as in net/http
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	res, err := h(context.Background(), event())
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || reqid.From(seen.Context()) != "kPAa7d7up33runs=" {
		t.Fatalf("handler did not see the converted request")
	}
	if res.StatusCode != http.StatusCreated || res.Body != `{"ok":true}` || res.IsBase64Encoded {
		t.Errorf("response %+v", res)
	}
	if res.Headers["Content-Type"] != "application/json" || res.Headers["X-Multi"] != "a,b" {
		t.Errorf("headers %v", res.Headers)
	}

	t.Run("bad event", func(t *testing.T) {
		ev := event()
		ev.Body, ev.IsBase64Encoded = "%%%", true
		res, err := h(context.Background(), ev)
		if err != nil || res.StatusCode != http.StatusBadRequest || !json.Valid([]byte(res.Body)) {
			t.Errorf("response %+v, %v", res, err)
		}
	})
}

func TestResponseWriter(t *testing.T) {
	cases := []struct {
		name   string
		write  func(w http.ResponseWriter)
		status int
		body   string
		b64    bool
	}{
		{"nothing written", func(w http.ResponseWriter) {}, 200, "", false},
		{"body without WriteHeader", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hi")) }, 200, "hi", false},
		{"WriteHeader after Write is ignored", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("x"))
			w.WriteHeader(500)
		}, 200, "x", false},
		{"status only", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }, 204, "", false},
		{"UTF-8 text", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"name":"张三"}`)) }, 200, `{"name":"张三"}`, false},
		{"binary body", func(w http.ResponseWriter) { _, _ = w.Write([]byte{0x1f, 0x8b, 0x08, 0xff}) }, 200, base64.StdEncoding.EncodeToString([]byte{0x1f, 0x8b, 0x08, 0xff}), true},
		{"several writes", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("a"))
			_, _ = w.Write([]byte("b"))
		}, 200, "ab", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := apigw.NewResponseWriter()
			tc.write(w)
			res := w.Response()
			if res.StatusCode != tc.status || res.Body != tc.body || res.IsBase64Encoded != tc.b64 {
				t.Errorf("got %d %q base64=%v, want %d %q base64=%v", res.StatusCode, res.Body, res.IsBase64Encoded, tc.status, tc.body, tc.b64)
			}
			if res.Headers == nil {
				t.Errorf("nil Headers map")
			}
		})
	}
}

// Set-Cookie cannot be folded into one comma-joined header (cookie attributes contain
// commas): payload format 2.0 has a separate cookies list.
func TestResponseCookies(t *testing.T) {
	w := apigw.NewResponseWriter()
	http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", Path: "/", MaxAge: 60})
	http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
	res := w.Response()
	if len(res.Cookies) != 2 || res.Cookies[0] != "a=1; Path=/; Max-Age=60" || res.Cookies[1] != "b=2" {
		t.Errorf("Cookies = %q", res.Cookies)
	}
	if _, ok := res.Headers["Set-Cookie"]; ok {
		t.Errorf("Set-Cookie also folded into Headers: %q", res.Headers["Set-Cookie"])
	}
}

// The repository's API Gateway fixtures convert to requests carrying their body and
// query exactly.
func TestFixtures(t *testing.T) {
	paths, err := filepath.Glob("../../events/apigw/v1/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no API Gateway fixtures: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		r, err := apigw.Request(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		body, _ := io.ReadAll(r.Body)
		want := []byte(ev.Body)
		if ev.IsBase64Encoded {
			want, _ = base64.StdEncoding.DecodeString(ev.Body)
		}
		if string(body) != string(want) || r.Header.Get("Content-Length") != ev.Headers["content-length"] || int64(len(body)) != r.ContentLength {
			t.Errorf("%s: body %d bytes (ContentLength %d, header %s), want %d", filepath.Base(p), len(body), r.ContentLength, r.Header.Get("Content-Length"), len(want))
		}
		for k, v := range ev.QueryStringParameters {
			if r.URL.Query().Get(k) != v {
				t.Errorf("%s: query %s = %q, want %q", filepath.Base(p), k, r.URL.Query().Get(k), v)
			}
		}
		if r.URL.Path != "/callback" || r.Method != http.MethodPost || reqid.From(r.Context()) != ev.RequestContext.RequestID {
			t.Errorf("%s: %s %s id %q", filepath.Base(p), r.Method, r.URL.Path, reqid.From(r.Context()))
		}
	}
}
