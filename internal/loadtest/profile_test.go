package loadtest

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
)

var benchConfig = config.Config{SDKAppIDs: []uint64{benchApp}, SecretKeys: map[uint64]string{benchApp: benchKey}, QueryRPS: 1e6}

// BenchmarkLocalServer drives the local server in process with the same load as the
// throughput runs of `make bench`, so that `go test -cpuprofile` shows where a durable
// acknowledgement spends its time (webhook, queue, persister). It reports callbacks/s.
func BenchmarkLocalServer(b *testing.B) {
	srv, err := localserver.Start(localserver.Options{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Config: benchConfig, Log: logging.New(io.Discard, 0, "local")})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	drive(b, "http://"+srv.Addr())
}

// BenchmarkWebhook is the same against the webhook alone (ingest over the embedded queue).
func BenchmarkWebhook(b *testing.B) {
	mux, q, err := webhookMux(benchConfig, b.TempDir(), logging.New(io.Discard, 0, "webhook"))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	drive(b, srv.URL)
	if d := q.Stats().Depth; d < int64(b.N) {
		b.Fatalf("queue holds %d messages after %d acknowledgements", d, b.N)
	}
}

func drive(b *testing.B, url string) {
	b.StopTimer()
	cbs := Callbacks(uint64(b.N), benchApp, max(b.N, 1000), time.Now().Unix(), span)
	reqs := WebhookRequests(cbs[:b.N], "/callback")
	b.StartTimer()
	out, err := Run(context.Background(), Load{Name: "bench", BaseURL: url, Requests: reqs, Workers: 64, Duration: time.Minute, OK: ackOK})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if len(out.Succeeded) != b.N {
		b.Fatalf("%d of %d acknowledged: %v", len(out.Succeeded), b.N, out.Failures)
	}
	b.ReportMetric(out.Throughput(), "callbacks/s")
	b.ReportMetric(Summarize(out.All()).P99Ms, "p99-ms")
}
