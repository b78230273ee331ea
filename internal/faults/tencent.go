// Package faults holds the fault suites of issue 6 (in its tests: queue outages, store
// failures mid-batch, kill -9 of the local server under load, concurrent persisters) and
// the one helper they share with other load tools: a sender that delivers a callback the
// way Tencent does, retrying until it is acknowledged.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// Schedule is Tencent's delivery schedule for one callback: the first attempt at once,
// then retries 1 s, 1 s, 2 s, 3 s and 5 s after the previous attempt (six in all).
var Schedule = []time.Duration{0, time.Second, time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second}

// Scale returns a copy of s with every delay multiplied by f, so tests keep the shape of
// the schedule without waiting 12 s.
func Scale(s []time.Duration, f float64) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, d := range s {
		out[i] = time.Duration(float64(d) * f)
	}
	return out
}

// Attempt is one POST of a callback and what came back.
type Attempt struct {
	Start, End time.Time
	Status     int   // HTTP status; 0 when there was no response (refused, reset, timeout)
	Code       int   // ErrorCode of the acknowledgement (v1 and v4 shapes); -1 when unreadable
	Err        error // transport error
}

// Acked reports whether Tencent counts the attempt as delivered: HTTP 200 and ErrorCode 0.
func (a Attempt) Acked() bool { return a.Err == nil && a.Status == http.StatusOK && a.Code == 0 }

// Within reports whether the attempt started at or after from and ended at or before to:
// it saw nothing but the state between those instants.
func (a Attempt) Within(from, to time.Time) bool { return !a.Start.Before(from) && !a.End.After(to) }

// maxAck bounds how much of a response is read: acknowledgements are tiny.
const maxAck = 64 << 10

// Post makes one attempt. Transport errors are returned in the Attempt, not as an error:
// for Tencent they are just another failed attempt.
func Post(ctx context.Context, c *http.Client, url string, body []byte) Attempt {
	a := Attempt{Start: time.Now(), Code: -1}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.Err = err
		a.End = time.Now()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		a.Err = err
		a.End = time.Now()
		return a
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAck))
	resp.Body.Close()
	a.Status = resp.StatusCode
	if err != nil {
		// A response cut short is not an acknowledgement Tencent could read.
		a.Status, a.Err = 0, err
		a.End = time.Now()
		return a
	}
	var ack struct{ ErrorCode *int }
	if json.Unmarshal(raw, &ack) == nil && ack.ErrorCode != nil {
		a.Code = *ack.ErrorCode
	}
	a.End = time.Now()
	return a
}

// Deliver makes the attempts of schedule (delay before each attempt) until one is
// acknowledged, the schedule is exhausted, or ctx ends, and returns every attempt.
func Deliver(ctx context.Context, c *http.Client, url string, body []byte, schedule []time.Duration) []Attempt {
	var out []Attempt
	for _, d := range schedule {
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return out
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return out
		}
		a := Post(ctx, c, url, body)
		out = append(out, a)
		if a.Acked() {
			return out
		}
	}
	return out
}
