package query_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/internal/benchdata"
	"github.com/callkit-records/callkit-records/internal/ddbmeter"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// TestReadUnitsPerPage meters what each query costs in DynamoDB read units (DynamoDB
// Local reports consumed capacity), on 2000 calls over two weeks (about 1000 in a 7-day
// window), and holds each to its design budget: a returned record costs 0.5 RCU (read by
// BatchGetItem; items are rounded up to 4 KB), index entries — also the ones only
// counted — cost about 0.02 RCU each. A regression such as reading every counted record
// would cost ~500 RCU here. The figures are in the test log.
func TestReadUnitsPerPage(t *testing.T) {
	m := ddbmeter.New()
	c := testenv.NewDynamoDBClient(testenv.DynamoDBEndpoint(t), testenv.WithDynamoDBOption(m.Option))
	table := testenv.Name(t, "calls")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", table)
	st := dynamostore.New(c, dynamostore.Options{Table: table})
	spec := benchdata.Spec{App: 1400000001, Calls: 2000, From: 1794000000, Days: 14, Users: 40}
	for lo := 0; lo < spec.Calls; lo += 25 {
		for _, err := range st.Apply(context.Background(), spec.Updates(lo, min(lo+25, spec.Calls))) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	end := spec.From + 14*86400
	h := query.New(st, auth.NewVerifier(map[uint64]string{spec.App: "k"}, []string{"administrator"}, nil), ratelimit.New(1e6),
		logging.Discard(), func() time.Time { return time.Unix(end, 0) })
	sig, _ := tencentyun.GenUserSig(int(spec.App), "k", "administrator", 86400*3650)
	authQ := fmt.Sprintf("sdkappid=%d&identifier=administrator&usersig=%s&random=7&contenttype=json", spec.App, sig)
	week := spec.From + 3*86400

	for _, tc := range []struct {
		name, method, path, body string
		maxRCU                   float64
	}{
		{"v1 get_record_by_callId", "POST", "/v1/records/get_record_by_callId", `{"callId":"bench-00000042"}`, 1},
		{"native call + timeline", "GET", "/v1/calls/bench-00000042?include=events", "", 2},
		{"v1 filter page 1 of 100 (7 days, counts ~1000)", "POST", "/v1/records/get_records_by_filter", fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":100}`, week), 100},
		{"v1 filter page 5 of 100", "POST", "/v1/records/get_records_by_filter", fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":100,"page":5}`, week), 100},
		{"v1 filter by result (reject)", "POST", "/v1/records/get_records_by_filter", fmt.Sprintf(`{"startTimestamp":%d,"numberPerPage":100,"callResult":"reject"}`, week), 100},
		{"native list page of 100", "GET", fmt.Sprintf("/v1/calls?limit=100&to=%d", week+7*86400), "", 60},
		{"native list 100 by result (reject)", "GET", fmt.Sprintf("/v1/calls?limit=100&result=reject&to=%d", week+7*86400), "", 80},
		{"native user history page of 100", "GET", fmt.Sprintf("/v1/users/%s/calls?limit=100&from=%d&to=%d", benchdata.UserID(7), spec.From, end), "", 60},
	} {
		m.Reset()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path+sep(tc.path)+authQ, bytes.NewReader([]byte(tc.body))))
		if n := countRecords(w.Body.Bytes()); w.Code != 200 || n < 1 {
			t.Fatalf("%s: %d %.300s", tc.name, w.Code, w.Body.String())
		}
		snap := m.Snapshot()
		_, reads, _, rcu := snap.Totals()
		t.Logf("%-48s %3d records  %2d requests  %6.1f RCU", tc.name, countRecords(w.Body.Bytes()), reads, rcu)
		if rcu > tc.maxRCU {
			t.Errorf("%s: %.1f RCU, budget %.0f", tc.name, rcu, tc.maxRCU)
		}
	}
}

func sep(path string) string {
	if bytes.ContainsRune([]byte(path), '?') {
		return "&"
	}
	return "?"
}
