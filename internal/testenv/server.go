package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for server processes.
const (
	startTimeout = 60 * time.Second // process start until the readiness probe passes
	termTimeout  = 10 * time.Second // SIGTERM until SIGKILL
	portTimeout  = 10 * time.Second // process exit until the port is closed
)

// Server is an emulator process started by this package, bound to 127.0.0.1.
// Stop and Start may be called any number of times; Start reuses the same port
// so clients made from Endpoint() reconnect.
type Server struct {
	kind  string     // "DynamoDB Local" or "moto_server"
	tb    testing.TB // owner for Start/Stop failures; nil for process-wide servers
	path  string
	args  func(port int) []string
	dir   string
	ready func(ctx context.Context, endpoint string) bool
	logs  *tailBuffer

	mu      sync.Mutex
	port    int
	proc    *running
	startup time.Duration
}

type running struct {
	proc *os.Process
	done chan struct{} // closed once the process has been reaped
	err  error         // exit status, valid after done is closed
}

// Endpoint returns the base URL, e.g. http://127.0.0.1:43121.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port()) }

// Port returns the TCP port; it does not change across Stop/Start.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// PID returns the server's process id, or 0 when it is stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.proc.Pid
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// StartupTime is how long the last successful start took (spawn to ready).
func (s *Server) StartupTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startup
}

// Output returns the last few KB of the server's stdout and stderr.
func (s *Server) Output() string { return s.logs.String() }

// Start (re)starts a stopped server on the same port and waits until it is
// ready. It is a no-op while the server runs. Failure is fatal to the owning test.
func (s *Server) Start() {
	if err := s.start(); err != nil {
		if s.tb == nil {
			panic(err)
		}
		s.tb.Helper()
		s.tb.Fatalf("%v", err)
	}
}

// Stop sends SIGTERM to the server's own PID, then SIGKILL after 10 s, waits
// for the process to be reaped and for its port to close. Stopping a stopped
// server is a no-op.
func (s *Server) Stop() {
	if err := s.stop(); err != nil {
		if s.tb == nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return
		}
		s.tb.Helper()
		s.tb.Errorf("%v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		select {
		case <-s.proc.done:
			s.proc = nil
		default:
			return nil
		}
	}
	if portOpen(s.port) {
		return fmt.Errorf("testenv: cannot start %s: port %d on 127.0.0.1 is already in use by another process", s.kind, s.port)
	}
	t0 := time.Now()
	s.logs.Reset()
	r, err := spawn(s.path, s.args(s.port), s.dir, s.logs)
	if err != nil {
		return fmt.Errorf("testenv: cannot start %s (%s): %w", s.kind, s.path, err)
	}
	s.proc = r
	if err := s.waitReady(r); err != nil {
		_ = s.stopLocked()
		return err
	}
	s.startup = time.Since(t0)
	return nil
}

func (s *Server) waitReady(r *running) error {
	endpoint := "http://127.0.0.1:" + strconv.Itoa(s.port)
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ok := s.ready(ctx, endpoint)
		cancel()
		if ok {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("testenv: %s (pid %d, port %d) exited before becoming ready (%v); command: %s %s; output:\n%s",
				s.kind, r.proc.Pid, s.port, r.err, s.path, strings.Join(s.args(s.port), " "), indent(s.logs.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s (pid %d) not ready on %s after %v; output:\n%s",
				s.kind, r.proc.Pid, endpoint, startTimeout, indent(s.logs.String()))
		}
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	r := s.proc
	if r == nil {
		return nil
	}
	s.proc = nil
	select {
	case <-r.done:
	default:
		// os.Process.Signal is pidfd-based on Linux: it can never hit a reused PID.
		_ = r.proc.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(termTimeout):
			_ = r.proc.Kill()
			select {
			case <-r.done:
			case <-time.After(termTimeout):
				return fmt.Errorf("testenv: %s (pid %d) survived SIGKILL", s.kind, r.proc.Pid)
			}
		}
	}
	deadline := time.Now().Add(portTimeout)
	for portOpen(s.port) {
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s stopped but port %d is still open after %v", s.kind, s.port, portTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// spawn starts the process from a goroutine locked to its own OS thread, which
// stays alive (blocked in Wait) exactly as long as the child. Together with
// PR_SET_PDEATHSIG (which fires when the *thread* that forked the child dies)
// this guarantees the child is killed when the test binary exits.
func spawn(path string, args []string, dir string, logs *tailBuffer) (*running, error) {
	type result struct {
		r   *running
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		cmd := exec.Command(path, args...)
		cmd.Dir = dir
		cmd.Stdout = logs
		cmd.Stderr = logs
		cmd.SysProcAttr = sysProcAttr()
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			ch <- result{err: err}
			return
		}
		r := &running{proc: cmd.Process, done: make(chan struct{})}
		ch <- result{r: r}
		r.err = cmd.Wait()
		close(r.done)
	}()
	res := <-ch
	return res.r, res.err
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// httpStatus returns the status code of GET url, or an error when nothing answers.
func httpStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// ddbReady: DynamoDB Local answers GET / with 400 once Jetty is up.
func ddbReady(ctx context.Context, endpoint string) bool {
	_, err := httpStatus(ctx, endpoint+"/")
	return err == nil
}

// motoReady: moto answers GET /moto-api/ with 200.
func motoReady(ctx context.Context, endpoint string) bool {
	code, err := httpStatus(ctx, endpoint+"/moto-api/")
	return err == nil && code == http.StatusOK
}

// probeEndpoint checks that something answers HTTP at endpoint (a few tries).
func probeEndpoint(endpoint string) error {
	var err error
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = httpStatus(ctx, strings.TrimRight(endpoint, "/")+"/")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	var uerr interface{ Unwrap() error }
	if errors.As(err, &uerr) && uerr.Unwrap() != nil {
		err = uerr.Unwrap()
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = b.buf[:0]
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
