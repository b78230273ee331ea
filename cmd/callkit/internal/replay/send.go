package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/webhookauth"
)

// Options configure a replay.
type Options struct {
	URL           string        // the webhook, e.g. http://127.0.0.1:3000/callback
	Rate          float64       // requests per second (> 0)
	SDKAppID      uint64        // non-zero: send every callback as this app
	CallbackToken string        // non-empty: add Sign/RequestTime as Tencent does
	Timeout       time.Duration // per request
	Client        *http.Client
	Now           func() time.Time
}

// Result is what the webhook said to one callback.
type Result struct {
	Source     string `json:"source"`
	Command    string `json:"command,omitempty"`
	CallID     string `json:"callId,omitempty"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
	ErrorCode  *int   `json:"errorCode,omitempty"`
	Message    string `json:"message,omitempty"`
	// OK only for HTTP 200 with ErrorCode 0 (and ActionStatus OK on v4): Tencent's
	// meaning of "acknowledged". Anything else — including 200 with a non-zero code —
	// is a failure.
	OK bool `json:"ok"`
}

// Summary counts a replay.
type Summary struct {
	Sent         int `json:"sent"`
	Acknowledged int `json:"acknowledged"`
	Failed       int `json:"failed"`
}

// Send posts each callback in order at the given rate and reports each result to
// report. It stops early only when ctx ends (the error then says so).
func Send(ctx context.Context, cbs []Callback, opts Options, report func(Result)) (Summary, error) {
	var sum Summary
	if opts.Rate <= 0 {
		return sum, errors.New("replay: rate must be positive")
	}
	if _, err := url.ParseRequestURI(opts.URL); err != nil {
		return sum, fmt.Errorf("replay: url: %w", err)
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lim := rate.NewLimiter(rate.Limit(opts.Rate), 1)
	for _, cb := range cbs {
		if err := lim.Wait(ctx); err != nil {
			return sum, fmt.Errorf("replay: stopped after %d of %d: %w", sum.Sent, len(cbs), context.Cause(ctx))
		}
		r := post(ctx, cb, opts)
		sum.Sent++
		if r.OK {
			sum.Acknowledged++
		} else {
			sum.Failed++
		}
		report(r)
	}
	return sum, nil
}

func post(ctx context.Context, cb Callback, opts Options) Result {
	q := url.Values{}
	for k, v := range cb.Query {
		q[k] = append([]string(nil), v...)
	}
	if opts.SDKAppID != 0 {
		name := "sdkappid"
		if callback.IsV4Request(q) {
			name = "SdkAppid"
		}
		q.Set(name, strconv.FormatUint(opts.SDKAppID, 10))
	}
	if opts.CallbackToken != "" {
		t := strconv.FormatInt(opts.Now().Unix(), 10)
		q.Set("RequestTime", t)
		q.Set("Sign", webhookauth.Sign(opts.CallbackToken, t))
	}
	res := Result{Source: cb.Source}
	if parsed, err := callback.Parse(q, cb.Body); err == nil {
		res.Command, res.CallID = parsed.Command.String(), parsed.CallID
	} else if c := q.Get("command"); c != "" {
		res.Command = c
	} else {
		res.Command = q.Get("CallbackCommand")
	}

	sep := "?"
	if strings.Contains(opts.URL, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, opts.URL+sep+q.Encode(), bytes.NewReader(cb.Body))
	if err != nil {
		res.Message = "request: " + err.Error()
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := opts.Client.Do(req)
	if err != nil {
		res.Message = "no answer: " + err.Error()
		return res
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.HTTPStatus = resp.StatusCode
	var ack struct {
		ErrorCode    *int   `json:"ErrorCode"`
		ErrorMessage string `json:"ErrorMessage"`
		ErrorInfo    string `json:"ErrorInfo"`
		ActionStatus string `json:"ActionStatus"`
	}
	if err := json.Unmarshal(raw, &ack); err != nil || ack.ErrorCode == nil {
		res.Message = "not a Tencent acknowledgement: " + snippet(raw)
		return res
	}
	res.ErrorCode = ack.ErrorCode
	res.Message = ack.ErrorMessage
	if res.Message == "" {
		res.Message = ack.ErrorInfo
	}
	res.OK = resp.StatusCode == http.StatusOK && *ack.ErrorCode == 0 && (ack.ActionStatus == "" || ack.ActionStatus == "OK")
	return res
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return strconv.Quote(s)
}
