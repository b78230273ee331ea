package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/reqid"
	"github.com/callkit-records/callkit-records/shared/store"
)

// Tencent v1 error codes.
const (
	CodeOK          = 0
	CodeParams      = 70001
	CodeUserSig     = 70002
	CodeExpired     = 70003
	CodeNotAdmin    = 70004
	CodeRateLimited = 70005
	CodeBody        = 70009
	CodeNoRecord    = 101050 // as Tencent's v4 API: the call record does not exist
	CodeInternal    = 101001 // as Tencent's v4 API: internal error, retry
)

// V1Record is the record exactly as Tencent's get_record_by_callId returns it.
type V1Record struct {
	CallID          string   `json:"callId"`
	SDKAppID        uint64   `json:"sdkAppId"`
	MediaType       string   `json:"mediaType"`
	RoomID          string   `json:"roomId"`
	StartCallTs     int64    `json:"startCallTs"`
	AcceptTs        int64    `json:"acceptTs"`
	EndTs           int64    `json:"endTs"`
	Caller          string   `json:"caller"`
	TotalUserNumber int      `json:"totalUserNumber"`
	CallType        string   `json:"callType"`
	CallResult      string   `json:"callResult"`
	Callees         []string `json:"callees"`
}

// V1 converts a record to the v1 shape.
func V1(r *record.Record) V1Record {
	callees := r.Callees
	if callees == nil {
		callees = []string{}
	}
	return V1Record{CallID: r.CallID, SDKAppID: r.SDKAppID, MediaType: r.MediaType, RoomID: r.RoomID,
		StartCallTs: r.StartCallTs, AcceptTs: r.AcceptTs, EndTs: r.EndTs, Caller: r.Caller,
		TotalUserNumber: r.TotalUserNumber, CallType: r.CallType, CallResult: r.CallResult, Callees: callees}
}

type v1Envelope struct {
	ErrorCode    int    `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	RequestID    string `json:"requestId"`
	Data         any    `json:"data"`
}

type v1Err struct {
	code int
	msg  string
}

func (e *v1Err) Error() string { return e.msg }

func v1Fail(code int, msg string) *v1Err { return &v1Err{code, msg} }

// tencentAPI is what differs between the routes of Tencent's two REST generations: the
// codes and the envelope. Both answer HTTP 200 always; the outcome is in the body.
type tencentAPI struct {
	authErr            func(error) *v1Err
	unreadable, tooBig int // codes for a body that cannot be read / is too large
	envelope           func(rid string, data any, e *v1Err) any
}

var v1API = tencentAPI{authErr: v1AuthErr, unreadable: CodeBody, tooBig: CodeParams,
	envelope: func(rid string, data any, e *v1Err) any {
		if e != nil {
			return v1Envelope{ErrorCode: e.code, ErrorMessage: e.msg, RequestID: rid, Data: struct{}{}}
		}
		return v1Envelope{ErrorMessage: "Success", RequestID: rid, Data: data}
	}}

// tencent wraps a Tencent-compatible route: authentication, rate limit, body reading, the
// envelope.
func (h *Handler) tencent(api tencentAPI, fn func(ctx context.Context, p auth.Params, body []byte) (any, *v1Err)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid := reqid.Hex32()
		r = r.WithContext(context.WithValue(r.Context(), ridKey{}, rid))
		data, e := func() (any, *v1Err) {
			p, err := h.authenticate(r)
			if err != nil {
				return nil, api.authErr(err)
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
			if err != nil {
				return nil, v1Fail(api.unreadable, "request body could not be read")
			}
			if len(body) > MaxBodyBytes {
				return nil, v1Fail(api.tooBig, "request body exceeds 65536 bytes")
			}
			return fn(r.Context(), p, body)
		}()
		code := 0
		if e != nil {
			code = e.code
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "query", slog.String("route", r.URL.Path), slog.String("requestId", rid),
			slog.String("apiRequestId", reqid.From(r.Context())), slog.Int("errorCode", code))
		writeJSON(w, http.StatusOK, api.envelope(rid, data, e))
	}
}

// v1 wraps a v1 route (errorCode/errorMessage/requestId/data).
func (h *Handler) v1(fn func(ctx context.Context, p auth.Params, body []byte) (any, *v1Err)) http.HandlerFunc {
	return h.tencent(v1API, fn)
}

func v1AuthErr(err error) *v1Err {
	switch {
	case errors.Is(err, auth.ErrUserSig):
		return v1Fail(CodeUserSig, err.Error())
	case errors.Is(err, auth.ErrExpired):
		return v1Fail(CodeExpired, err.Error())
	case errors.Is(err, auth.ErrNotAdmin):
		return v1Fail(CodeNotAdmin, err.Error())
	case errors.Is(err, errRateLimited):
		return v1Fail(CodeRateLimited, "request frequency limited; retry later")
	}
	return v1Fail(CodeParams, err.Error())
}

// decodeBody parses a JSON object body into raw fields; 70009 when it is not one.
func decodeBody(body []byte) (map[string]json.RawMessage, *v1Err) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, v1Fail(CodeBody, "request body must be a JSON object (send {} when there are no fields)")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, v1Fail(CodeBody, "request body is not a JSON object")
	}
	return m, nil
}

// str reads a string field (a number is accepted as its digits).
func str(m map[string]json.RawMessage, name string) (string, *v1Err) {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return n.String(), nil
		}
	}
	return "", v1Fail(CodeBody, name+" must be a string")
}

// integer reads an integer field (a string of digits is accepted); ok=false when absent.
func integer(m map[string]json.RawMessage, name string) (int64, bool, *v1Err) {
	raw, present := m[name]
	if !present || string(raw) == "null" {
		return 0, false, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false, v1Fail(CodeBody, name+" must be an integer")
		}
		n = json.Number(s)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, false, v1Fail(CodeBody, name+" must be an integer")
	}
	return v, true, nil
}

func (h *Handler) v1RecordByCallID(ctx context.Context, p auth.Params, body []byte) (any, *v1Err) {
	m, e := decodeBody(body)
	if e != nil {
		return nil, e
	}
	id, e := str(m, "callId")
	if e != nil {
		return nil, e
	}
	if id == "" {
		return nil, v1Fail(CodeParams, "callId is required")
	}
	if len(id) > callback.MaxIDBytes {
		return nil, v1Fail(CodeParams, "callId must be at most 256 bytes")
	}
	r, _, err := h.store.Get(ctx, store.CallKey{App: p.SDKAppID, CallID: id}, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, v1Fail(CodeNoRecord, "call record does not exist")
	case err != nil:
		h.storeErr(ctx, err)
		return nil, v1Fail(CodeInternal, "internal error; retry")
	}
	return V1(&r), nil
}

type v1Page struct {
	TotalNum       int        `json:"totalNum"`
	Page           int        `json:"page"`
	CallRecordList []V1Record `json:"callRecordList"`
}

func (h *Handler) v1RecordsByFilter(ctx context.Context, p auth.Params, body []byte) (any, *v1Err) {
	m, e := decodeBody(body)
	if e != nil {
		return nil, e
	}
	start, ok, e := integer(m, "startTimestamp")
	if e != nil {
		return nil, e
	}
	if !ok || start <= 0 || start > callback.MaxUnixSeconds {
		return nil, v1Fail(CodeParams, "startTimestamp is required (Unix seconds)")
	}
	end, ok, e := integer(m, "endTimestamp")
	if e != nil {
		return nil, e
	}
	if !ok {
		end = start + V1DefaultSpan
	}
	switch {
	case end < start:
		return nil, v1Fail(CodeParams, "endTimestamp must not be before startTimestamp")
	case end-start > V1MaxSpan:
		return nil, v1Fail(CodeParams, "endTimestamp − startTimestamp must be at most 93 days; use GET /v1/calls with a cursor for longer ranges")
	}
	q := store.Query{App: p.SDKAppID, From: start, To: end}
	res, e := str(m, "callResult")
	if e != nil {
		return nil, e
	}
	if res != "" {
		r, ok := callback.ParseResult(res)
		if !ok || r == callback.ResultNone {
			return nil, v1Fail(CodeParams, "callResult must be one of cancel, reject, not_answer, normal_end, call_busy, interrupt, offline")
		}
		q.Filter.Result = r.String()
	}
	ct, e := str(m, "callType")
	if e != nil {
		return nil, e
	}
	if ct != "" {
		t, ok := callback.ParseCallType(ct)
		if !ok || t == callback.CallTypeUnknown {
			return nil, v1Fail(CodeParams, "callType must be single or group")
		}
		q.Filter.CallType = t.String()
	}
	per, ok, e := integer(m, "numberPerPage")
	if e != nil {
		return nil, e
	}
	if !ok {
		per = V1DefaultPerPage
	}
	if per < 1 || per > V1MaxPerPage {
		return nil, v1Fail(CodeParams, "numberPerPage must be between 1 and 1000")
	}
	page, ok, e := integer(m, "page")
	if e != nil {
		return nil, e
	}
	if !ok {
		page = 1
	}
	if page < 1 {
		return nil, v1Fail(CodeParams, "page starts at 1")
	}
	if page > V1MaxDepth/per { // page × numberPerPage ≤ V1MaxDepth, without overflowing
		return nil, v1Fail(CodeParams, "page × numberPerPage must be at most 10000; use GET /v1/calls with a cursor to go deeper")
	}
	recs, total, err := h.store.Window(ctx, q, int((page-1)*per), int(per), V1CountBudget)
	switch {
	case errors.Is(err, store.ErrBudget):
		return nil, v1Fail(CodeParams, "the time range holds too many records to count; narrow it")
	case err != nil:
		h.storeErr(ctx, err)
		return nil, v1Fail(CodeInternal, "internal error; retry")
	}
	out := v1Page{TotalNum: total, Page: int(page), CallRecordList: make([]V1Record, 0, len(recs))}
	for i := range recs {
		out.CallRecordList = append(out.CallRecordList, V1(&recs[i]))
	}
	return out, nil
}
