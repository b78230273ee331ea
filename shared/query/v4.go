package query

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/store"
)

// Error codes of the v4 routes: the IM REST common codes for transport and auth, the
// call record service's own codes for the rest (README "Query API").
const (
	V4CodeOK          = 0
	V4CodeURLParams   = 60002  // missing or invalid URL parameters
	V4CodeJSON        = 60003  // body is not a JSON object
	V4CodeUserSig     = 60004  // UserSig invalid
	V4CodeExpired     = 60005  // UserSig expired
	V4CodeUnknownApp  = 60006  // sdkappid not served
	V4CodeRateLimited = 60007  // request rate limited
	V4CodeNotAdmin    = 60010  // identifier is not an admin
	V4CodeInternal    = 101001 // internal error, retry
	V4CodeParams      = 101002 // invalid request field
	V4CodeNoRecord    = 101050 // call record does not exist

	V4DefaultPerPage = 10
)

// V4Record is a call record as Tencent's v4 get_record_by_callid returns it.
type V4Record struct {
	CallID         string   `json:"CallId"`
	CallerAccount  string   `json:"Caller_Account"`
	MediaType      string   `json:"MediaType"`
	CallType       string   `json:"CallType"`
	StartTime      int64    `json:"StartTime"`
	EndTime        int64    `json:"EndTime"`
	AcceptTime     int64    `json:"AcceptTime"`
	CallResult     string   `json:"CallResult"`
	CalleeAccounts []string `json:"CalleeList_Account"`
	RoomID         string   `json:"RoomId"`
	RoomIDType     int      `json:"RoomIdType"`
}

// V4 converts a record to the v4 shape. Like Tencent's, CalleeList_Account lists the
// caller first, then the callees; RoomIdType is 1 for a numeric room, 2 otherwise.
func V4(r *record.Record) V4Record {
	media, _ := callback.ParseMediaType(r.MediaType)
	ct, _ := callback.ParseCallType(r.CallType)
	res, _ := callback.ParseResult(r.CallResult)
	members := make([]string, 0, len(r.Callees)+1)
	if r.Caller != "" {
		members = append(members, r.Caller)
	}
	members = append(members, r.Callees...)
	rt := 0
	if r.RoomID != "" {
		rt = 2
		if _, err := strconv.ParseUint(r.RoomID, 10, 64); err == nil {
			rt = 1
		}
	}
	return V4Record{CallID: r.CallID, CallerAccount: r.Caller, MediaType: callback.V4MediaType(media), CallType: callback.V4CallType(ct),
		StartTime: r.StartCallTs, EndTime: r.EndTs, AcceptTime: r.AcceptTs, CallResult: callback.V4Result(res),
		CalleeAccounts: members, RoomID: r.RoomID, RoomIDType: rt}
}

type v4Envelope struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
	RequestID    string `json:"RequestId"`
	Response     any    `json:"Response,omitempty"`
}

var v4Seq atomic.Uint64

// v4RequestID looks like Tencent's ("Id-<32 hex>-O-Seq-<n>").
func v4RequestID(hex32 string) string {
	return "Id-" + hex32 + "-O-Seq-" + strconv.FormatUint(v4Seq.Add(1), 10)
}

var v4API = tencentAPI{authErr: v4AuthErr, unreadable: V4CodeJSON, tooBig: V4CodeParams,
	envelope: func(rid string, data any, e *v1Err) any {
		if e != nil {
			return v4Envelope{ActionStatus: "FAIL", ErrorInfo: e.msg, ErrorCode: e.code, RequestID: v4RequestID(rid)}
		}
		return v4Envelope{ActionStatus: "OK", RequestID: v4RequestID(rid), Response: data}
	}}

// v4 wraps a v4 route (ActionStatus/ErrorInfo/ErrorCode/RequestId/Response).
func (h *Handler) v4(fn func(ctx context.Context, p auth.Params, body []byte) (any, *v1Err)) http.HandlerFunc {
	return h.tencent(v4API, fn)
}

func v4AuthErr(err error) *v1Err {
	switch {
	case errors.Is(err, auth.ErrUnknownApp):
		return v1Fail(V4CodeUnknownApp, err.Error())
	case errors.Is(err, auth.ErrUserSig):
		return v1Fail(V4CodeUserSig, err.Error())
	case errors.Is(err, auth.ErrExpired):
		return v1Fail(V4CodeExpired, err.Error())
	case errors.Is(err, auth.ErrNotAdmin):
		return v1Fail(V4CodeNotAdmin, err.Error())
	case errors.Is(err, errRateLimited):
		return v1Fail(V4CodeRateLimited, "request frequency limited; retry later")
	}
	return v1Fail(V4CodeURLParams, err.Error())
}

// v4Body maps the v1 body errors to v4 codes.
func v4Body(e *v1Err) *v1Err {
	switch e.code {
	case CodeBody:
		return v1Fail(V4CodeJSON, e.msg)
	case CodeParams:
		return v1Fail(V4CodeParams, e.msg)
	}
	return e
}

func (h *Handler) v4RecordByCallID(ctx context.Context, p auth.Params, body []byte) (any, *v1Err) {
	m, e := decodeBody(body)
	if e != nil {
		return nil, v4Body(e)
	}
	id, e := str(m, "CallId")
	if e != nil {
		return nil, v4Body(e)
	}
	if id == "" || len(id) > callback.MaxIDBytes {
		return nil, v1Fail(V4CodeParams, "CallId is required (at most 256 bytes)")
	}
	r, _, err := h.store.Get(ctx, store.CallKey{App: p.SDKAppID, CallID: id}, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, v1Fail(V4CodeNoRecord, "call record does not exist")
	case err != nil:
		h.storeErr(ctx, err)
		return nil, v1Fail(V4CodeInternal, "internal error; retry")
	}
	return struct {
		CallRecord V4Record `json:"CallRecord"`
	}{V4(&r)}, nil
}

type v4Page struct {
	TotalNum       int        `json:"TotalNum"`
	Page           int        `json:"Page"`
	CallRecordList []V4Record `json:"CallRecordList"`
}

func (h *Handler) v4RecordsByFilter(ctx context.Context, p auth.Params, body []byte) (any, *v1Err) {
	m, e := decodeBody(body)
	if e != nil {
		return nil, v4Body(e)
	}
	now := h.now().Unix()
	end, ok, e := integer(m, "EndTime")
	if e != nil {
		return nil, v4Body(e)
	}
	if !ok {
		end = now
	}
	start, ok, e := integer(m, "StartTime")
	if e != nil {
		return nil, v4Body(e)
	}
	if !ok {
		start = end - V1DefaultSpan
	}
	switch {
	case start < 0 || end < 0 || end > callback.MaxUnixSeconds:
		return nil, v1Fail(V4CodeParams, "StartTime and EndTime are Unix seconds")
	case end < start:
		return nil, v1Fail(V4CodeParams, "EndTime must not be before StartTime")
	case end-start > V1MaxSpan:
		return nil, v1Fail(V4CodeParams, "EndTime − StartTime must be at most 93 days")
	}
	q := store.Query{App: p.SDKAppID, From: start, To: end}
	if res, e := str(m, "CallResult"); e != nil {
		return nil, v4Body(e)
	} else if res != "" {
		r, ok := callback.ParseResult(res)
		if !ok || r == callback.ResultNone {
			return nil, v1Fail(V4CodeParams, "CallResult must be one of Cancel, Reject, NotAnswer, NormalEnd, CallBusy, Interrupt, Offline")
		}
		q.Filter.Result = r.String()
	}
	if ct, e := str(m, "CallType"); e != nil {
		return nil, v4Body(e)
	} else if ct != "" {
		t, ok := callback.ParseCallType(ct)
		if !ok || t == callback.CallTypeUnknown {
			return nil, v1Fail(V4CodeParams, "CallType must be SingleCall or MultiCall")
		}
		q.Filter.CallType = t.String()
	}
	per, ok, e := integer(m, "NumberPerPage")
	if e != nil {
		return nil, v4Body(e)
	}
	if !ok {
		per = V4DefaultPerPage
	}
	if per < 1 || per > V1MaxPerPage {
		return nil, v1Fail(V4CodeParams, "NumberPerPage must be between 1 and 1000")
	}
	page, ok, e := integer(m, "Page")
	if e != nil {
		return nil, v4Body(e)
	}
	if !ok {
		page = 1
	}
	if page < 1 || page > V1MaxDepth/per { // Page × NumberPerPage ≤ V1MaxDepth, without overflowing
		return nil, v1Fail(V4CodeParams, "Page starts at 1, and Page × NumberPerPage must be at most 10000")
	}
	recs, total, err := h.store.Window(ctx, q, int((page-1)*per), int(per), V1CountBudget)
	switch {
	case errors.Is(err, store.ErrBudget):
		return nil, v1Fail(V4CodeParams, "the time range holds too many records to count; narrow it")
	case err != nil:
		h.storeErr(ctx, err)
		return nil, v1Fail(V4CodeInternal, "internal error; retry")
	}
	out := v4Page{TotalNum: total, CallRecordList: make([]V4Record, 0, len(recs))}
	if len(recs) > 0 { // Tencent: Page > 0 means this page has data; 0 means past the end
		out.Page = int(page)
	}
	for i := range recs {
		out.CallRecordList = append(out.CallRecordList, V4(&recs[i]))
	}
	return out, nil
}
