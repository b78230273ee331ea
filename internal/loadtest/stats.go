package loadtest

import (
	"math"
	"slices"
	"time"
)

// Summary describes a latency distribution in milliseconds.
type Summary struct {
	N      int     `json:"n"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
}

// Summarize takes sorted latencies (nearest-rank percentiles).
func Summarize(sorted []time.Duration) Summary {
	n := len(sorted)
	if n == 0 {
		return Summary{}
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Summary{
		N:      n,
		MeanMs: ms(sum / time.Duration(n)),
		P50Ms:  ms(Percentile(sorted, 0.50)),
		P90Ms:  ms(Percentile(sorted, 0.90)),
		P99Ms:  ms(Percentile(sorted, 0.99)),
		MaxMs:  ms(sorted[n-1]),
	}
}

// Percentile returns the nearest-rank p-quantile of sorted latencies.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// Median of values (0 when empty); the input is not modified.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
