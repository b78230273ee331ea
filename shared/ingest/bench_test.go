package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

type noopQueue struct{}

func (noopQueue) Send(context.Context, queue.Message) error { return nil }

// BenchmarkIngest measures the webhook end to end (query + body validation, envelope,
// enqueue, ack) with a realistic body: noop-queue isolates the handler's own cost;
// embedded-queue adds the durable bbolt queue, with parallel requests so that group
// commit shares fsyncs between them.
func BenchmarkIngest(b *testing.B) {
	f := fixtureByName(b, "caller_start_call.json")
	target := "/callback?" + f.rawQuery()
	cfg := ingest.Config{AppAllowed: allowed(appID)}
	log := slog.New(slog.DiscardHandler)

	b.Run("noop-queue", func(b *testing.B) {
		h := ingest.New(cfg, noopQueue{}, log)
		b.ReportAllocs()
		b.SetBytes(int64(len(f.Body)))
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, target, bytes.NewReader(f.Body)))
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})

	b.Run("embedded-queue", func(b *testing.B) {
		q, err := boltqueue.Open(filepath.Join(b.TempDir(), "queue.db"), boltqueue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		h := ingest.New(cfg, q, log)
		b.ReportAllocs()
		b.SetBytes(int64(len(f.Body)))
		b.SetParallelism(16) // 16×GOMAXPROCS concurrent webhooks, like Tencent's fan-in
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, target, bytes.NewReader(f.Body)))
				if w.Code != http.StatusOK {
					b.Errorf("status %d: %s", w.Code, w.Body)
					return
				}
			}
		})
		b.StopTimer()
		if got := q.Stats().Depth; got < int64(b.N) {
			b.Fatalf("queue holds %d messages after %d acknowledged requests", got, b.N)
		}
	})
}
