package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/internal/faults"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

// buildLocal builds cmd/callkit-local into a temporary directory.
func buildLocal(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build cmd/callkit-local: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "callkit-local")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/callkit-local")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/callkit-local: %v\n%s", err, out)
	}
	return bin
}

// child is one run of the local server binary.
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 { // keep the start (the banner, the first errors)
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChild starts the server on addr with data in dir and waits until it answers.
func startChild(t *testing.T, bin, addr, dir string) *child {
	t.Helper()
	c := &child{out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "-addr", addr, "-data", dir)
	env := []string{"CALLKIT_SDKAPPIDS=" + strconv.Itoa(app), "CALLKIT_SECRET_KEY=" + secretKey,
		"CALLKIT_QUERY_RPS=1000000", "CALLKIT_LOG_LEVEL=error"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CALLKIT_") {
			env = append(env, kv)
		}
	}
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	c.cmd.SysProcAttr = childAttr()
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill() // by its own PID (pidfd on Linux): never another process
			<-c.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-c.done:
			t.Fatalf("local server exited before answering: %v\n%s", c.err, c.out)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("local server not answering on %s after 20 s:\n%s", addr, c.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill9 SIGKILLs the child and waits until it is reaped.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-c.done
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
		t.Fatalf("the server did not die of SIGKILL: %v\n%s", c.err, c.out)
	}
}

// stop sends SIGTERM and requires a clean exit.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20 s after SIGTERM:\n%s", c.out)
	}
	if c.err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", c.err, c.out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestLocalServerKill9UnderLoad: cmd/callkit-local as a child process on a free loopback
// port with its own data directory, driven by 8 concurrent senders with ~2000 distinct
// callbacks; it is SIGKILLed twice in the middle of the load and restarted on the same
// data directory each time, while the senders keep going (an unanswered attempt is sent
// again later, as Tencent does — so callbacks committed but not acknowledged arrive
// twice). After the persister drains (watched through the query API), the server is
// stopped with SIGTERM and its files are opened directly: every acknowledged callback is
// in its call's timeline exactly once, the records equal Derive's, the queue is empty and
// nothing was dead-lettered.
func TestLocalServerKill9UnderLoad(t *testing.T) {
	r := seeded(t)
	bin := buildLocal(t)
	dir := t.TempDir()
	addr := freeAddr(t)

	var calls []call
	total := 0
	for total < 2000 {
		c := genCalls(t, r, 1)[0]
		calls = append(calls, c)
		total += len(c.sent)
	}
	ds := flatten(calls)
	tries := make([]atomic.Int32, len(ds))
	var ackTotal, refused, errored atomic.Int64
	remaining := atomic.Int64{}
	remaining.Store(int64(len(ds)))
	work := make(chan int, len(ds))
	for i := range ds {
		work <- i
	}
	allAcked := make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := newClient()
	client.Timeout = 5 * time.Second
	var senders sync.WaitGroup
	for range 8 {
		senders.Go(func() {
			for i := range work {
				d := ds[i]
				a := faults.Post(ctx, client, "http://"+addr+ingest.Route+"?"+d.query.Encode(), d.body)
				tries[i].Add(1)
				if a.Acked() {
					ackTotal.Add(1)
					if remaining.Add(-1) == 0 {
						close(work)
						close(allAcked)
					}
					continue
				}
				if a.Err != nil {
					errored.Add(1)
				} else {
					refused.Add(1)
				}
				if ctx.Err() != nil {
					return
				}
				sleepCtx(ctx, 20*time.Millisecond) // Tencent retries later, not at once
				work <- i
			}
		})
	}

	const kills = 2
	for round := 0; round <= kills; round++ {
		c := startChild(t, bin, addr, dir)
		if round == kills {
			select {
			case <-allAcked:
			case <-ctx.Done():
				t.Fatalf("only %d of %d callbacks acknowledged within 60 s", ackTotal.Load(), len(ds))
			}
			waitDrainedHTTP(t, addr, calls)
			c.stop(t)
			break
		}
		threshold := ackTotal.Load() + 300 + int64(r.IntN(400))
		for ackTotal.Load() < threshold {
			select {
			case <-ctx.Done():
				t.Fatalf("round %d: %d acknowledgements, waiting for %d", round, ackTotal.Load(), threshold)
			case <-allAcked:
				t.Fatalf("round %d: every callback was acknowledged before the kill; the load is too small", round)
			default:
			}
			time.Sleep(time.Millisecond)
		}
		c.kill9(t)
		t.Logf("round %d: SIGKILL after %d acknowledgements in all", round, ackTotal.Load())
	}
	senders.Wait()

	// The files, as the server left them.
	q, err := boltqueue.Open(filepath.Join(dir, "queue.db"), boltqueue.Options{})
	if err != nil {
		t.Fatalf("open queue after the runs: %v", err)
	}
	qs := q.Stats()
	_ = q.Close()
	st, err := boltstore.Open(filepath.Join(dir, "records.db"), boltstore.Options{})
	if err != nil {
		t.Fatalf("open records after the runs: %v", err)
	}
	defer st.Close()
	retried := 0
	for i := range tries {
		if tries[i].Load() > 1 {
			retried++
		}
	}
	t.Logf("%d callbacks of %d calls acknowledged; %d needed more than one attempt (%d attempts refused, %d got no answer: server down or killed); queue at the end %+v",
		ackTotal.Load(), len(calls), retried, refused.Load(), errored.Load(), qs)
	if errored.Load() == 0 {
		t.Errorf("no attempt failed for want of a server; the kills did not hit the load")
	}
	if qs.Depth != 0 || qs.Dead != 0 {
		t.Errorf("queue after the drain: %+v; want empty, nothing dead-lettered", qs)
	}
	// Every acknowledged callback (here: all of them) exactly once; records as Derive says.
	checkConverged(t, "after kill -9 twice", st, calls, nil)
}

// waitDrainedHTTP polls GET /v1/calls/{callId}?include=events until every call's
// timeline holds all its callbacks.
func waitDrainedHTTP(t *testing.T, addr string, calls []call) {
	t.Helper()
	sig, err := tencentyun.GenUserSig(app, secretKey, "administrator", 3600)
	if err != nil {
		t.Fatal(err)
	}
	auth := url.Values{"sdkappid": {strconv.Itoa(app)}, "identifier": {"administrator"}, "usersig": {sig}, "random": {"7"}, "contenttype": {"json"}}
	client := newClient()
	pending := make([]int, len(calls))
	for i := range pending {
		pending[i] = i
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(pending) > 0 {
		var still []int
		for _, i := range pending {
			q := url.Values{"include": {"events"}}
			for k, v := range auth {
				q[k] = v
			}
			resp, err := client.Get("http://" + addr + "/v1/calls/" + url.PathEscape(calls[i].CallID) + "?" + q.Encode())
			if err != nil {
				t.Fatalf("query API: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				Events []struct{ Key string } `json:"events"`
			}
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("query API answer %s: %v", raw, err)
				}
			} else if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("query API: %d %s", resp.StatusCode, raw)
			}
			if len(body.Events) < len(calls[i].sent) {
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls still incomplete 30 s after the last restart (first: %s)", len(pending), fmt.Sprint(calls[pending[0]].CallID))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
