package lambdaemu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is one bootstrap process together with its own Runtime API server.
// Giving every process its own listener means a request can always be
// attributed to the process that made it, so a dying process can never pick
// up or answer an invocation meant for its successor.
type process struct {
	f     *Function
	cmd   *exec.Cmd
	ln    net.Listener
	srv   *http.Server
	start time.Time

	exited  chan struct{} // closed after cmd.Wait returns
	waitErr error         // valid after exited is closed

	ready     chan struct{} // closed at the first /next
	readyOnce sync.Once
	readyAt   time.Time // valid after ready is closed

	initFailed     chan struct{} // closed when /runtime/init/error is posted
	initFailOnce   sync.Once
	initErrPayload []byte // valid after initFailed is closed

	invCh chan *invocation // unbuffered: dispatcher → /next handler

	mu       sync.Mutex
	current  *invocation // delivered, not yet answered
	lastDone string      // id of the last answered invocation

	invocations int // guarded by f.mu
}

// invocation is one event in flight.
type invocation struct {
	id      string
	traceID string
	payload []byte

	delivered   chan struct{} // closed by the /next handler after setting the fields below
	deliveredAt time.Time
	deadline    time.Time

	done chan outcome // buffered(1): the posted response or error
}

type outcome struct {
	payload []byte
	isError bool
	at      time.Time
}

func newInvocation(payload []byte) *invocation {
	return &invocation{
		id:        newRequestID(),
		traceID:   newTraceID(),
		payload:   payload,
		delivered: make(chan struct{}),
		done:      make(chan outcome, 1),
	}
}

// startProcessLocked starts a new bootstrap with its own Runtime API
// listener. f.mu must be held.
func (f *Function) startProcessLocked() (*process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdaemu: runtime API listener: %w", err)
	}
	p := &process{
		f:          f,
		ln:         ln,
		exited:     make(chan struct{}),
		ready:      make(chan struct{}),
		initFailed: make(chan struct{}),
		invCh:      make(chan *invocation),
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}

	cmd := exec.Command(f.cfg.Binary)
	cmd.Dir = dirOf(f.cfg.Binary)
	cmd.Env = processEnv(f.baseEnv, ln.Addr().String())
	cmd.Stdout = f.cfg.Stdout
	cmd.Stderr = f.cfg.Stderr
	cmd.SysProcAttr = sysProcAttr()
	// Bound the wait for the output copiers if a grandchild keeps a pipe.
	cmd.WaitDelay = time.Second
	p.cmd = cmd

	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("lambdaemu: start %s: %w", f.cfg.Binary, err)
	}
	f.stats.ProcessStarts++

	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	go func() {
		defer f.wg.Done()
		p.waitErr = cmd.Wait()
		close(p.exited)
		_ = p.srv.Close()
	}()
	return p, nil
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *process) isReady() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

func (p *process) isInitFailed() bool {
	select {
	case <-p.initFailed:
		return true
	default:
		return false
	}
}

// claim takes inv away from the runtime (on timeout or exit). It reports
// false when the runtime had already claimed it by posting an answer, in
// which case the answer is (or is about to be) in inv.done.
func (p *process) claim(inv *invocation) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != inv {
		return false
	}
	p.current = nil
	p.lastDone = inv.id
	return true
}

// kill sends SIGKILL to the process (by pid) and waits for it to be reaped.
func (p *process) kill() {
	if !p.hasExited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.exited
}

// terminate sends SIGTERM, waits up to grace, then SIGKILLs; it returns once
// the process has been reaped and its Runtime API server closed.
func (p *process) terminate(grace time.Duration) {
	if !p.hasExited() && grace > 0 {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.exited:
		case <-t.C:
		}
		t.Stop()
	}
	p.kill()
	_ = p.srv.Close()
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newTraceID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0",
		time.Now().Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}
