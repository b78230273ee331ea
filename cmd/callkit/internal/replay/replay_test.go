package replay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/replay"
)

const events = "../../../../events"

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Index entries send the named body byte for byte; the API Gateway fixture (base64 body)
// and the SQS batch's envelopes carry the same callback bytes.
func TestLoadFixtureFormats(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(events, "tencent", "v1", "normal_end.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := replay.Load([]string{filepath.Join(events, "tencent", "v1", "index.json")})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, cb := range idx {
		if strings.HasSuffix(cb.Source, " normal_end.json") {
			found = bytes.Equal(cb.Body, want) && cb.Query.Get("command") == "normal_end" && cb.Query.Get("sdkappid") == "1400000001"
		}
	}
	if !found || len(idx) != 27 {
		t.Fatalf("index: %d callbacks, normal_end byte-exact %v", len(idx), found)
	}
	gw, err := replay.Load([]string{filepath.Join(events, "apigw", "v1", "normal_end.base64.json")})
	if err != nil || len(gw) != 1 || !bytes.Equal(gw[0].Body, want) || gw[0].Query.Get("command") != "normal_end" {
		t.Fatalf("API Gateway base64: %+v %v", gw, err)
	}
	sqs, err := replay.Load([]string{filepath.Join(events, "sqs")})
	if err != nil || len(sqs) != 7 || sqs[6].Query.Get("command") != "normal_end" || !bytes.Contains(sqs[6].Body, []byte(`"CallResult":"normal_end"`)) {
		t.Fatalf("SQS batch: %d %v", len(sqs), err)
	}
}

// Captures: JSON lines and arrays of {query, body}, queries as objects or strings, bodies
// as JSON or as raw strings; stale Sign/RequestTime are dropped.
func TestLoadCaptures(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "c.jsonl"), `{"query":"?sdkappid=1&command=cancel&Sign=x&RequestTime=1","body":{"A" : 1}}
{"query":{"sdkappid":1,"command":"reject","multi":["a","b"]},"body":"{\"B\":2}"}
`)
	write(t, filepath.Join(dir, "arr.json"), `[{"query":"sdkappid=2","body":{}},{"query":"sdkappid=3","body":{}}]`)
	cbs, err := replay.Load([]string{filepath.Join(dir, "c.jsonl"), filepath.Join(dir, "arr.json")})
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs) != 4 {
		t.Fatalf("%d callbacks", len(cbs))
	}
	if string(cbs[0].Body) != `{"A" : 1}` || cbs[0].Query.Get("Sign") != "" || cbs[0].Query.Get("RequestTime") != "" || cbs[0].Query.Get("command") != "cancel" {
		t.Errorf("line 1: %+v", cbs[0])
	}
	if string(cbs[1].Body) != `{"B":2}` || cbs[1].Query.Get("sdkappid") != "1" || len(cbs[1].Query["multi"]) != 2 {
		t.Errorf("line 2: %+v", cbs[1])
	}
	if !strings.HasSuffix(cbs[0].Source, "c.jsonl#1") || !strings.HasSuffix(cbs[3].Source, "arr.json#2") || cbs[3].Query.Get("sdkappid") != "3" {
		t.Errorf("sources %q %q", cbs[0].Source, cbs[3].Source)
	}
}

// Anything that is not a callback stops the load with the file named.
func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"bare.json":     `{"UserId":"alice","CallId":"c"}`,
		"broken.json":   `{"query":`,
		"empty.jsonl":   ``,
		"escape.json":   `[{"file":"../outside.json","query":{}}]`,
		"badquery.json": `{"query":{"a":{"b":1}},"body":{}}`,
		"sqs.json":      `{"Records":[{"body":"not an envelope"}]}`,
	} {
		path := filepath.Join(dir, name)
		write(t, path, content)
		if _, err := replay.Load([]string{path}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := replay.Load([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing path accepted")
	}
}

// In a directory, files an index names are sent only through the index, hidden
// directories are skipped, and other files load by their content.
func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "v1", "index.json"), `[{"file":"a.json","query":{"sdkappid":"1","command":"cancel"}}]`)
	write(t, filepath.Join(dir, "v1", "a.json"), `{"CallId":"a"}`)
	write(t, filepath.Join(dir, "cap.jsonl"), `{"query":"sdkappid=1","body":{"CallId":"b"}}`)
	write(t, filepath.Join(dir, ".git", "x.json"), `garbage`)
	write(t, filepath.Join(dir, "README.md"), `# not json`)
	cbs, err := replay.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs) != 2 || string(cbs[0].Body) != `{"CallId":"b"}` || string(cbs[1].Body) != `{"CallId":"a"}` {
		t.Fatalf("%+v", cbs)
	}
}

func TestSendStopsWhenCancelled(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, `{"ErrorCode":0,"ErrorMessage":"Success"}`)
	}))
	defer srv.Close()
	cbs := make([]replay.Callback, 5)
	for i := range cbs {
		cbs[i] = replay.Callback{Source: "x", Body: []byte(`{}`)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []replay.Result
	sum, err := replay.Send(ctx, cbs, replay.Options{URL: srv.URL, Rate: 1000}, func(r replay.Result) {
		got = append(got, r)
		if len(got) == 2 {
			cancel()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "stopped after 2 of 5") || sum.Sent != 2 || sum.Acknowledged != 2 || n.Load() != 2 {
		t.Fatalf("sum %+v err %v, %d requests", sum, err, n.Load())
	}
	if _, err := replay.Send(context.Background(), cbs, replay.Options{URL: srv.URL}, func(replay.Result) {}); err == nil {
		t.Fatal("rate 0 accepted")
	}
}
