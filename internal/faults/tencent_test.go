package faults_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/faults"
)

// The sender retries on refusals and transport errors, stops at the first
// acknowledgement, reads both acknowledgement shapes, and gives up after the schedule.
func TestDeliverLikeTencent(t *testing.T) {
	var n atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"ErrorCode":1,"ErrorMessage":"queue unavailable; retry later"}`))
		case 2:
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`not json`)) // 200 without an ErrorCode is no acknowledgement
		default:
			_, _ = w.Write([]byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`))
		}
	}))
	defer hs.Close()
	schedule := faults.Scale(faults.Schedule, 0.001)
	if schedule[5] != 5*time.Millisecond {
		t.Fatalf("Scale: %v", schedule)
	}
	as := faults.Deliver(context.Background(), hs.Client(), hs.URL, []byte(`{}`), schedule)
	if len(as) != 3 || as[0].Status != 503 || as[0].Code != 1 || as[0].Acked() || as[1].Code != -1 || as[1].Acked() || !as[2].Acked() {
		t.Fatalf("attempts %+v", as)
	}
	if !as[1].Start.After(as[0].End) || !as[2].Within(as[1].End, time.Now()) {
		t.Fatalf("attempts not in order: %+v", as)
	}

	hs.Close() // nothing listens now: every attempt is a transport error
	as = faults.Deliver(context.Background(), http.DefaultClient, hs.URL, []byte(`{}`), schedule)
	if len(as) != len(schedule) {
		t.Fatalf("%d attempts against a dead server, want all %d", len(as), len(schedule))
	}
	for _, a := range as {
		if a.Err == nil || a.Status != 0 || a.Acked() {
			t.Fatalf("attempt %+v", a)
		}
	}
}
