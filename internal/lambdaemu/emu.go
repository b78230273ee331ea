package lambdaemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Limits and defaults, taken from the AWS Lambda quotas.
const (
	// MaxResponsePayload is the synchronous invocation response limit (6 MB).
	MaxResponsePayload = 6 * 1024 * 1024
	// MaxRequestPayload is the synchronous invocation request limit (6 MB).
	MaxRequestPayload = 6 * 1024 * 1024

	DefaultTimeout       = 3 * time.Second
	DefaultMemoryMB      = 128
	DefaultInitTimeout   = 10 * time.Second
	DefaultShutdownGrace = 2 * time.Second
	DefaultFunctionName  = "function"
	DefaultRegion        = "us-east-1"

	// AccountID is the account used in ARNs (the same default as moto).
	AccountID = "123456789012"
)

// Function error kinds reported in Result.FunctionError and in the
// X-Amz-Function-Error header. Runtimes built on the Runtime API (including
// aws-lambda-go) only ever produce "Unhandled"; "Handled" is kept for
// completeness (legacy Node.js callback errors).
const (
	FunctionErrorUnhandled = "Unhandled"
	FunctionErrorHandled   = "Handled"
)

// Errors returned by Invoke (as opposed to function errors, which are
// reported in Result).
var (
	ErrClosed          = errors.New("lambdaemu: function is closed")
	ErrPayloadTooLarge = fmt.Errorf("lambdaemu: request payload exceeds %d bytes", MaxRequestPayload)
)

// Config describes one function.
type Config struct {
	// Binary is the path of the bootstrap executable (required).
	Binary string
	// Env is extra environment for the function, "KEY=value" entries. See
	// the package documentation for what the child inherits.
	Env []string
	// FunctionName defaults to "function" (the RIE's URL uses that name).
	FunctionName string
	// Timeout is the function timeout (default 3 s, as on AWS).
	Timeout time.Duration
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128).
	// It is not enforced.
	MemoryMB int
	// Stdout and Stderr receive the child's output; nil discards it.
	Stdout, Stderr io.Writer

	// InitTimeout bounds process start → first /next (default 10 s, the
	// Lambda init phase limit).
	InitTimeout time.Duration
	// ShutdownGrace is how long Close waits after SIGTERM before SIGKILL
	// (default 2 s).
	ShutdownGrace time.Duration
}

// Result is the outcome of one invocation, as the Lambda Invoke API would
// report it.
type Result struct {
	// Payload is the response document, or the error document
	// ({"errorMessage":...,"errorType":...}) when FunctionError is set.
	Payload []byte
	// FunctionError is "" on success and "Unhandled" on any function error,
	// timeout, crash or init failure (what AWS puts in X-Amz-Function-Error).
	FunctionError string
	// ColdStart is true for the first invocation served by a new process.
	ColdStart bool
	// Duration is the time from the runtime receiving the event (/next
	// returning) to the response or error being posted (or the timeout/crash
	// being detected); like the Duration in a Lambda REPORT line, it excludes
	// init.
	Duration time.Duration
	// InitDuration is process start → first /next for cold starts (0 when
	// warm), like "Init Duration" in a REPORT line.
	InitDuration time.Duration
	// RequestID is the Lambda request id given to the runtime.
	RequestID string
	// InitError is true when the invoke failed because the execution
	// environment could not be initialized (exit before the first /next,
	// /runtime/init/error, or InitTimeout).
	InitError bool
}

// ErrorType returns the errorType field of an error payload ("" when the
// result is not an error or the payload is not a JSON error document).
func (r Result) ErrorType() string {
	if r.FunctionError == "" {
		return ""
	}
	var doc struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal(r.Payload, &doc)
	return doc.ErrorType
}

// Stats are cumulative counters and the most recent cold-start timings.
type Stats struct {
	// ProcessStarts counts bootstrap processes started.
	ProcessStarts int
	// Invocations counts invocations delivered to a runtime.
	Invocations int
	// ColdStarts counts invocations served by a fresh process.
	ColdStarts int
	// Timeouts, Crashes and InitErrors count invocations that ended that way.
	Timeouts   int
	Crashes    int
	InitErrors int
	// LastColdStart is process start → the first invocation's response (or
	// error) posted, for the most recent cold start.
	LastColdStart time.Duration
	// LastInitDuration is process start → first /next, for the most recently
	// initialized process.
	LastInitDuration time.Duration
}

// Function is one emulated Lambda function (one execution environment).
type Function struct {
	cfg     Config
	baseEnv []string
	arn     string

	queue fifoLock

	mu       sync.Mutex
	proc     *process
	closed   bool
	closedCh chan struct{}
	stats    Stats
	fronts   []io.Closer
	wg       sync.WaitGroup
}

// Start validates cfg, starts listening for the Runtime API and starts the
// bootstrap process. The function initializes in the background; the first
// Invoke is a cold start.
func Start(cfg Config) (*Function, error) {
	if cfg.Binary == "" {
		return nil, errors.New("lambdaemu: Config.Binary is required")
	}
	bin, err := filepath.Abs(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("lambdaemu: %w", err)
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, fmt.Errorf("lambdaemu: %w", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("lambdaemu: %s is not an executable file", bin)
	}
	cfg.Binary = bin
	if cfg.FunctionName == "" {
		cfg.FunctionName = DefaultFunctionName
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = DefaultMemoryMB
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	for _, kv := range cfg.Env {
		if k, _, ok := cutEnv(kv); !ok || k == "" {
			return nil, fmt.Errorf("lambdaemu: malformed Env entry %q (want KEY=value)", kv)
		}
	}
	f := &Function{cfg: cfg, closedCh: make(chan struct{})}
	f.baseEnv = buildEnv(cfg)
	f.arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", envValue(f.baseEnv, "AWS_REGION"), AccountID, cfg.FunctionName)

	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.startProcessLocked()
	if err != nil {
		return nil, err
	}
	f.proc = p
	return f, nil
}

// Config returns the effective configuration (defaults filled in).
func (f *Function) Config() Config { return f.cfg }

// ARN returns the function ARN given to the runtime.
func (f *Function) ARN() string { return f.arn }

// Stats returns a snapshot of the counters.
func (f *Function) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// PID returns the pid of the current bootstrap process, or 0 when none is
// running (for example after a crash, until the next invoke).
func (f *Function) PID() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proc == nil || f.proc.hasExited() {
		return 0
	}
	return f.proc.cmd.Process.Pid
}

// Invoke runs one invocation and waits for its result. Invocations are
// serialized FIFO. An empty payload is sent as "{}" (what the Invoke API
// does). A function failure is not a Go error: it is reported in
// Result.FunctionError; err is only for emulator-level problems
// (ErrClosed, ErrPayloadTooLarge, a process that cannot be started, ctx).
//
// If ctx ends before the event has been handed to the runtime, the invoke is
// withdrawn. If it ends afterwards, Invoke returns ctx.Err() at once but the
// invocation keeps the environment busy until it completes or times out,
// like an abandoned synchronous invoke on AWS.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	if len(payload) > MaxRequestPayload {
		return Result{}, ErrPayloadTooLarge
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	payload = append([]byte(nil), payload...)
	if err := f.queue.Lock(ctx, f.closedCh); err != nil {
		return Result{}, err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.queue.Unlock()
		return Result{}, ErrClosed
	}
	f.wg.Add(1)
	f.mu.Unlock()

	type runResult struct {
		res Result
		err error
	}
	ch := make(chan runResult, 1)
	go func() {
		defer f.wg.Done()
		defer f.queue.Unlock()
		res, err := f.run(ctx, payload)
		ch <- runResult{res, err}
	}()
	select {
	case rr := <-ch:
		return rr.res, rr.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Close stops the bootstrap (SIGTERM, then SIGKILL after ShutdownGrace), the
// Runtime API listener and any invoke fronts. Pending and later invokes fail
// with ErrClosed. Close is idempotent.
func (f *Function) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.closedCh)
	p := f.proc
	f.proc = nil
	fronts := f.fronts
	f.fronts = nil
	f.mu.Unlock()

	for _, c := range fronts {
		_ = c.Close()
	}
	if p != nil {
		p.terminate(f.cfg.ShutdownGrace)
	}
	f.wg.Wait()
	return nil
}

// run executes one invocation while holding the queue.
func (f *Function) run(ctx context.Context, payload []byte) (Result, error) {
	for attempt := 0; ; attempt++ {
		p, err := f.currentProcess()
		if err != nil {
			return Result{}, err
		}
		res, retry, err := f.dispatch(ctx, p, payload)
		if retry && attempt == 0 {
			continue
		}
		return res, err
	}
}

// currentProcess returns the live process, starting one if needed.
func (f *Function) currentProcess() (*process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.proc != nil && !f.proc.hasExited() {
		return f.proc, nil
	}
	if f.proc != nil {
		f.proc.terminate(0) // reap: already exited
		f.proc = nil
	}
	p, err := f.startProcessLocked()
	if err != nil {
		return nil, err
	}
	f.proc = p
	return p, nil
}

// retire kills p (if it is still running) and forgets it so the next invoke
// starts a fresh process.
func (f *Function) retire(p *process) {
	p.kill()
	f.mu.Lock()
	if f.proc == p {
		f.proc = nil
	}
	f.mu.Unlock()
}

// dispatch hands one invocation to p and waits for its outcome. retry is true
// when the event never reached the runtime because a previously healthy
// process had died while idle; the caller then retries on a new process.
func (f *Function) dispatch(ctx context.Context, p *process, payload []byte) (res Result, retry bool, err error) {
	inv := newInvocation(payload)
	res.RequestID = inv.id

	// Phase 1: wait for the runtime to ask for the event.
	var initTimer <-chan time.Time
	if !p.isReady() {
		t := time.NewTimer(time.Until(p.start.Add(f.cfg.InitTimeout)))
		defer t.Stop()
		initTimer = t.C
	}
	select {
	case p.invCh <- inv:
	case <-p.initFailed:
		return f.initFailure(p, inv, nil), false, nil
	case <-p.exited:
		if p.isInitFailed() {
			return f.initFailure(p, inv, nil), false, nil
		}
		if p.isReady() {
			// Died while idle (e.g. after a panic): a new environment takes
			// the event.
			f.retire(p)
			return res, true, nil
		}
		return f.initFailure(p, inv, p.waitErr), false, nil
	case <-initTimer:
		return f.initFailure(p, inv, errInitTimeout), false, nil
	case <-ctx.Done():
		return res, false, ctx.Err()
	case <-f.closedCh:
		return res, false, ErrClosed
	}
	<-inv.delivered

	f.mu.Lock()
	cold := p.invocations == 0
	p.invocations++
	f.stats.Invocations++
	if cold {
		f.stats.ColdStarts++
	}
	f.mu.Unlock()
	res.ColdStart = cold
	if cold {
		res.InitDuration = p.readyAt.Sub(p.start)
	}

	// Phase 2: wait for the answer.
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	var out outcome
	select {
	case out = <-inv.done:
	case <-p.exited:
		if !p.claim(inv) {
			out = <-inv.done // answered just before exiting
			break
		}
		f.retire(p)
		f.mu.Lock()
		f.stats.Crashes++
		f.mu.Unlock()
		res.Duration = time.Since(inv.deliveredAt)
		res.FunctionError = FunctionErrorUnhandled
		res.Payload = errorDoc("Runtime.ExitError",
			fmt.Sprintf("RequestId: %s Error: %s", inv.id, exitReason(p.waitErr)))
		return res, false, nil
	case <-timer.C:
		if !p.claim(inv) {
			out = <-inv.done
			break
		}
		f.retire(p)
		f.mu.Lock()
		f.stats.Timeouts++
		f.mu.Unlock()
		res.Duration = time.Since(inv.deliveredAt)
		res.FunctionError = FunctionErrorUnhandled
		res.Payload = errorDoc("Runtime.Timeout", fmt.Sprintf("%s %s Task timed out after %.2f seconds",
			time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, f.cfg.Timeout.Seconds()))
		return res, false, nil
	case <-f.closedCh:
		p.claim(inv)
		return res, false, ErrClosed
	}

	res.Duration = out.at.Sub(inv.deliveredAt)
	res.Payload = out.payload
	if out.isError {
		res.FunctionError = FunctionErrorUnhandled
	}
	if cold {
		f.mu.Lock()
		f.stats.LastColdStart = out.at.Sub(p.start)
		f.mu.Unlock()
	}
	return res, false, nil
}

var errInitTimeout = errors.New("init timeout")

// initFailure builds the result for an invoke whose environment failed to
// initialize and retires the process.
func (f *Function) initFailure(p *process, inv *invocation, cause error) Result {
	f.retire(p)
	f.mu.Lock()
	f.stats.InitErrors++
	f.mu.Unlock()
	res := Result{RequestID: inv.id, FunctionError: FunctionErrorUnhandled, InitError: true, ColdStart: true}
	switch {
	case p.isInitFailed():
		res.Payload = p.initErrPayload
	case errors.Is(cause, errInitTimeout):
		res.Payload = errorDoc("Runtime.InitError", fmt.Sprintf(
			"RequestId: %s Error: Runtime did not call /runtime/invocation/next within the %.2f seconds init timeout",
			inv.id, f.cfg.InitTimeout.Seconds()))
	default:
		res.Payload = errorDoc("Runtime.InitError", fmt.Sprintf(
			"RequestId: %s Error: Runtime exited during init: %s", inv.id, exitStatus(cause)))
	}
	return res
}

func exitReason(err error) string {
	if err == nil {
		return "Runtime exited without providing a reason"
	}
	return "Runtime exited with error: " + err.Error()
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// errorDoc renders the Lambda error document.
func errorDoc(errType, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	return b
}

// fifoLock is a mutex that hands ownership to waiters in arrival order.
type fifoLock struct {
	mu      sync.Mutex
	locked  bool
	waiters []chan struct{}
}

// Lock acquires the lock, or returns ctx.Err() / ErrClosed (when closed is
// closed) without it.
func (l *fifoLock) Lock(ctx context.Context, closed <-chan struct{}) error {
	l.mu.Lock()
	if !l.locked {
		l.locked = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()

	var err error
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-closed:
		err = ErrClosed
	}
	l.mu.Lock()
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			l.mu.Unlock()
			return err
		}
	}
	l.mu.Unlock()
	// Ownership was handed to us concurrently: pass it on.
	l.Unlock()
	return err
}

// Unlock releases the lock to the oldest waiter, if any.
func (l *fifoLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) > 0 {
		ch := l.waiters[0]
		l.waiters = l.waiters[1:]
		close(ch)
		return
	}
	l.locked = false
}
