package callback_test

import (
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
)

// BenchmarkParse parses realistic callbacks of every scenario, as the webhook and the
// persister each do once per callback.
func BenchmarkParse(b *testing.B) {
	for _, gen := range []struct {
		name      string
		scenarios []string
	}{{"v1", recordtest.V1Scenarios}, {"v4", recordtest.Scenarios[len(recordtest.V1Scenarios):]}} {
		b.Run(gen.name, func(b *testing.B) {
			type request struct {
				q    url.Values
				body []byte
			}
			r := rand.New(rand.NewPCG(1, 2))
			var reqs []request
			for len(reqs) < 1000 {
				c := recordtest.GenScenario(r, 1400000001, gen.scenarios[r.IntN(len(gen.scenarios))], 1795000000)
				for _, cb := range c.Callbacks {
					q, body := cb.Render()
					reqs = append(reqs, request{q, body})
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := reqs[i%len(reqs)]
				i++
				if _, err := callback.Parse(req.q, req.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
