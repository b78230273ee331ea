package query

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/cursor"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/reqid"
	"github.com/callkit-records/callkit-records/shared/store"
)

type apiErr struct {
	status  int
	code    string
	message string
}

func (e *apiErr) Error() string { return e.message }

func bad(msg string) *apiErr { return &apiErr{http.StatusBadRequest, "invalid_parameter", msg} }

type nativeError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"requestId"`
}

func writeNative(w http.ResponseWriter, rid string, status int, e apiErr) {
	var body nativeError
	body.Error.Code, body.Error.Message, body.RequestID = e.code, e.message, rid
	writeJSON(w, status, body)
}

// native wraps a native route: authentication, rate limit, errors as
// {"error":{"code","message"},"requestId"} with a proper status.
func (h *Handler) native(fn func(ctx context.Context, p auth.Params, r *http.Request) (any, *apiErr)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid := reqid.Hex32()
		r = r.WithContext(context.WithValue(r.Context(), ridKey{}, rid))
		w.Header().Set("X-Request-Id", rid)
		data, e := func() (any, *apiErr) {
			p, err := h.authenticate(r)
			if err != nil {
				return nil, nativeAuthErr(err)
			}
			return fn(r.Context(), p, r)
		}()
		status := http.StatusOK
		if e != nil {
			status = e.status
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "query", slog.String("route", r.URL.Path), slog.String("requestId", rid),
			slog.String("apiRequestId", reqid.From(r.Context())), slog.Int("status", status))
		if e != nil {
			writeNative(w, rid, e.status, *e)
			return
		}
		writeJSON(w, http.StatusOK, data)
	}
}

func nativeAuthErr(err error) *apiErr {
	switch {
	case errors.Is(err, auth.ErrUserSig):
		return &apiErr{http.StatusUnauthorized, "invalid_usersig", err.Error()}
	case errors.Is(err, auth.ErrExpired):
		return &apiErr{http.StatusUnauthorized, "usersig_expired", err.Error()}
	case errors.Is(err, auth.ErrNotAdmin):
		return &apiErr{http.StatusForbidden, "not_admin", err.Error()}
	case errors.Is(err, errRateLimited):
		return &apiErr{http.StatusTooManyRequests, "rate_limited", "request rate limit exceeded; retry later"}
	}
	return bad(err.Error())
}

// nativeParams lists each native route's query parameters besides authentication (the
// OpenAPI test holds openapi.yaml to this table).
var nativeParams = map[string][]string{
	"/v1/calls/{callId}":       {"include"},
	"/v1/calls":                {"from", "to", "userId", "role", "result", "callType", "mediaType", "status", "order", "limit", "cursor"},
	"/v1/users/{userId}/calls": {"from", "to", "role", "result", "callType", "mediaType", "status", "order", "limit", "cursor"},
}

// QueryParams returns the query parameters a route accepts besides authentication.
func QueryParams(path string) []string { return append([]string(nil), nativeParams[path]...) }

// checkParams rejects parameters the route does not know (a typo must not silently
// widen a query) and repeated ones.
func checkParams(q url.Values, allowed ...string) *apiErr {
	for k, v := range q {
		if !slices.Contains(auth.ParamNames, k) && !slices.Contains(allowed, k) {
			return bad("unknown parameter " + strconv.Quote(k))
		}
		if len(v) > 1 {
			return bad("parameter " + k + " is given more than once")
		}
	}
	return nil
}

// CallResponse is GET /v1/calls/{callId}.
type CallResponse struct {
	record.Record
	Events []record.Event `json:"events,omitempty"`
}

func (h *Handler) getCall(ctx context.Context, p auth.Params, r *http.Request) (any, *apiErr) {
	q := r.URL.Query()
	if e := checkParams(q, nativeParams["/v1/calls/{callId}"]...); e != nil {
		return nil, e
	}
	withEvents := false
	switch q.Get("include") {
	case "":
	case "events":
		withEvents = true
	default:
		return nil, bad(`include must be "events"`)
	}
	id := r.PathValue("callId")
	if id == "" || len(id) > callback.MaxIDBytes {
		return nil, bad("callId must be 1-256 bytes")
	}
	rec, evs, err := h.store.Get(ctx, store.CallKey{App: p.SDKAppID, CallID: id}, withEvents)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &apiErr{http.StatusNotFound, "not_found", "call record does not exist"}
	case err != nil:
		h.storeErr(ctx, err)
		return nil, &apiErr{http.StatusServiceUnavailable, "unavailable", "the record store is unavailable; retry"}
	}
	return CallResponse{Record: rec, Events: evs}, nil
}

// ListResponse is a page of GET /v1/calls and /v1/users/{userId}/calls.
type ListResponse struct {
	Calls      []record.Record `json:"calls"`
	NextCursor string          `json:"nextCursor,omitempty"`
	From       int64           `json:"from"` // the window listed (Unix seconds, inclusive)
	To         int64           `json:"to"`
}

func (h *Handler) listCalls(ctx context.Context, p auth.Params, r *http.Request) (any, *apiErr) {
	q := r.URL.Query()
	if e := checkParams(q, nativeParams["/v1/calls"]...); e != nil {
		return nil, e
	}
	return h.list(ctx, p, q, q.Get("userId"))
}

func (h *Handler) listUserCalls(ctx context.Context, p auth.Params, r *http.Request) (any, *apiErr) {
	q := r.URL.Query()
	if e := checkParams(q, nativeParams["/v1/users/{userId}/calls"]...); e != nil {
		return nil, e
	}
	return h.list(ctx, p, q, r.PathValue("userId"))
}

// parseTime accepts Unix seconds or RFC 3339, both within 10-digit Unix seconds (the
// stores index times as 10 digits).
func parseTime(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= callback.MaxUnixSeconds {
		return n, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil && t.Unix() >= 0 && t.Unix() <= callback.MaxUnixSeconds {
		return t.Unix(), true
	}
	return 0, false
}

func (h *Handler) list(ctx context.Context, p auth.Params, q url.Values, userID string) (any, *apiErr) {
	sq := store.Query{App: p.SDKAppID, UserID: userID, Desc: true}
	if len(userID) > callback.MaxIDBytes {
		return nil, bad("userId must be at most 256 bytes")
	}
	if v := q.Get("role"); v != "" {
		role, ok := callback.ParseRole(v)
		if !ok || userID == "" {
			return nil, bad("role must be caller or callee, and needs a userId")
		}
		sq.Filter.Role = role.String()
	}
	if v := q.Get("result"); v != "" {
		res, ok := callback.ParseResult(v)
		if !ok || res == callback.ResultNone {
			return nil, bad("result must be one of cancel, reject, not_answer, normal_end, call_busy, interrupt, offline")
		}
		sq.Filter.Result = res.String()
	}
	if v := q.Get("callType"); v != "" {
		t, ok := callback.ParseCallType(v)
		if !ok || t == callback.CallTypeUnknown {
			return nil, bad("callType must be single or group")
		}
		sq.Filter.CallType = t.String()
	}
	if v := q.Get("mediaType"); v != "" {
		m, ok := callback.ParseMediaType(v)
		if !ok || m == callback.MediaUnknown {
			return nil, bad("mediaType must be audio or video")
		}
		sq.Filter.MediaType = m.String()
	}
	switch v := q.Get("status"); v {
	case "", record.StatusRinging, record.StatusOngoing, record.StatusEnded:
		sq.Filter.Status = v
	default:
		return nil, bad("status must be ringing, ongoing or ended")
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		sq.Desc = false
	default:
		return nil, bad("order must be asc or desc")
	}
	limit := NativeDefaultLim
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > NativeMaxLimit {
			return nil, bad("limit must be between 1 and 200")
		}
		limit = n
	}

	// The cursor is bound to every filter as the client wrote it; it carries the window
	// resolved on the first page, so "to" defaulting to now does not move under it.
	filters := cursor.FilterHash(strconv.FormatUint(p.SDKAppID, 10), userID, q.Get("from"), q.Get("to"),
		sq.Filter.Role, sq.Filter.Result, sq.Filter.CallType, sq.Filter.MediaType, sq.Filter.Status, strconv.FormatBool(sq.Desc))
	key := cursor.Key(h.auth.Key(p.SDKAppID))
	var after *store.Position
	if c := q.Get("cursor"); c != "" {
		cur, err := cursor.Decode(key, c, filters)
		switch {
		case errors.Is(err, cursor.ErrFilters):
			return nil, &apiErr{http.StatusBadRequest, "invalid_cursor", "the cursor belongs to a listing with other filters; start again without it"}
		case err != nil:
			return nil, &apiErr{http.StatusBadRequest, "invalid_cursor", "the cursor is not valid (it must be passed back unchanged)"}
		}
		sq.From, sq.To = cur.From, cur.To
		after = &store.Position{IndexTs: cur.IndexTs, CallID: cur.CallID}
	} else {
		sq.To = h.now().Unix()
		if v := q.Get("to"); v != "" {
			t, ok := parseTime(v)
			if !ok {
				return nil, bad("to must be Unix seconds or RFC 3339")
			}
			sq.To = t
		}
		sq.From = max(sq.To-NativeDefaultSpan, 0)
		if v := q.Get("from"); v != "" {
			t, ok := parseTime(v)
			if !ok {
				return nil, bad("from must be Unix seconds or RFC 3339")
			}
			sq.From = t
		}
		maxSpan := int64(NativeMaxAppSpan)
		if userID != "" {
			maxSpan = NativeMaxUserSpan
		}
		switch {
		case sq.From > sq.To:
			return nil, bad("from must not be after to")
		case sq.To-sq.From > maxSpan:
			if userID == "" {
				return nil, bad("to − from must be at most 366 days for an app's calls")
			}
			return nil, bad("to − from must be at most 3660 days")
		}
	}

	page, err := h.store.List(ctx, sq, after, limit, NativePageBudget)
	if err != nil {
		h.storeErr(ctx, err)
		return nil, &apiErr{http.StatusServiceUnavailable, "unavailable", "the record store is unavailable; retry"}
	}
	res := ListResponse{Calls: page.Records, From: sq.From, To: sq.To}
	if page.Next != nil {
		res.NextCursor = cursor.Encode(key, cursor.Cursor{Filters: filters, IndexTs: page.Next.IndexTs, CallID: page.Next.CallID, From: sq.From, To: sq.To})
	}
	return res, nil
}
