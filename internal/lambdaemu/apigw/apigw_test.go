package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
)

// fn is the real testdata/testfn bootstrap running in the emulator, shared
// by the tests in this package.
var fn *lambdaemu.Function

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "apigw-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := lambdaemu.BuildBootstrap(ctx, "../testdata/testfn", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fn, err = lambdaemu.Start(lambdaemu.Config{Binary: bin, FunctionName: "api", Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer fn.Close()
	return m.Run()
}

func newTestServer(t *testing.T, inv Invoker, opts ...Option) *httptest.Server {
	t.Helper()
	h, err := New(inv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // binds 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, method, url string, body []byte, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// echoedEvent decodes the event the test function echoed in its body.
func echoedEvent(t *testing.T, r response) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return ev
}

func TestRoundTripThroughRealFunction(t *testing.T) {
	srv := newTestServer(t, fn)
	hdr := http.Header{}
	hdr.Add("Content-Type", "application/json")
	hdr.Add("X-Custom", "v1")
	hdr.Add("X-Custom", "v2")
	hdr.Add("Cookie", "a=1; b=2")
	hdr.Add("User-Agent", "apigw-test/1.0")
	before := time.Now()
	r := send(t, "POST", srv.URL+"/v1/things/x%2Fy?a=1&a=2&b=x%20y&status=201", []byte(`{"k":"v","u":"é"}`), hdr)

	if r.status != 201 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if r.header.Get("X-Echo") != "yes" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("response headers: %v", r.header)
	}
	if got := r.header.Values("X-Multi"); strings.Join(got, "|") != "a|b" {
		t.Errorf("multiValueHeaders → %v", got)
	}
	if got := r.header.Values("Set-Cookie"); len(got) != 2 || got[0] != "session=abc; Path=/; HttpOnly" || got[1] != "theme=dark" {
		t.Errorf("Set-Cookie = %v", got)
	}
	reqID := r.header.Get("Apigw-Requestid")

	ev := echoedEvent(t, r)
	rc := ev.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "$default"},
		{"rawPath", ev.RawPath, "/v1/things/x%2Fy"},
		{"rawQueryString", ev.RawQueryString, "a=1&a=2&b=x%20y&status=201"},
		{"cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2"},
		{"header x-custom", ev.Headers["x-custom"], "v1,v2"},
		{"header content-type", ev.Headers["content-type"], "application/json"},
		{"header user-agent", ev.Headers["user-agent"], "apigw-test/1.0"},
		{"header host", ev.Headers["host"], strings.TrimPrefix(srv.URL, "http://")},
		{"header x-forwarded-for", ev.Headers["x-forwarded-for"], "127.0.0.1"},
		{"header x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
		{"header content-length", ev.Headers["content-length"], fmt.Sprint(len(`{"k":"v","u":"é"}`))},
		{"query a", ev.QueryStringParameters["a"], "1,2"},
		{"query b", ev.QueryStringParameters["b"], "x y"},
		{"pathParameters", ev.PathParameters == nil, true},
		{"body", ev.Body, `{"k":"v","u":"é"}`},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
		{"rc.routeKey", rc.RouteKey, "$default"},
		{"rc.stage", rc.Stage, "$default"},
		{"rc.accountId", rc.AccountID, lambdaemu.AccountID},
		{"rc.apiId", rc.APIID, "localapi01"},
		{"rc.domainName", rc.DomainName, "127.0.0.1"},
		{"rc.domainPrefix", rc.DomainPrefix, "127"},
		{"rc.requestId", rc.RequestID, reqID},
		{"rc.http.method", rc.HTTP.Method, "POST"},
		{"rc.http.path", rc.HTTP.Path, "/v1/things/x%2Fy"},
		{"rc.http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
		{"rc.http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
		{"rc.http.userAgent", rc.HTTP.UserAgent, "apigw-test/1.0"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("cookie header not moved to cookies")
	}
	if !strings.HasPrefix(ev.Headers["x-amzn-trace-id"], "Root=1-") {
		t.Errorf("x-amzn-trace-id = %q", ev.Headers["x-amzn-trace-id"])
	}
	if rc.TimeEpoch < before.UnixMilli() || rc.TimeEpoch > time.Now().UnixMilli() {
		t.Errorf("timeEpoch %d out of range", rc.TimeEpoch)
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time); err != nil {
		t.Errorf("time %q: %v", rc.Time, err)
	}
	if len(reqID) != 16 {
		t.Errorf("requestId %q", reqID)
	}

	// Request ids are unique.
	r2 := send(t, "GET", srv.URL+"/", nil, nil)
	if r2.status != 200 || r2.header.Get("Apigw-Requestid") == reqID {
		t.Errorf("second request: %d id %q", r2.status, r2.header.Get("Apigw-Requestid"))
	}
	ev2 := echoedEvent(t, r2)
	if ev2.QueryStringParameters != nil || ev2.Cookies != nil || ev2.Body != "" || ev2.IsBase64Encoded || ev2.RequestContext.HTTP.Method != "GET" {
		t.Errorf("GET event: %+v", ev2)
	}
}

func TestBase64Bodies(t *testing.T) {
	srv := newTestServer(t, fn)
	cases := []struct {
		ct     string
		body   []byte
		base64 bool
	}{
		{"application/json; charset=utf-8", []byte(`{"a":1}`), false},
		{"text/plain", []byte("hello"), false},
		{"application/xml", []byte("<a/>"), false},
		{"text/plain", []byte{0xff, 0xfe, 'x'}, true}, // not valid UTF-8
		{"application/octet-stream", []byte("abc"), true},
		{"application/x-www-form-urlencoded", []byte("a=1&b=2"), true},
		{"", []byte("no type"), true},
		{"image/png", []byte{0x89, 'P', 'N', 'G', 0}, true},
	}
	for _, c := range cases {
		hdr := http.Header{}
		if c.ct != "" {
			hdr.Set("Content-Type", c.ct)
		}
		ev := echoedEvent(t, send(t, "PUT", srv.URL+"/upload", c.body, hdr))
		if ev.IsBase64Encoded != c.base64 {
			t.Errorf("%q: isBase64Encoded = %v, want %v", c.ct, ev.IsBase64Encoded, c.base64)
			continue
		}
		got := []byte(ev.Body)
		if c.base64 {
			var err error
			if got, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				t.Errorf("%q: body not base64: %v", c.ct, err)
			}
		}
		if !bytes.Equal(got, c.body) {
			t.Errorf("%q: body %q, want %q", c.ct, got, c.body)
		}
	}

	// A base64 response is decoded back to bytes.
	bin := []byte{0, 1, 2, 0xff, 0xfe, '\n'}
	r := send(t, "POST", srv.URL+"/bin?binary=1", bin, http.Header{"Content-Type": {"application/octet-stream"}})
	if r.status != 200 || !bytes.Equal(r.body, bin) || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("binary response: %d %q %v", r.status, r.body, r.header)
	}
}

func TestFunctionFailuresAre500(t *testing.T) {
	srv := newTestServer(t, fn)
	for _, q := range []string{"fail=1", "garbage=1"} {
		r := send(t, "GET", srv.URL+"/x?"+q, nil, nil)
		if r.status != 500 || string(r.body) != `{"message":"Internal Server Error"}` || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	// Payload 2.0 shortcut: an object without statusCode is a 200 JSON body.
	r := send(t, "GET", srv.URL+"/short?raw=1", nil, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("shortcut: %d %v", r.status, r.header)
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil || body["hello"] != "world" || body["path"] != "/short" {
		t.Errorf("shortcut body %s (%v)", r.body, err)
	}
}

func TestRoutesWithRealFunction(t *testing.T) {
	srv := newTestServer(t, fn, WithRoutes("POST /callback", "GET /v1/calls/{callId}", "GET /files/{proxy+}"))

	ev := echoedEvent(t, send(t, "GET", srv.URL+"/v1/calls/abc%20d?x=1", nil, nil))
	if ev.RouteKey != "GET /v1/calls/{callId}" || ev.RequestContext.RouteKey != ev.RouteKey || ev.PathParameters["callId"] != "abc d" || ev.RawPath != "/v1/calls/abc%20d" {
		t.Errorf("calls route: routeKey=%q params=%v rawPath=%q", ev.RouteKey, ev.PathParameters, ev.RawPath)
	}
	ev = echoedEvent(t, send(t, "POST", srv.URL+"/callback", []byte(`{}`), http.Header{"Content-Type": {"application/json"}}))
	if ev.RouteKey != "POST /callback" || ev.PathParameters != nil {
		t.Errorf("callback route: %q %v", ev.RouteKey, ev.PathParameters)
	}
	ev = echoedEvent(t, send(t, "GET", srv.URL+"/files/a/b/c.txt", nil, nil))
	if ev.RouteKey != "GET /files/{proxy+}" || ev.PathParameters["proxy"] != "a/b/c.txt" {
		t.Errorf("greedy route: %q %v", ev.RouteKey, ev.PathParameters)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/nope"}, {"GET", "/callback"}, {"POST", "/v1/calls/x"}, {"GET", "/v1/calls"}, {"GET", "/v1/calls/a/b"}, {"GET", "/files"},
	} {
		r := send(t, c.method, srv.URL+c.path, nil, nil)
		if r.status != 404 || string(r.body) != `{"message":"Not Found"}` {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}

// recorder is a fake function that captures events and answers with resp.
type recorder struct {
	calls atomic.Int32
	last  atomic.Value // events.APIGatewayV2HTTPRequest
	resp  func(ctx context.Context) (lambdaemu.Result, error)
}

func (r *recorder) Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
	r.calls.Add(1)
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return lambdaemu.Result{}, err
	}
	r.last.Store(ev)
	if r.resp != nil {
		return r.resp(ctx)
	}
	return lambdaemu.Result{Payload: []byte(`{"statusCode":204}`)}, nil
}

func TestRouteSelection(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, rec, WithRoutes(
		"GET /pets/{id}", "GET /pets/dog", "ANY /pets/{id}", "ANY /{proxy+}", "GET /a/{x}/c", "GET /a/b/{y}", "$default"))
	cases := []struct{ method, path, key string }{
		{"GET", "/pets/dog", "GET /pets/dog"},
		{"GET", "/pets/cat", "GET /pets/{id}"},
		{"DELETE", "/pets/cat", "ANY /pets/{id}"},
		{"GET", "/pets/cat/toys", "ANY /{proxy+}"},
		{"GET", "/a/b/c", "GET /a/b/{y}"},
		{"GET", "/", "$default"},
	}
	for _, c := range cases {
		r := send(t, c.method, srv.URL+c.path, nil, nil)
		ev := rec.last.Load().(events.APIGatewayV2HTTPRequest)
		if r.status != 204 || ev.RouteKey != c.key {
			t.Errorf("%s %s → %d %q, want %q", c.method, c.path, r.status, ev.RouteKey, c.key)
		}
	}
	for _, bad := range []string{"GET", "GET pets", "GET /a/{p+}/b", "GET /a/{}", "GET /a/{x}/{x}", "GET /a//b"} {
		if _, err := New(rec, WithRoutes(bad)); err == nil {
			t.Errorf("route %q accepted", bad)
		}
	}
	// Custom routeKey without routes.
	srv2 := newTestServer(t, rec, WithRouteKey("ANY /{proxy+}"), WithAPIID("abc123"), WithDomainName("abc123.execute-api.us-east-1.amazonaws.com"))
	send(t, "GET", srv2.URL+"/x", nil, nil)
	ev := rec.last.Load().(events.APIGatewayV2HTTPRequest)
	if ev.RouteKey != "ANY /{proxy+}" || ev.RequestContext.APIID != "abc123" || ev.RequestContext.DomainPrefix != "abc123" {
		t.Errorf("options: %q %q %q", ev.RouteKey, ev.RequestContext.APIID, ev.RequestContext.DomainPrefix)
	}
}

func TestRequestTooLarge(t *testing.T) {
	rec := &recorder{}
	srv := newTestServer(t, rec)
	r := send(t, "POST", srv.URL+"/big", make([]byte, MaxRequestBytes+1), http.Header{"Content-Type": {"application/octet-stream"}})
	if r.status != 413 || rec.calls.Load() != 0 {
		t.Errorf("oversized: %d %s (calls %d)", r.status, r.body, rec.calls.Load())
	}
	// Under API Gateway's limit but over Lambda's 6 MB once base64-encoded:
	// the real emulator refuses the invoke.
	srvFn := newTestServer(t, fn)
	r = send(t, "POST", srvFn.URL+"/big", make([]byte, 5*1024*1024), http.Header{"Content-Type": {"application/octet-stream"}})
	if r.status != 413 {
		t.Errorf("event over 6 MB: %d %s", r.status, r.body)
	}
	r = send(t, "POST", srv.URL+"/ok", make([]byte, 1024), http.Header{"Content-Type": {"application/octet-stream"}})
	if r.status != 204 {
		t.Errorf("small: %d", r.status)
	}
}

func TestInvokeFailures(t *testing.T) {
	cases := []struct {
		name   string
		resp   func(ctx context.Context) (lambdaemu.Result, error)
		status int
		msg    string
	}{
		{"timeout", func(context.Context) (lambdaemu.Result, error) {
			return lambdaemu.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorType":"Runtime.Timeout"}`)}, nil
		}, 500, "Internal Server Error"},
		{"emulator error", func(context.Context) (lambdaemu.Result, error) {
			return lambdaemu.Result{}, lambdaemu.ErrClosed
		}, 500, "Internal Server Error"},
		{"not json", func(context.Context) (lambdaemu.Result, error) {
			return lambdaemu.Result{Payload: []byte(`hello`)}, nil
		}, 500, "Internal Server Error"},
		{"bad status", func(context.Context) (lambdaemu.Result, error) {
			return lambdaemu.Result{Payload: []byte(`{"statusCode":42}`)}, nil
		}, 500, "Internal Server Error"},
		{"bad base64", func(context.Context) (lambdaemu.Result, error) {
			return lambdaemu.Result{Payload: []byte(`{"statusCode":200,"body":"***","isBase64Encoded":true}`)}, nil
		}, 500, "Internal Server Error"},
		{"integration timeout", func(ctx context.Context) (lambdaemu.Result, error) {
			<-ctx.Done()
			return lambdaemu.Result{}, ctx.Err()
		}, 503, "Service Unavailable"},
	}
	for _, c := range cases {
		srv := newTestServer(t, &recorder{resp: c.resp}, WithIntegrationTimeout(100*time.Millisecond))
		r := send(t, "GET", srv.URL+"/", nil, nil)
		if r.status != c.status || string(r.body) != `{"message":"`+c.msg+`"}` {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
}

func TestParseResponse(t *testing.T) {
	cases := []struct {
		in     string
		status int
		body   string
		ct     string
		err    bool
	}{
		{`"Hello from Lambda!"`, 200, "Hello from Lambda!", "application/json", false},
		{`{"a":1}`, 200, `{"a":1}`, "application/json", false},
		{`[1,2]`, 200, `[1,2]`, "application/json", false},
		{`{"statusCode":302,"headers":{"location":"/x"}}`, 302, "", "", false},
		{`{"statusCode":"200"}`, 0, "", "", true},
		{`{"statusCode":700}`, 0, "", "", true},
		{`nope`, 0, "", "", true},
		{``, 0, "", "", true},
	}
	for _, c := range cases {
		resp, err := ParseResponse([]byte(c.in))
		if (err != nil) != c.err {
			t.Errorf("%s: err = %v", c.in, err)
			continue
		}
		if c.err {
			continue
		}
		if resp.StatusCode != c.status || resp.Body != c.body || resp.Headers["content-type"] != c.ct {
			t.Errorf("%s → %+v", c.in, resp)
		}
	}
}

func TestNoContentTypeSniffing(t *testing.T) {
	rec := &recorder{resp: func(context.Context) (lambdaemu.Result, error) {
		return lambdaemu.Result{Payload: []byte(`{"statusCode":200,"body":"<html></html>"}`)}, nil
	}}
	srv := newTestServer(t, rec)
	r := send(t, "GET", srv.URL+"/", nil, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "" || string(r.body) != "<html></html>" {
		t.Errorf("%d %v %q", r.status, r.header, r.body)
	}
}
