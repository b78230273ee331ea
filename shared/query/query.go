// Package query is the records API: Tencent-compatible v1 routes (POST, envelope, HTTP
// 200) and native routes (GET, HTTP statuses, cursors). Every route authenticates like
// Tencent's REST API and is rate limited per app; every read is a key lookup or a
// bounded index range.
package query

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/reqid"
	"github.com/callkit-records/callkit-records/shared/store"
)

// Limits, documented in the README and openapi.yaml.
const (
	MaxBodyBytes      = 64 << 10
	V1DefaultPerPage  = 100
	V1MaxPerPage      = 1000
	V1MaxDepth        = 10000            // page × numberPerPage
	V1DefaultSpan     = 7 * 24 * 3600    // endTimestamp default: startTimestamp + 7 days, like Tencent
	V1MaxSpan         = 93 * 24 * 3600   // longest endTimestamp − startTimestamp
	V1CountBudget     = 200000           // index entries a filter request may read to count
	NativeDefaultSpan = 7 * 24 * 3600    // from defaults to to − 7 days
	NativeMaxAppSpan  = 366 * 24 * 3600  // app-wide listings; a user's history is not limited
	NativeMaxUserSpan = 3660 * 24 * 3600 // ten years
	NativeDefaultLim  = 50
	NativeMaxLimit    = 200
	NativePageBudget  = 5000 // index entries one page may read; a short page then has a cursor
)

// Route is one served route (the OpenAPI and template tests check them).
type Route struct {
	Method string
	Path   string
}

// Handler serves the query API.
type Handler struct {
	store   store.Reader
	auth    *auth.Verifier
	limiter *ratelimit.Limiter
	now     func() time.Time
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
}

// New returns the query API over st.
func New(st store.Reader, verifier *auth.Verifier, limiter *ratelimit.Limiter, log *slog.Logger, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	h := &Handler{store: st, auth: verifier, limiter: limiter, now: now, log: log, mux: http.NewServeMux()}
	h.handle("POST", "/v1/records/get_record_by_callId", h.v1(h.v1RecordByCallID))
	h.handle("POST", "/v1/records/get_records_by_filter", h.v1(h.v1RecordsByFilter))
	h.handle("GET", "/v1/calls/{callId}", h.native(h.getCall))
	h.handle("GET", "/v1/calls", h.native(h.listCalls))
	h.handle("GET", "/v1/users/{userId}/calls", h.native(h.listUserCalls))
	h.handle("POST", "/v4/call_record_http_srv/get_record_by_callid", h.v4(h.v4RecordByCallID))
	h.handle("POST", "/v4/call_record_http_srv/get_record_by_filter", h.v4(h.v4RecordsByFilter))
	h.mux.HandleFunc("/", h.notFound)
	return h
}

func (h *Handler) handle(method, path string, fn http.HandlerFunc) {
	h.routes = append(h.routes, Route{method, path})
	h.mux.HandleFunc(method+" "+path, fn)
}

// Routes lists what the handler serves.
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// notFound answers unknown routes and wrong methods in the native error shape.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	rid := reqid.Hex32()
	for _, rt := range h.routes {
		if matchPath(rt.Path, r.URL.Path) {
			w.Header().Set("Allow", rt.Method)
			writeNative(w, rid, http.StatusMethodNotAllowed, apiErr{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not allowed here; use " + rt.Method})
			return
		}
	}
	writeNative(w, rid, http.StatusNotFound, apiErr{http.StatusNotFound, "not_found", "no such route"})
}

// matchPath compares a request path with a route pattern ({x} matches one non-empty
// segment). Empty segments count, so "/v1/calls/" is not "/v1/calls".
func matchPath(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != xs[i] && !(len(ps[i]) > 1 && ps[i][0] == '{' && xs[i] != "") {
			return false
		}
	}
	return true
}

// authenticate verifies the request and applies the app's rate limit.
func (h *Handler) authenticate(r *http.Request) (auth.Params, error) {
	p, err := h.auth.Verify(r.URL.Query())
	if err != nil {
		return p, err
	}
	if !h.limiter.Allow(p.SDKAppID) {
		return p, errRateLimited
	}
	return p, nil
}

var errRateLimited = errors.New("query: rate limit exceeded")

type ridKey struct{}

// storeErr logs an infrastructure failure; clients never see its text.
func (h *Handler) storeErr(ctx context.Context, err error) {
	rid, _ := ctx.Value(ridKey{}).(string)
	h.log.LogAttrs(ctx, slog.LevelError, "store failure", slog.String("requestId", rid), slog.String("apiRequestId", reqid.From(ctx)), slog.String("error", err.Error()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
