// Package ratelimit limits query requests per app with token buckets. In Lambda each
// execution environment limits on its own; API Gateway's route throttling is the
// deployment-wide limit.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default rate per app (requests per second); the burst is twice the rate.
const DefaultRPS = 200

// Limiter holds one bucket per app.
type Limiter struct {
	mu    sync.Mutex
	rps   float64
	burst int
	apps  map[uint64]*rate.Limiter
	limit int              // at most this many buckets (ids are authenticated, but stay bounded)
	now   func() time.Time // time.Now; the tests step their own clock
}

// New returns a limiter allowing rps per app (DefaultRPS when ≤ 0), with bursts of
// twice that (at least one request).
func New(rps float64) *Limiter {
	if rps <= 0 {
		rps = DefaultRPS
	}
	return &Limiter{rps: rps, burst: max(int(2*rps), 1), apps: map[uint64]*rate.Limiter{}, limit: 10000, now: time.Now}
}

// Allow reports whether app may make a request now.
func (l *Limiter) Allow(app uint64) bool {
	l.mu.Lock()
	b := l.apps[app]
	if b == nil {
		if len(l.apps) >= l.limit {
			l.apps = map[uint64]*rate.Limiter{}
		}
		b = rate.NewLimiter(rate.Limit(l.rps), l.burst)
		l.apps[app] = b
	}
	l.mu.Unlock()
	return b.AllowN(l.now(), 1)
}
