package persist_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

type noopStore struct{}

func (noopStore) Apply(_ context.Context, u []store.Update) []error { return make([]error, len(u)) }

// BenchmarkPersist measures decode + merge + store of realistic callbacks in SQS-sized
// batches of 10, against the embedded store (fsynced) and a no-op store; the ratio of
// their callbacks/s is the cost of the store.
func BenchmarkPersist(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var cs []recordtest.Call
	for range 500 {
		cs = append(cs, recordtest.Gen(r, 1400000001, 1795000000+int64(r.IntN(3600))))
	}
	stream := recordtest.Stream(r, cs)
	msgs := make([]persist.Message, len(stream))
	for i, cb := range stream {
		msgs[i] = persist.Message{ID: "m", Body: []byte(envelopeOf(b, cb)), ReceiveCount: 1}
	}
	run := func(b *testing.B, st store.Writer) {
		h := persist.New(st, nil, logging.Discard(), persist.Options{})
		b.ReportAllocs()
		b.ResetTimer()
		n := 0
		for i := 0; b.Loop(); i++ {
			lo := (i * 10) % (len(msgs) - 10)
			for _, err := range h.Process(context.Background(), msgs[lo:lo+10]) {
				if err != nil {
					b.Fatal(err)
				}
			}
			n += 10
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "callbacks/s")
	}
	b.Run("noop-store", func(b *testing.B) { run(b, noopStore{}) })
	b.Run("bolt-store", func(b *testing.B) {
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "r.db"), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st)
	})
	b.Run("bolt-store-parallel", func(b *testing.B) {
		// Several consumers at once share bbolt commits (DB.Batch), like the local server.
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "r.db"), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		h := persist.New(st, nil, logging.Discard(), persist.Options{})
		b.ReportAllocs()
		var i int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lo := int(rand.Int64N(int64(len(msgs) - 10)))
				for _, err := range h.Process(context.Background(), msgs[lo:lo+10]) {
					if err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
		_ = i
		b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "callbacks/s")
	})
}
