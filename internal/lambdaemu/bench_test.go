package lambdaemu

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkInvokeWarm measures one warm invoke through the emulator
// (Invoke → /next → handler → /response → Result) with a small payload.
func BenchmarkInvokeWarm(b *testing.B) {
	f := startTest(b, Config{Timeout: 10 * time.Second})
	ctx := context.Background()
	payload := []byte(`{"op":"echo"}`)
	if res, err := f.Invoke(ctx, payload); err != nil || res.FunctionError != "" {
		b.Fatalf("warm-up: %v %s", err, res.Payload)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		res, err := f.Invoke(ctx, payload)
		lat = append(lat, time.Since(t0))
		if err != nil || res.FunctionError != "" || res.ColdStart {
			b.Fatalf("invoke %d: %v %+v", i, err, res)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkInvokeWarmHTTP is the same through the RIE-compatible HTTP front.
func BenchmarkInvokeWarmHTTP(b *testing.B) {
	f := startTest(b, Config{Timeout: 10 * time.Second})
	_, url, err := f.ServeInvokeAPI("")
	if err != nil {
		b.Fatal(err)
	}
	url += InvokePath
	post := func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"op":"echo"}`))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	post()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		post()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkColdStart measures process start → first response for a fresh
// emulator each iteration (MeasureColdStart).
func BenchmarkColdStart(b *testing.B) {
	var total time.Duration
	lat := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		d, err := MeasureColdStart(testBinary, []byte(`{}`))
		if err != nil {
			b.Fatal(err)
		}
		total += d
		lat = append(lat, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-cold")
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
