// Package loadtest is the load harness behind `make bench`: it renders realistic,
// distinct TUICallKit callbacks, drives HTTP servers with vegeta (as a library, pinned in
// go.mod), runs the servers under test as child processes and reports latency and
// throughput figures.
package loadtest

import (
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
)

// TargetHeader carries a target's index, so results can be tied back to the request
// that produced them (vegeta's results carry only a sequence number).
const TargetHeader = "X-Bench-Target"

// Callback is one webhook request as Tencent would send it.
type Callback struct {
	Query  string // sdkappid, command, contenttype, clientip, optplatform
	Body   []byte
	App    uint64
	CallID string
	Key    string // the event key the store files it under
}

// Callbacks renders at least n distinct v1 callbacks of realistic calls (every v1
// scenario, random users, rooms and platforms), interleaved by event time as they reach
// the webhook. Calls start within span seconds before t0. Every callback is distinct
// (no retries): a duplicate would be acknowledged without adding work downstream.
func Callbacks(seed uint64, app uint64, n int, t0, span int64) []Callback {
	r := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	var all []callback.Callback
	seen := map[string]bool{}
	for len(all) < n {
		sc := recordtest.V1Scenarios[r.IntN(len(recordtest.V1Scenarios))]
		c := recordtest.GenScenario(r, app, sc, t0-r.Int64N(span))
		for _, cb := range c.Callbacks {
			k := cb.Key().String()
			if !seen[k] {
				seen[k] = true
				all = append(all, cb)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].EventTime < all[j].EventTime })
	out := make([]Callback, len(all))
	for i := range all {
		q, body := all[i].Render()
		out[i] = Callback{Query: q.Encode(), Body: body, App: app, CallID: all[i].CallID, Key: all[i].Key().String()}
	}
	return out
}

// Request is one prepared HTTP request.
type Request struct {
	Method string
	Path   string // path and query, appended to the server's base URL
	Body   []byte
	Kind   string // what the request is, for per-kind latency (e.g. "by-id", "page")
}

// WebhookRequests turns callbacks into POSTs to path (e.g. "/callback").
func WebhookRequests(cbs []Callback, path string) []Request {
	out := make([]Request, len(cbs))
	for i, c := range cbs {
		out[i] = Request{Method: http.MethodPost, Path: path + "?" + c.Query, Body: c.Body, Kind: "callback"}
	}
	return out
}

func targetHeader(i int) http.Header {
	return http.Header{TargetHeader: {strconv.Itoa(i)}, "Content-Type": {"application/json"}}
}
