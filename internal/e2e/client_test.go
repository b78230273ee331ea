package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callkit-records/callkit-records/internal/stack"
	"github.com/callkit-records/callkit-records/shared/callback"
)

// client speaks to a stack over HTTP, as Tencent (the webhook) and an app's backend
// (the records API) would. Its methods return errors so goroutines can use them.
type client struct {
	s  *stack.Stack
	hc *http.Client
}

func newClient(s *stack.Stack) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &client{s: s, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (c *client) do(req *http.Request) (int, []byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// postCallback delivers one callback the way Tencent does (query parameters, JSON body)
// and checks the acknowledgement: HTTP 200 with ErrorCode 0, in the v1 or v4 shape.
func (c *client) postCallback(ctx context.Context, cb *callback.Callback) error {
	status, body, err := c.sendCallback(ctx, cb)
	if err != nil {
		return err
	}
	var ack struct {
		ErrorCode    *int   `json:"ErrorCode"`
		ActionStatus string `json:"ActionStatus"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &ack) != nil || ack.ErrorCode == nil || *ack.ErrorCode != 0 ||
		(cb.V4 != nil) != (ack.ActionStatus == "OK") {
		return fmt.Errorf("callback %s %s of %s: HTTP %d %s", cb.Command, cb.UserID, cb.CallID, status, body)
	}
	return nil
}

func (c *client) sendCallback(ctx context.Context, cb *callback.Callback) (int, []byte, error) {
	q, body := cb.Render()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.WebhookURL+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

// deliver posts every callback with n concurrent senders (Tencent's servers do not wait
// for one call's callbacks before sending another's) and returns the first failure.
func (c *client) deliver(ctx context.Context, cbs []callback.Callback, n int) error {
	ch := make(chan *callback.Callback)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cb := range ch {
				if err := c.postCallback(ctx, cb); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range cbs {
		ch <- &cbs[i]
	}
	close(ch)
	wg.Wait()
	return first
}

func (c *client) authQuery() (string, error) {
	q, err := c.s.Auth()
	if err != nil {
		return "", err
	}
	return q.Encode(), nil
}

// v1Response is Tencent's v1 envelope.
type v1Response struct {
	ErrorCode    int             `json:"errorCode"`
	ErrorMessage string          `json:"errorMessage"`
	RequestID    string          `json:"requestId"`
	Data         json.RawMessage `json:"data"`
}

// v1 POSTs a Tencent-compatible v1 request; the HTTP status is always 200.
func (c *client) v1(ctx context.Context, route string, body any) (v1Response, error) {
	var out v1Response
	b, err := c.post(ctx, route, body)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("%s: %w: %s", route, err, b)
	}
	if out.ErrorCode != 0 {
		return out, fmt.Errorf("%s: errorCode %d %s", route, out.ErrorCode, out.ErrorMessage)
	}
	return out, nil
}

// v4Response is Tencent's v4 envelope.
type v4Response struct {
	ActionStatus string          `json:"ActionStatus"`
	ErrorInfo    string          `json:"ErrorInfo"`
	ErrorCode    int             `json:"ErrorCode"`
	RequestID    string          `json:"RequestId"`
	Response     json.RawMessage `json:"Response"`
}

func (c *client) v4(ctx context.Context, route string, body any) (v4Response, error) {
	var out v4Response
	b, err := c.post(ctx, route, body)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("%s: %w: %s", route, err, b)
	}
	if out.ErrorCode != 0 || out.ActionStatus != "OK" {
		return out, fmt.Errorf("%s: %s %d %s", route, out.ActionStatus, out.ErrorCode, out.ErrorInfo)
	}
	return out, nil
}

func (c *client) post(ctx context.Context, route string, body any) ([]byte, error) {
	auth, err := c.authQuery()
	if err != nil {
		return nil, err
	}
	jb, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.QueryURL+route+"?"+auth, bytes.NewReader(jb))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	status, b, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d %s", route, status, b)
	}
	return b, nil
}

// native GETs a native route (path may carry its own query) and decodes a 200 answer
// into out.
func (c *client) native(ctx context.Context, path string, params url.Values, out any) error {
	auth, err := c.authQuery()
	if err != nil {
		return err
	}
	q := auth
	if len(params) > 0 {
		q += "&" + params.Encode()
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.s.QueryURL+path+sep+q, nil)
	if err != nil {
		return err
	}
	status, b, err := c.do(req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d %s", path, status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("GET %s: %w: %s", path, err, b)
	}
	return nil
}
