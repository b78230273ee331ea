// Package apigw serves an http.Handler as an API Gateway HTTP API (payload format 2.0)
// Lambda handler, so the webhook and the query API are the same code in Lambda and in
// the local server.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/shared/reqid"
)

// Handler adapts h to the Lambda handler signature for HTTP API events.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := Request(ctx, ev)
		if err != nil {
			return jsonError(http.StatusBadRequest, `{"message":"Bad Request"}`), nil
		}
		w := NewResponseWriter()
		h.ServeHTTP(w, r)
		return w.Response(), nil
	}
}

// Request converts an HTTP API event into an *http.Request carrying the API Gateway
// request id in its context.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, err
		}
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	if p, err := url.PathUnescape(path); err == nil {
		u.Path, u.RawPath = p, path
	}
	ctx = reqid.With(ctx, ev.RequestContext.RequestID)
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	for k, v := range ev.Headers {
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	r.Host = ev.RequestContext.DomainName
	return r, nil
}

// ResponseWriter buffers a response for conversion into an HTTP API result.
type ResponseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// NewResponseWriter returns an empty buffered writer.
func NewResponseWriter() *ResponseWriter { return &ResponseWriter{header: http.Header{}} }

func (w *ResponseWriter) Header() http.Header { return w.header }

func (w *ResponseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *ResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// Response converts the buffered response.
func (w *ResponseWriter) Response() events.APIGatewayV2HTTPResponse {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	res := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, v := range w.header {
		switch {
		case len(v) == 0:
		case k == "Set-Cookie":
			// Payload format 2.0 returns cookies separately: joined with commas they
			// would be corrupted (Expires dates contain a comma).
			res.Cookies = append(res.Cookies, v...)
		default:
			res.Headers[k] = strings.Join(v, ",")
		}
	}
	b := w.body.Bytes()
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}

func jsonError(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
}
