package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/cli"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	eventsDir = "../../../../events"
	app       = 1400000001
)

// run executes the command line and returns the exit code and both outputs.
func run(t *testing.T, env cli.Env, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env.Stdout, env.Stderr = &out, &errOut
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	code := cli.Run(context.Background(), args, env)
	t.Logf("callkit %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// fixture is one callback of events/tencent/v1 with its scenario.
type fixture struct {
	File     string
	Query    url.Values
	Body     []byte
	Scenario string
	Key      store.CallKey
}

func fixtures(t *testing.T, scenarios ...string) []fixture {
	t.Helper()
	dir := filepath.Join(eventsDir, "tencent", "v1")
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx []struct {
		File     string            `json:"file"`
		Query    map[string]string `json:"query"`
		Scenario string            `json:"scenario"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, s := range scenarios {
		want[s] = true
	}
	var out []fixture
	for _, e := range idx {
		if !want[e.Scenario] {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{}
		for k, v := range e.Query {
			q.Set(k, v)
		}
		cb, err := callback.Parse(q, body)
		if err != nil {
			t.Fatalf("%s: %v", e.File, err)
		}
		out = append(out, fixture{File: e.File, Query: q, Body: body, Scenario: e.Scenario, Key: store.CallKey{App: cb.SDKAppID, CallID: cb.CallID}})
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures for %v", scenarios)
	}
	return out
}

// ingestAll sends fixtures through the real webhook handler into q and fails on any
// non-acknowledgement.
func ingestAll(t *testing.T, q queue.Sender, fs []fixture) {
	t.Helper()
	h := ingest.New(ingest.Config{AppAllowed: func(id uint64) bool { return id == app }}, q, logging.Discard())
	for _, f := range fs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/callback?"+f.Query.Encode(), bytes.NewReader(f.Body)))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ErrorCode":0`) {
			t.Fatalf("ingest %s: %d %s", f.File, rec.Code, rec.Body)
		}
	}
}

// refusing is the broken deployment: a store that refuses the calls in calls (think of a
// schema bug that only some records hit) and writes the rest through.
type refusing struct {
	store.Writer
	calls map[string]bool
}

func (r refusing) Apply(ctx context.Context, ups []store.Update) []error {
	errs := make([]error, len(ups))
	var pass []store.Update
	var at []int
	for i, u := range ups {
		if r.calls[u.Key.CallID] {
			errs[i] = fmt.Errorf("%w: test store refuses call %s", store.ErrUnavailable, u.Key.CallID)
			continue
		}
		pass = append(pass, u)
		at = append(at, i)
	}
	for j, err := range r.Writer.Apply(ctx, pass) {
		errs[at[j]] = err
	}
	return errs
}

func callSet(fs []fixture) map[string]bool {
	m := map[string]bool{}
	for _, f := range fs {
		m[f.Key.CallID] = true
	}
	return m
}

// perCall counts the distinct callbacks of each call: its timeline length once persisted.
func perCall(fs []fixture) map[store.CallKey]int {
	m := map[store.CallKey]int{}
	for _, f := range fs {
		m[f.Key]++
	}
	return m
}

// jsonLines decodes one JSON object per line into T.
func jsonLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
