// Package apigw is an HTTP front that behaves like an API Gateway HTTP API
// with a Lambda proxy integration using payload format 2.0: every incoming
// request becomes an events.APIGatewayV2HTTPRequest, the function is
// invoked, and its events.APIGatewayV2HTTPResponse (or the format-2.0
// shortcut response) is written back.
//
// What it mirrors:
//   - headers: names lower-cased, repeated values joined with ","; the Cookie
//     header is moved to "cookies"; host, content-length, x-forwarded-for,
//     x-forwarded-port, x-forwarded-proto and x-amzn-trace-id are added.
//   - queryStringParameters: repeated values joined with ","; nil when there
//     is no query.
//   - body: sent as text only for text/*, application/json, application/xml
//     and application/javascript that are valid UTF-8; anything else
//     (including a missing content type and form-urlencoded) is base64 with
//     isBase64Encoded=true, as API Gateway does.
//   - routes: without WithRoutes every request goes to routeKey "$default"
//     (or WithRouteKey). With WithRoutes, templates like "POST /callback",
//     "GET /v1/calls/{callId}", "ANY /files/{proxy+}" and "$default" are
//     matched most-specific first and fill routeKey and pathParameters
//     (URL-decoded); no match is 404 {"message":"Not Found"}.
//   - errors: a function error, timeout, crash or unparsable response is
//     500 {"message":"Internal Server Error"}; exceeding the integration
//     timeout (30 s) is 503 {"message":"Service Unavailable"}; a request body
//     over 10 MB, or an event over Lambda's 6 MB invoke limit, is 413
//     {"message":"Request Entity Too Large"}.
//   - responses: statusCode, headers, multiValueHeaders, cookies (as
//     Set-Cookie) and body (base64-decoded when isBase64Encoded). A valid
//     JSON response without statusCode is 200 with content-type
//     application/json and the JSON (or the string's value) as body.
//   - every response carries an Apigw-Requestid header.
//
// Not mirrored: authorizers, CORS configuration, stage variables other than
// WithStageVariables, custom domains and base path mappings, throttling.
package apigw

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
)

// MaxRequestBytes is API Gateway's request payload limit (10 MB).
const MaxRequestBytes = 10 * 1024 * 1024

// DefaultIntegrationTimeout is the HTTP API's maximum integration timeout.
const DefaultIntegrationTimeout = 30 * time.Second

// Invoker is what the adapter needs from a function; *lambdaemu.Function
// implements it.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error)
}

// InvokerFunc adapts a function to Invoker (handy for in-process handlers in
// tests).
type InvokerFunc func(ctx context.Context, payload []byte) (lambdaemu.Result, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
	return f(ctx, payload)
}

// Option configures the server.
type Option func(*server) error

// WithRoutes defines the API's routes ("METHOD /path/{var}", "ANY /x/{proxy+}",
// "$default"). Requests that match none get 404 {"message":"Not Found"}.
func WithRoutes(templates ...string) Option {
	return func(s *server) error {
		for _, t := range templates {
			r, err := parseRoute(t)
			if err != nil {
				return err
			}
			s.routes = append(s.routes, r)
		}
		s.useRoutes = true
		return nil
	}
}

// WithRouteKey sets the routeKey reported when no routes are defined
// (default "$default").
func WithRouteKey(key string) Option {
	return func(s *server) error { s.routeKey = key; return nil }
}

// WithAPIID sets requestContext.apiId (default "localapi01").
func WithAPIID(id string) Option {
	return func(s *server) error { s.apiID = id; return nil }
}

// WithAccountID sets requestContext.accountId (default lambdaemu.AccountID).
func WithAccountID(id string) Option {
	return func(s *server) error { s.accountID = id; return nil }
}

// WithDomainName fixes requestContext.domainName (and domainPrefix, its
// first label) instead of using the request's Host.
func WithDomainName(name string) Option {
	return func(s *server) error { s.domainName = name; return nil }
}

// WithStageVariables sets stageVariables.
func WithStageVariables(vars map[string]string) Option {
	return func(s *server) error { s.stageVars = vars; return nil }
}

// WithIntegrationTimeout changes the 30 s integration timeout.
func WithIntegrationTimeout(d time.Duration) Option {
	return func(s *server) error { s.timeout = d; return nil }
}

// WithLogger logs integration failures (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *server) error { s.log = l; return nil }
}

type server struct {
	inv        Invoker
	routes     []route
	useRoutes  bool
	routeKey   string
	apiID      string
	accountID  string
	domainName string
	stageVars  map[string]string
	timeout    time.Duration
	log        *slog.Logger
}

// NewServer returns the HTTP API handler. It panics on an invalid option
// (such as a malformed route template); use New to get the error instead.
func NewServer(inv Invoker, opts ...Option) http.Handler {
	h, err := New(inv, opts...)
	if err != nil {
		panic(err)
	}
	return h
}

// New is NewServer returning option errors.
func New(inv Invoker, opts ...Option) (http.Handler, error) {
	if inv == nil {
		return nil, errors.New("apigw: nil Invoker")
	}
	s := &server{
		inv:       inv,
		routeKey:  "$default",
		apiID:     "localapi01",
		accountID: lambdaemu.AccountID,
		timeout:   DefaultIntegrationTimeout,
		log:       slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)

	routeKey := s.routeKey
	var pathParams map[string]string
	if s.useRoutes {
		rt, params, ok := selectRoute(s.routes, r)
		if !ok {
			writeMessage(w, http.StatusNotFound, "Not Found")
			return
		}
		routeKey, pathParams = rt.key, params
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxRequestBytes {
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}

	ev := s.buildEvent(r, body, requestID, routeKey, pathParams)
	payload, err := json.Marshal(ev)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	res, err := s.inv.Invoke(ctx, payload)
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		return // client went away
	case errors.Is(err, lambdaemu.ErrPayloadTooLarge):
		// The event (body base64-encoded plus metadata) exceeds Lambda's
		// 6 MB invoke limit.
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("apigw: integration timeout", "requestId", requestID, "timeout", s.timeout)
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	default:
		s.log.Error("apigw: invoke failed", "requestId", requestID, "err", err)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if res.FunctionError != "" {
		s.log.Warn("apigw: function error", "requestId", requestID, "functionError", res.FunctionError,
			"payload", truncate(res.Payload, 512))
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	resp, err := ParseResponse(res.Payload)
	if err != nil {
		s.log.Warn("apigw: malformed Lambda proxy response", "requestId", requestID, "err", err)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeResponse(w, resp)
}

// buildEvent converts r into a payload 2.0 event.
func (s *server) buildEvent(r *http.Request, body []byte, requestID, routeKey string, pathParams map[string]string) events.APIGatewayV2HTTPRequest {
	now := time.Now().UTC()
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	domain := s.domainName
	if domain == "" {
		domain = r.Host
		if h, _, err := net.SplitHostPort(domain); err == nil {
			domain = h
		}
	}
	prefix, _, _ := strings.Cut(domain, ".")

	headers := map[string]string{}
	var cookies []string
	for name, vals := range r.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range vals {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lname] = strings.Join(vals, ",")
	}
	headers["host"] = r.Host
	if len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	if prev := headers["x-forwarded-for"]; prev != "" {
		headers["x-forwarded-for"] = prev + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			port = p
		}
	}
	headers["x-forwarded-proto"] = proto
	headers["x-forwarded-port"] = port
	traceID := newTraceID(now)
	headers["x-amzn-trace-id"] = traceID

	var query map[string]string
	if r.URL.RawQuery != "" {
		vals, _ := url.ParseQuery(r.URL.RawQuery)
		if len(vals) > 0 {
			query = make(map[string]string, len(vals))
			for k, v := range vals {
				query[k] = strings.Join(v, ",")
			}
		}
	}

	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        pathParams,
		StageVariables:        s.stageVars,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    s.accountID,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        s.apiID,
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.EscapedPath(),
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isTextContentType(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isTextContentType reports whether API Gateway passes a body of this type
// as text. Per observed HTTP API behaviour only these are text; a missing
// content type and application/x-www-form-urlencoded are base64-encoded.
func isTextContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if strings.HasPrefix(mt, "text/") {
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript":
		return true
	}
	return false
}

// ParseResponse interprets a Lambda result as an HTTP API payload 2.0
// response. A JSON object with statusCode is decoded as
// events.APIGatewayV2HTTPResponse; any other valid JSON is the 2.0 shortcut
// (200, content-type application/json, the JSON as body — or a string's
// value). Invalid JSON, a non-integer statusCode or a status outside
// 100–599 is an error (API Gateway answers 500).
func ParseResponse(payload []byte) (events.APIGatewayV2HTTPResponse, error) {
	var resp events.APIGatewayV2HTTPResponse
	trimmed := bytes.TrimSpace(payload)
	if !json.Valid(trimmed) {
		return resp, errors.New("response is not valid JSON")
	}
	shortcut := events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(trimmed),
	}
	switch trimmed[0] {
	case '{':
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return resp, err
		}
		if _, ok := probe["statusCode"]; !ok {
			return shortcut, nil
		}
		if err := json.Unmarshal(trimmed, &resp); err != nil {
			return resp, fmt.Errorf("malformed proxy response: %w", err)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			return resp, fmt.Errorf("invalid statusCode %d", resp.StatusCode)
		}
		return resp, nil
	case '"':
		var s string
		if err := json.Unmarshal(trimmed, &s); err != nil {
			return resp, err
		}
		shortcut.Body = s
		return shortcut, nil
	default:
		return shortcut, nil
	}
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		body = b
	}
	h := w.Header()
	names := make([]string, 0, len(resp.MultiValueHeaders))
	for k := range resp.MultiValueHeaders {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.MultiValueHeaders[k] {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no sniffing: API Gateway sends none
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func newRequestID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func newTraceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
