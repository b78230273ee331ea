package boltqueue_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// Environment of the helper process: the queue file, and the prefix of its bodies.
const (
	helperPathEnv   = "BOLTQUEUE_CRASH_HELPER_PATH"
	helperPrefixEnv = "BOLTQUEUE_CRASH_HELPER_PREFIX"
	helperWorkers   = 64
)

// TestHelperProcessSender is not a test: TestCrashDurability runs the test binary
// again with only this function selected and the environment marker set. It sends
// from 64 goroutines for as long as it lives and prints "ACK <body>" the moment each
// Send returns nil, until the parent kills it with SIGKILL.
func TestHelperProcessSender(t *testing.T) {
	path := os.Getenv(helperPathEnv)
	if path == "" {
		return // running as a normal test: nothing to do
	}
	prefix := os.Getenv(helperPrefixEnv)
	q, err := boltqueue.Open(path, boltqueue.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: open:", err)
		os.Exit(3)
	}
	// Safety net: never outlive a parent that failed to kill us.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range helperWorkers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf("%s-w%02d-%06d", prefix, w, i)
				if err := q.Send(ctx, queue.Message{Body: []byte(body)}); err != nil {
					continue // not acknowledged: nothing printed
				}
				out.Lock()
				_, _ = os.Stdout.WriteString("ACK " + body + "\n") // unbuffered: one write(2)
				out.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Fprintln(os.Stderr, "helper: not killed within 60 s")
	os.Exit(4)
}

// TestCrashDurability: acknowledged ⇒ durable, across kill -9. A child process sends
// concurrently and prints each acknowledged body; the parent SIGKILLs it at a random
// point while commits are in flight, reopens the file and requires every acknowledged
// body exactly once. Several rounds on the same file also check that a file recovered
// from a crash keeps working.
func TestCrashDurability(t *testing.T) {
	if os.Getenv(helperPathEnv) != "" {
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]bool{}
	rounds := 4
	for round := range rounds {
		threshold := 300 + rand.IntN(1500)
		n := runAndKill(t, path, fmt.Sprintf("r%d", round), threshold, acked)

		q, err := boltqueue.Open(path, boltqueue.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		counts := map[string]int{}
		for {
			ds, err := q.Receive(context.Background(), 1000, time.Hour, 0)
			if err != nil {
				t.Fatalf("round %d: Receive: %v", round, err)
			}
			if len(ds) == 0 {
				break
			}
			for _, d := range ds {
				counts[string(d.Body)]++
			}
		}
		if err := q.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		missing, dup := 0, 0
		for body := range acked {
			switch counts[body] {
			case 0:
				missing++
				if missing <= 5 {
					t.Errorf("round %d: acknowledged %q is not in the queue", round, body)
				}
			case 1:
			default:
				dup++
				t.Errorf("round %d: %q stored %d times", round, body, counts[body])
			}
		}
		for body, c := range counts {
			if c > 1 && !acked[body] {
				t.Errorf("round %d: unacknowledged %q stored %d times", round, body, c)
			}
		}
		t.Logf("round %d: killed after %d acks this round; %d acknowledged in total, %d stored (%d committed but not yet acknowledged when killed); missing %d",
			round, n, len(acked), len(counts), len(counts)-len(acked), missing)
		if missing > 0 || dup > 0 {
			t.FailNow()
		}
	}
}

// runAndKill starts the helper, collects acknowledged bodies into acked until this
// round has at least threshold, then SIGKILLs it and waits for it to be reaped.
func runAndKill(t *testing.T, path, prefix string, threshold int, acked map[string]bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessSender$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperPathEnv+"="+path, helperPrefixEnv+"="+prefix)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	lines := make(chan string, 4096)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	n := 0
	deadline := time.After(60 * time.Second)
	for n < threshold {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				killed = true
				t.Fatalf("helper exited after %d acks: %s", n, stderr.String())
			}
			if body, isAck := strings.CutPrefix(l, "ACK "); isAck {
				acked[body] = true
				n++
			}
		case <-deadline:
			t.Fatalf("helper produced only %d acks in 60 s; stderr: %s", n, stderr.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatalf("kill helper: %v", err)
	}
	// Everything already written to the pipe was acknowledged before the kill.
	for l := range lines {
		if body, isAck := strings.CutPrefix(l, "ACK "); isAck {
			acked[body] = true
			n++
		}
	}
	err = cmd.Wait()
	killed = true
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("helper did not die of SIGKILL: %v; stderr: %s", err, stderr.String())
	}
	return n
}
