package query_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/internal/benchdata"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
)

// BenchmarkQuery1M measures the query API in process — UserSig verification, the query,
// JSON — on the embedded store holding 1M records over a year (CALLKIT_BENCH_CALLS
// changes the size; the dataset is built once into .bench/). It reports p50 and p99.
func BenchmarkQuery1M(b *testing.B) {
	spec := benchdata.Default
	if n, err := strconv.Atoi(os.Getenv("CALLKIT_BENCH_CALLS")); err == nil && n > 0 {
		spec.Calls, spec.Users = n, max(n/50, 10) // ~100 calls per user, as in the default
	}
	weekPages := max(1, min(10, spec.Calls/52/100)) // full pages in a 7-day window
	path := os.Getenv("CALLKIT_BENCH_DB")
	if path == "" {
		path = filepath.Join("..", "..", ".bench", fmt.Sprintf("records-%d.db", spec.Calls))
	}
	st, err := benchdata.Open(path, spec, func(s string) { b.Log(s) })
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const key = "bench-key"
	end := spec.From + int64(spec.Days)*86400
	h := query.New(st, auth.NewVerifier(map[uint64]string{spec.App: key}, []string{"administrator"}, nil), ratelimit.New(1e9),
		logging.Discard(), func() time.Time { return time.Unix(end, 0) })
	sig, err := tencentyun.GenUserSig(int(spec.App), key, "administrator", 86400*3650)
	if err != nil {
		b.Fatal(err)
	}
	authQ := fmt.Sprintf("sdkappid=%d&identifier=administrator&usersig=%s&random=7&contenttype=json", spec.App, sig)
	r := rand.New(rand.NewPCG(5, 6))
	randTime := func() int64 { return spec.From + 7*86400 + r.Int64N(int64(spec.Days-7)*86400) }

	cases := []struct {
		name string
		req  func() *http.Request
		want int // records expected in the answer, at least
	}{
		{"v1-get_record_by_callId", func() *http.Request {
			return httptest.NewRequest("POST", "/v1/records/get_record_by_callId?"+authQ, bytes.NewReader([]byte(`{"callId":"`+benchdata.CallID(r.IntN(spec.Calls))+`"}`)))
		}, 1},
		{"native-call", func() *http.Request {
			return httptest.NewRequest("GET", "/v1/calls/"+benchdata.CallID(r.IntN(spec.Calls))+"?include=events&"+authQ, nil)
		}, 1},
		{"v1-filter-page-100", func() *http.Request {
			body := fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":100,"page":%d}`, randTime()-7*86400, 1+r.IntN(weekPages))
			return httptest.NewRequest("POST", "/v1/records/get_records_by_filter?"+authQ, bytes.NewReader([]byte(body)))
		}, 1},
		{"v1-filter-page-100-by-result", func() *http.Request {
			body := fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":100,"callResult":"reject"}`, randTime()-7*86400)
			return httptest.NewRequest("POST", "/v1/records/get_records_by_filter?"+authQ, bytes.NewReader([]byte(body)))
		}, 1},
		{"native-list-100", func() *http.Request {
			return httptest.NewRequest("GET", fmt.Sprintf("/v1/calls?limit=100&to=%d&%s", randTime(), authQ), nil)
		}, 1},
		{"native-list-100-by-result", func() *http.Request {
			return httptest.NewRequest("GET", fmt.Sprintf("/v1/calls?limit=100&result=reject&to=%d&%s", randTime(), authQ), nil)
		}, 1},
		{"native-user-history", func() *http.Request {
			return httptest.NewRequest("GET", fmt.Sprintf("/v1/users/%s/calls?limit=100&from=%d&to=%d&%s", benchdata.UserID(r.IntN(spec.Users)), spec.From, end, authQ), nil)
		}, 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				req := c.req()
				w := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(w, req)
				lat = append(lat, time.Since(t0))
				if n := countRecords(w.Body.Bytes()); w.Code != 200 || n < c.want {
					b.Fatalf("%s: %d, %d records: %.300s", c.name, w.Code, n, w.Body.String())
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// countRecords counts the records in any of the API's success shapes (−1: an error).
func countRecords(body []byte) int {
	var m struct {
		ErrorCode *int            `json:"errorCode"`
		Data      json.RawMessage `json:"data"`
		Calls     []any           `json:"calls"`
		CallID    string          `json:"callId"`
	}
	if json.Unmarshal(body, &m) != nil {
		return -1
	}
	switch {
	case m.ErrorCode != nil && *m.ErrorCode != 0:
		return -1
	case m.ErrorCode != nil:
		var d struct {
			CallID string `json:"callId"`
			List   []any  `json:"callRecordList"`
		}
		_ = json.Unmarshal(m.Data, &d)
		if d.CallID != "" {
			return 1
		}
		return len(d.List)
	case m.CallID != "":
		return 1
	}
	return len(m.Calls)
}
