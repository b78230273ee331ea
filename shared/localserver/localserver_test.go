package localserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

const fixtureDir = "../../events/tencent/v1"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func start(t *testing.T, opts localserver.Options) *localserver.Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s, err := localserver.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

type ack struct {
	ErrorCode    int
	ErrorMessage string
}

func postTo(t *testing.T, url string, body []byte) (int, ack) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a ack
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("response %d %q: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, a
}

const query = "?sdkappid=1400000001&command=normal_end&contenttype=json&clientip=203.0.113.7&optplatform=iOS"

// durableState opens the data directory's files directly (the server must be shut
// down) and reports whether the callback is still queued, already persisted, or both.
func durableState(t *testing.T, dir string, key store.CallKey) (queued int64, persisted bool) {
	t.Helper()
	q, err := boltqueue.Open(filepath.Join(dir, "queue.db"), boltqueue.Options{})
	if err != nil {
		t.Fatalf("open queue after shutdown: %v", err)
	}
	queued = q.Stats().Depth + q.Stats().Dead
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "records.db"), boltstore.Options{})
	if err != nil {
		t.Fatalf("open store after shutdown: %v", err)
	}
	defer st.Close()
	rec, _, err := st.Get(context.Background(), key, false)
	switch {
	case err == nil:
		persisted = rec.CallID == key.CallID
	case !errors.Is(err, store.ErrNotFound):
		t.Fatalf("store Get: %v", err)
	}
	return queued, persisted
}

// An acknowledged callback survives a clean shutdown and restart: it is in the queue
// file or already in the record store (the embedded persister may have applied it), and
// after the restart it is applied and the queue drains.
func TestAcceptShutdownReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Config{SDKAppIDs: []uint64{1400000001}, MaxBodyBytes: config.DefaultMaxBodyBytes}
	s := start(t, localserver.Options{DataDir: dir, Config: cfg})
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("Addr = %q, want a concrete loopback port", s.Addr())
	}
	body := readFixture(t, "normal_end.json")
	key := store.CallKey{App: 1400000001, CallID: "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3"}
	if code, a := postTo(t, "http://"+s.Addr()+"/callback"+query, body); code != 200 || a.ErrorCode != 0 || a.ErrorMessage != "Success" {
		t.Fatalf("POST fixture: %d %+v", code, a)
	}
	if code, a := postTo(t, "http://"+s.Addr()+"/callback?sdkappid=42&command=normal_end", body); code != 403 || a.ErrorCode != 70001 {
		t.Errorf("foreign app: %d %+v", code, a)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-s.Done():
		if err != nil {
			t.Errorf("serve loop ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve loop did not end after Shutdown")
	}
	if _, err := http.Post("http://"+s.Addr()+"/callback"+query, "application/json", bytes.NewReader(body)); err == nil {
		t.Errorf("server still answers after Shutdown")
	}
	queued, persisted := durableState(t, dir, key)
	if queued == 0 && !persisted {
		t.Fatalf("after shutdown the acknowledged callback is neither queued nor persisted")
	}
	if queued > 1 {
		t.Errorf("%d messages queued for one callback", queued)
	}
	t.Logf("after shutdown: queued %d, persisted %v", queued, persisted)

	// Restart: whatever was still queued is applied; the queue drains.
	s2 := start(t, localserver.Options{DataDir: dir, Config: cfg})
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := s2.Queue().Stats()
		_, _, err := s2.Store().Get(context.Background(), key, false)
		if err == nil && st.Depth == 0 && st.Dead == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: queue %+v, store Get: %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec, _, err := s2.Store().Get(context.Background(), key, false)
	if err != nil || rec.CallID != key.CallID || rec.CallResult != "normal_end" {
		t.Errorf("stored record %+v, %v", rec, err)
	}
}

func TestRoutes(t *testing.T) {
	const token = "Zq3-8vX.u_19~abcdefgh"
	body := readFixture(t, "normal_end.json")
	t.Run("path token configured", func(t *testing.T) {
		s := start(t, localserver.Options{DataDir: t.TempDir(), Config: config.Config{SDKAppIDs: []uint64{1400000001}, PathToken: token}})
		base := "http://" + s.Addr()
		if code, _ := postTo(t, base+"/callback"+query, body); code != 403 {
			t.Errorf("/callback without the token: %d, want 403", code)
		}
		if code, _ := postTo(t, base+"/callback/wrong-token-0123456"+query, body); code != 403 {
			t.Errorf("wrong token: %d, want 403", code)
		}
		if code, a := postTo(t, base+"/callback/"+token+query, body); code != 200 || a.ErrorCode != 0 {
			t.Errorf("right token: %d %+v", code, a)
		}
	})
	t.Run("unknown paths", func(t *testing.T) {
		s := start(t, localserver.Options{DataDir: t.TempDir(), Config: config.Config{SDKAppIDs: []uint64{1400000001}}})
		resp, err := http.Post("http://"+s.Addr()+"/nope"+query, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("/nope: %d", resp.StatusCode)
		}
		if d := s.Queue().Stats().Depth; d != 0 {
			t.Errorf("Depth %d", d)
		}
	})
}

// With nothing configured the server runs the demo app, and the curl command the banner
// prints is a callback the server accepts.
func TestDemoBanner(t *testing.T) {
	var banner bytes.Buffer
	s := start(t, localserver.Options{DataDir: t.TempDir(), Banner: &banner})
	out := banner.String()
	if !strings.Contains(out, strconv.Itoa(localserver.DemoSDKAppID)) || !strings.Contains(out, localserver.DemoKey) {
		t.Errorf("banner lacks the demo app id or key:\n%s", out)
	}
	m := regexp.MustCompile(`curl -s -X POST '([^']+)'[\s\S]*?-d '([^']+)'`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no curl command in the banner:\n%s", out)
	}
	if !strings.HasPrefix(m[1], "http://"+s.Addr()+"/callback?") {
		t.Errorf("curl URL %q does not point at %s", m[1], s.Addr())
	}
	if code, a := postTo(t, m[1], []byte(m[2])); code != 200 || a.ErrorCode != 0 {
		t.Fatalf("the banner's curl command is refused: %d %+v", code, a)
	}
	// Acknowledged: queued, then applied by the embedded persister.
	key := store.CallKey{App: localserver.DemoSDKAppID, CallID: "demo-call-1"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, err := s.Store().Get(context.Background(), key, false)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the banner's callback never reached the store: %v (queue %+v)", err, s.Queue().Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWithDemoDefaults(t *testing.T) {
	c, demo := localserver.WithDemoDefaults(config.Config{})
	if !demo || len(c.SDKAppIDs) != 1 || c.SDKAppIDs[0] != localserver.DemoSDKAppID || c.SecretKeys[localserver.DemoSDKAppID] != localserver.DemoKey {
		t.Errorf("demo defaults: %+v, %v", c, demo)
	}
	own := config.Config{SDKAppIDs: []uint64{7}, SecretKeys: map[uint64]string{7: "k"}}
	c, demo = localserver.WithDemoDefaults(own)
	if demo || len(c.SDKAppIDs) != 1 || c.SDKAppIDs[0] != 7 || c.SecretKeys[7] != "k" || len(c.SecretKeys) != 1 {
		t.Errorf("configured app was changed: %+v, %v", c, demo)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	s := start(t, localserver.Options{DataDir: dir, Config: config.Config{SDKAppIDs: []uint64{1}}})
	t.Run("address in use", func(t *testing.T) {
		_, err := localserver.Start(localserver.Options{Addr: s.Addr(), DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("Start on a used port: %v", err)
		}
	})
	t.Run("data dir in use", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			s2, err := localserver.Start(localserver.Options{Addr: "127.0.0.1:0", DataDir: dir})
			if err == nil {
				_ = s2.Shutdown(context.Background())
				err = errors.New("started")
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() == "started" {
				t.Errorf("a second server opened the same data dir: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Start on a locked data dir hangs")
		}
	})
	t.Run("data dir is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := localserver.Start(localserver.Options{Addr: "127.0.0.1:0", DataDir: f}); err == nil {
			t.Errorf("Start with a file as data dir succeeded")
		}
	})
}

// Run blocks until its context is cancelled (SIGTERM in cmd/callkit-local), then shuts
// down cleanly.
func TestRunStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- localserver.Run(ctx, localserver.Options{Addr: "127.0.0.1:0", DataDir: dir, Config: config.Config{SDKAppIDs: []uint64{1}}})
	}()
	// The queue file is locked while the server runs; wait for it to exist.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "queue.db")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not create its queue")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Shut down means the file is released: a new server can open it.
	start(t, localserver.Options{DataDir: dir, Config: config.Config{SDKAppIDs: []uint64{1}}})
}

// TestCallbacksBecomeRecordsAndPoisonIsDeadLettered: the local server's consumer runs
// the persist handler over the embedded queue: callbacks become records; a message that
// can never be processed is retried with backoff, then kept in the dead-letter bucket
// with its reason, and redriving it brings it back.
func TestCallbacksBecomeRecordsAndPoisonIsDeadLettered(t *testing.T) {
	s := start(t, localserver.Options{DataDir: t.TempDir(), Queue: boltqueue.Options{
		MaxReceiveCount: 3, Backoff: func(int) time.Duration { return 20 * time.Millisecond }}})
	base := "http://" + s.Addr() + "/callback?"
	var idx []struct {
		File     string            `json:"file"`
		Query    map[string]string `json:"query"`
		Scenario string            `json:"scenario"`
	}
	if err := json.Unmarshal(readFixture(t, "index.json"), &idx); err != nil {
		t.Fatal(err)
	}
	for _, e := range idx {
		if e.Scenario != "single-audio-rejected" {
			continue
		}
		q := make([]string, 0, len(e.Query))
		for k, v := range e.Query {
			q = append(q, k+"="+v)
		}
		if code, a := postTo(t, base+strings.Join(q, "&"), readFixture(t, e.File)); code != 200 || a.ErrorCode != 0 {
			t.Fatalf("%s: %d %+v", e.File, code, a)
		}
	}
	poison, err := s.Queue().SendID(context.Background(), []byte(`{"v":1,"query":{},"body":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _, err := s.Store().Get(context.Background(), store.CallKey{App: 1400000001, CallID: "ff9e87f7-f04d-4227-85d9-075c6c5e2b2b"}, false)
		dead, _ := s.Queue().DeadLetters(0)
		if err == nil && r.CallResult == "reject" && len(dead) == 1 {
			if dead[0].ID != poison || dead[0].Attempts != 3 || !strings.Contains(dead[0].Reason, "permanent") {
				t.Fatalf("dead letter %+v", dead[0])
			}
			if st := s.Queue().Stats(); st.Depth != 0 || st.Dead != 1 {
				t.Fatalf("queue stats %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %+v (err %v), dead letters %+v", r, err, dead)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := s.Queue().Redrive(context.Background()); err != nil || n != 1 {
		t.Fatalf("redrive: %d %v", n, err)
	}
}
