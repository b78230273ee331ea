package cli_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/cli"
	"github.com/callkit-records/callkit-records/cmd/callkit/internal/replay"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/webhookauth"
)

const docApp = 8888888 // the app id of Tencent's documentation examples

// Replaying the whole events/ directory against a local server: every fixture (v1 and v4
// bodies through their indexes, API Gateway requests, the SQS batch's envelopes) is
// acknowledged, and every call they name has a record, which the query API serves with a
// UserSig minted by `callkit usersig`.
func TestReplayEventsIntoLocalServer(t *testing.T) {
	t.Parallel()
	const key = "replay-test-secret-key"
	cfg := config.Config{
		SDKAppIDs: []uint64{app, docApp}, SecretKeys: map[uint64]string{app: key, docApp: key},
		MaxBodyBytes: config.DefaultMaxBodyBytes, QueryRPS: 1000,
	}
	s := startServer(t, t.TempDir(), cfg)

	cbs, err := replay.Load([]string{eventsDir})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[store.CallKey]bool{}
	for _, cb := range cbs {
		parsed, err := callback.Parse(cb.Query, cb.Body)
		if err != nil {
			t.Fatalf("%s: %v", cb.Source, err)
		}
		keys[store.CallKey{App: parsed.SDKAppID, CallID: parsed.CallID}] = true
	}
	if len(cbs) < 80 || len(keys) < 10 {
		t.Fatalf("events/ yielded %d callbacks of %d calls; expected every fixture", len(cbs), len(keys))
	}

	code, out, _ := run(t, cli.Env{}, "replay", "--url", "http://"+s.Addr()+"/callback", "--rate", "2000", eventsDir)
	if code != cli.ExitOK {
		t.Fatalf("replay exit %d", code)
	}
	if n := strings.Count(out, "\nok    200 0 ") + boolInt(strings.HasPrefix(out, "ok    200 0 ")); n != len(cbs) {
		t.Fatalf("%d acknowledged lines for %d callbacks", n, len(cbs))
	}
	if !strings.Contains(out, fmt.Sprintf("%d sent to http://%s/callback: %d acknowledged, 0 failed", len(cbs), s.Addr(), len(cbs))) {
		t.Fatal("summary missing")
	}

	deadline := time.Now().Add(30 * time.Second)
	for k := range keys {
		for {
			_, _, err := s.Store().Get(context.Background(), k, false)
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
				t.Fatalf("call %v: %v", k, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The minted query string authenticates against the server's query API.
	getenv := func(k string) string { return map[string]string{"MY_KEY": key}[k] }
	code, q, _ := run(t, cli.Env{Getenv: getenv}, "usersig", "--sdkappid", fmt.Sprint(app), "--key-env", "MY_KEY", "--print", "query")
	if code != cli.ExitOK {
		t.Fatalf("usersig exit %d", code)
	}
	callID := "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3"
	resp, err := http.Get("http://" + s.Addr() + "/v1/calls/" + callID + "?include=events&" + strings.TrimSpace(q))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"callId":"`+callID+`"`) {
		t.Fatalf("query with the minted UserSig: %d %s", resp.StatusCode, body)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A webhook that refuses part of a replay makes it fail (exit 1) with each refusal
// reported — here the documentation examples' foreign app id.
func TestReplayReportsRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), localConfig())
	code, out, _ := run(t, cli.Env{}, "replay", "--url", "http://"+s.Addr()+"/callback", "--rate", "2000",
		filepath.Join(eventsDir, "tencent", "v1", "index.json"))
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "FAIL  403 70001 ") || !strings.Contains(out, "8888888 is not accepted") ||
		!strings.Contains(out, ": 25 acknowledged, 2 failed") {
		t.Fatal("refusals not reported")
	}
}

// Success is ErrorCode 0 with HTTP 200 — never a 200 alone: a non-zero ErrorCode, a body
// that is not an acknowledgement, or a v4 ActionStatus FAIL are failures.
func TestReplayRequiresErrorCodeZero(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]string{
		"non-zero code": `{"ErrorCode":1,"ErrorMessage":"queue unavailable; retry later"}`,
		"not json":      `OK`,
		"no code":       `{"ErrorMessage":"Success"}`,
		"v4 fail":       `{"ActionStatus":"FAIL","ErrorInfo":"nope","ErrorCode":0}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, answer)
			}))
			defer srv.Close()
			code, out, _ := run(t, cli.Env{}, "replay", "--url", srv.URL+"/callback", "--rate", "1000", "--max", "2",
				filepath.Join(eventsDir, "tencent", "v1", "index.json"))
			if code != cli.ExitFailure || strings.Contains(out, "ok ") || !strings.Contains(out, "2 sent to "+srv.URL+"/callback: 0 acknowledged, 2 failed") {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// --sdkappid rewrites the app of v1 and v4 callbacks; --callback-token-env signs each
// request as Tencent does; captured Sign/RequestTime are never forwarded; --json reports
// one object per callback.
func TestReplayRewritesAndSigns(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Query())
		mu.Unlock()
		_, _ = io.WriteString(w, `{"ErrorCode":0,"ErrorMessage":"Success"}`)
	}))
	defer srv.Close()
	capture := filepath.Join(t.TempDir(), "captured.jsonl")
	writeFile(t, capture, `{"query":"sdkappid=1400000001&command=normal_end&contenttype=json&Sign=stale&RequestTime=1","body":{"CallId":"c1","UserId":"u","EventTime":1795342500,"CallResult":"normal_end"}}
{"query":{"SdkAppid":"1400000001","CallbackCommand":"Call.CallbackAfterStartCall","contenttype":"json"},"body":"{\"CallbackCommand\":\"Call.CallbackAfterStartCall\"}"}
`)
	getenv := func(k string) string { return map[string]string{"TOKEN": "tok"}[k] }
	code, out, _ := run(t, cli.Env{Getenv: getenv}, "replay", "--url", srv.URL+"/callback", "--sdkappid", "1400000002",
		"--callback-token-env", "TOKEN", "--json", capture)
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	rs := jsonLines[replay.Result](t, out)
	if len(rs) != 2 || !rs[0].OK || !rs[1].OK || *rs[0].ErrorCode != 0 {
		t.Fatalf("results %+v", rs)
	}
	if len(got) != 2 || got[0].Get("sdkappid") != "1400000002" || got[1].Get("SdkAppid") != "1400000002" {
		t.Fatalf("queries %v", got)
	}
	for _, q := range got {
		if err := webhookauth.VerifySign("tok", q.Get("Sign"), q.Get("RequestTime"), time.Now(), time.Minute); err != nil {
			t.Errorf("query %v: %v", q, err)
		}
	}
}

func TestReplayLoadErrorsSendNothing(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, `{"ErrorCode":0,"ErrorMessage":"Success"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.jsonl"), `{"query":"sdkappid=1&command=normal_end","body":{}}`+"\n")
	writeFile(t, filepath.Join(dir, "b.json"), `{"UserId":"alice"}`) // a bare body: no query
	code, _, errOut := run(t, cli.Env{}, "replay", "--url", srv.URL, dir)
	if code != cli.ExitFailure || !strings.Contains(errOut, "nothing sent") || !strings.Contains(errOut, "b.json") || hits.Load() != 0 {
		t.Fatalf("exit %d, %d requests sent", code, hits.Load())
	}
}
