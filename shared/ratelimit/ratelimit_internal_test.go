package ratelimit

import (
	"sync"
	"testing"
	"time"
)

// clock is a manual clock; the limiter reads it instead of the wall clock, so the tests
// assert exact token counts without depending on how fast they run.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newAt(rps float64) (*Limiter, *clock) {
	c := &clock{t: time.Unix(1795000000, 0)}
	l := New(rps)
	l.now = c.now
	return l, c
}

// allowed counts the requests allowed in a row at one instant (stopping at max).
func allowed(l *Limiter, app uint64, max int) int {
	n := 0
	for n < max && l.Allow(app) {
		n++
	}
	return n
}

func TestBurstIsTwiceTheRate(t *testing.T) {
	for _, tc := range []struct {
		rps   float64
		burst int
	}{
		{200, 400},
		{5, 10},
		{1, 2},
		{0.5, 1},
		{0.001, 1}, // a tiny rate still lets one request through
		{0, 2 * DefaultRPS},
		{-3, 2 * DefaultRPS},
	} {
		l, _ := newAt(tc.rps)
		if got := allowed(l, 1, 10*tc.burst); got != tc.burst {
			t.Fatalf("rps %v: %d requests allowed at once, want a burst of %d", tc.rps, got, tc.burst)
		}
	}
}

func TestRefillsAtTheRate(t *testing.T) {
	l, c := newAt(200)
	if got := allowed(l, 1, 1000); got != 400 {
		t.Fatalf("burst %d, want 400", got)
	}
	c.add(50 * time.Millisecond) // 10 tokens at 200/s
	if got := allowed(l, 1, 1000); got != 10 {
		t.Fatalf("after 50 ms: %d allowed, want 10", got)
	}
	c.add(time.Hour) // the bucket fills up to the burst, no more
	if got := allowed(l, 1, 1000); got != 400 {
		t.Fatalf("after an hour: %d allowed, want 400", got)
	}
}

func TestPerApp(t *testing.T) {
	l, _ := newAt(1)
	if allowed(l, 1, 100) != 2 {
		t.Fatal("app 1 burst")
	}
	if l.Allow(1) {
		t.Fatal("app 1 is over its limit but allowed")
	}
	if allowed(l, 2, 100) != 2 {
		t.Fatal("app 2 is limited by app 1's traffic")
	}
}

func TestBucketsBounded(t *testing.T) {
	l, _ := newAt(1)
	l.limit = 50
	for app := uint64(1); app <= 500; app++ {
		l.Allow(app)
		if len(l.apps) > l.limit {
			t.Fatalf("%d buckets held, limit %d", len(l.apps), l.limit)
		}
	}
}

// TestConcurrent: concurrent callers share one bucket per app and never over-admit
// (run with -race to check the locking too).
func TestConcurrent(t *testing.T) {
	l, _ := newAt(100)
	var mu sync.Mutex
	total := map[uint64]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				app := uint64(1 + (g+i)%2)
				if l.Allow(app) {
					mu.Lock()
					total[app]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if total[1] != 200 || total[2] != 200 {
		t.Fatalf("allowed %v over 800 concurrent requests, want 200 per app", total)
	}
}
