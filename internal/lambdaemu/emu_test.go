package lambdaemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type echoResp struct {
	Op           string          `json:"op"`
	PID          int             `json:"pid"`
	Count        int64           `json:"count"`
	RequestID    string          `json:"requestId"`
	FunctionArn  string          `json:"functionArn"`
	FunctionName string          `json:"functionName"`
	Region       string          `json:"region"`
	TableName    string          `json:"tableName"`
	DeadlineInMS int64           `json:"deadlineInMs"`
	TraceID      string          `json:"traceId"`
	Event        json.RawMessage `json:"event"`
}

type errDoc struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func invoke(t testing.TB, f *Function, payload string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := f.Invoke(ctx, []byte(payload))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", payload, err)
	}
	return res
}

func mustEcho(t testing.TB, res Result) echoResp {
	t.Helper()
	if res.FunctionError != "" {
		t.Fatalf("unexpected function error %s: %s", res.FunctionError, res.Payload)
	}
	var e echoResp
	if err := json.Unmarshal(res.Payload, &e); err != nil {
		t.Fatalf("bad echo payload %q: %v", res.Payload, err)
	}
	return e
}

func mustErr(t testing.TB, res Result, wantType string) errDoc {
	t.Helper()
	if res.FunctionError != FunctionErrorUnhandled {
		t.Fatalf("FunctionError = %q, want Unhandled (payload %s)", res.FunctionError, res.Payload)
	}
	var d errDoc
	if err := json.Unmarshal(res.Payload, &d); err != nil {
		t.Fatalf("bad error payload %q: %v", res.Payload, err)
	}
	if wantType != "" && d.ErrorType != wantType {
		t.Fatalf("errorType = %q, want %q (payload %s)", d.ErrorType, wantType, res.Payload)
	}
	if res.ErrorType() != d.ErrorType {
		t.Fatalf("Result.ErrorType() = %q, want %q", res.ErrorType(), d.ErrorType)
	}
	return d
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// queued is the number of invokes waiting for the environment.
func queued(f *Function) int {
	f.queue.mu.Lock()
	defer f.queue.mu.Unlock()
	return len(f.queue.waiters)
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestEchoRoundTrip(t *testing.T) {
	f := startTest(t, Config{FunctionName: "ingest", Env: []string{"TABLE_NAME=calls"}, Timeout: 5 * time.Second})
	res := invoke(t, f, `{"op":"echo","x":[1,2,3]}`)
	e := mustEcho(t, res)
	if !res.ColdStart || res.InitDuration <= 0 {
		t.Errorf("first invoke: ColdStart=%v InitDuration=%v, want cold with init", res.ColdStart, res.InitDuration)
	}
	if e.RequestID != res.RequestID || len(e.RequestID) != 36 {
		t.Errorf("request id: function saw %q, result has %q", e.RequestID, res.RequestID)
	}
	if e.FunctionName != "ingest" || e.Region != "us-east-1" || e.TableName != "calls" {
		t.Errorf("env seen by function: name=%q region=%q table=%q", e.FunctionName, e.Region, e.TableName)
	}
	if e.FunctionArn != "arn:aws:lambda:us-east-1:123456789012:function:ingest" || e.FunctionArn != f.ARN() {
		t.Errorf("arn = %q", e.FunctionArn)
	}
	if e.DeadlineInMS < 4000 || e.DeadlineInMS > 5000 {
		t.Errorf("deadline in %d ms, want ~5000", e.DeadlineInMS)
	}
	if !strings.HasPrefix(e.TraceID, "Root=1-") {
		t.Errorf("trace id %q", e.TraceID)
	}
	if string(e.Event) != `{"op":"echo","x":[1,2,3]}` {
		t.Errorf("event = %s", e.Event)
	}

	res2 := invoke(t, f, `{}`)
	e2 := mustEcho(t, res2)
	if res2.ColdStart || res2.InitDuration != 0 || e2.PID != e.PID || e2.Count != 2 {
		t.Errorf("second invoke: cold=%v init=%v pid %d→%d count=%d", res2.ColdStart, res2.InitDuration, e.PID, e2.PID, e2.Count)
	}
	if f.PID() != e.PID {
		t.Errorf("PID() = %d, function pid %d", f.PID(), e.PID)
	}
	// Empty payload is sent as {}.
	e3 := mustEcho(t, invoke(t, f, ``))
	if string(e3.Event) != `{}` {
		t.Errorf("empty payload arrived as %s", e3.Event)
	}
	st := f.Stats()
	if st.ProcessStarts != 1 || st.Invocations != 3 || st.ColdStarts != 1 || st.LastColdStart <= 0 || st.LastInitDuration <= 0 {
		t.Errorf("stats = %+v", st)
	}
	if st.LastColdStart < st.LastInitDuration {
		t.Errorf("cold start %v shorter than init %v", st.LastColdStart, st.LastInitDuration)
	}
}

func TestEnvironmentIsHermetic(t *testing.T) {
	t.Setenv("LAMBDAEMU_TEST_LEAK", "secret")
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5999")
	f := startTest(t, Config{
		FunctionName: "fn", MemoryMB: 256,
		Env: append([]string{"AWS_REGION=eu-west-1", "QUEUE_URL=q"}, EnvFromParent("AWS_ENDPOINT_URL_*")...),
	})
	res := invoke(t, f, `{"op":"env"}`)
	var list []string
	if err := json.Unmarshal(res.Payload, &list); err != nil {
		t.Fatalf("env payload %s: %v", res.Payload, err)
	}
	env := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "fn",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/fn",
		"_HANDLER":                        "bootstrap",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"LAMBDA_TASK_ROOT":                filepath.Dir(testBinary),
		"QUEUE_URL":                       "q",
		"AWS_ENDPOINT_URL_SQS":            "http://127.0.0.1:5999",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q", env["AWS_LAMBDA_RUNTIME_API"])
	}
	if !strings.Contains(env["AWS_LAMBDA_LOG_STREAM_NAME"], "[$LATEST]") {
		t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME = %q", env["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
	if _, ok := env["LAMBDAEMU_TEST_LEAK"]; ok {
		t.Error("parent environment leaked into the function")
	}
	if os.Getenv("PATH") != "" && env["PATH"] != os.Getenv("PATH") {
		t.Error("PATH not passed through")
	}
}

func TestFunctionError(t *testing.T) {
	f := startTest(t, Config{})
	first := mustEcho(t, invoke(t, f, `{}`))
	res := invoke(t, f, `{"op":"error","msg":"bad things"}`)
	d := mustErr(t, res, "testError")
	if d.ErrorMessage != "bad things" {
		t.Errorf("errorMessage = %q", d.ErrorMessage)
	}
	if res.ColdStart {
		t.Error("error invoke reported as cold start")
	}
	// A handled function error does not recycle the environment.
	after := mustEcho(t, invoke(t, f, `{}`))
	if after.PID != first.PID {
		t.Errorf("process changed after a function error: %d → %d", first.PID, after.PID)
	}
}

func TestTimeoutKillsAndNextInvokeIsCold(t *testing.T) {
	f := startTest(t, Config{Timeout: 400 * time.Millisecond})
	first := mustEcho(t, invoke(t, f, `{}`))
	start := time.Now()
	res := invoke(t, f, `{"op":"sleep","ms":5000}`)
	took := time.Since(start)
	d := mustErr(t, res, "Runtime.Timeout")
	if !strings.Contains(d.ErrorMessage, "Task timed out after 0.40 seconds") || !strings.Contains(d.ErrorMessage, res.RequestID) {
		t.Errorf("errorMessage = %q", d.ErrorMessage)
	}
	if took < 350*time.Millisecond || took > 3*time.Second {
		t.Errorf("timeout took %v, want ~400ms", took)
	}
	if processAlive(first.PID) {
		t.Errorf("process %d still alive after timeout", first.PID)
	}
	res2 := invoke(t, f, `{}`)
	e := mustEcho(t, res2)
	if !res2.ColdStart || e.PID == first.PID || e.Count != 1 {
		t.Errorf("after timeout: cold=%v pid %d→%d count=%d", res2.ColdStart, first.PID, e.PID, e.Count)
	}
	if st := f.Stats(); st.Timeouts != 1 || st.ProcessStarts != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCrashMidInvokeReturnsExitErrorPromptly(t *testing.T) {
	f := startTest(t, Config{Timeout: 20 * time.Second})
	first := mustEcho(t, invoke(t, f, `{}`))
	start := time.Now()
	res := invoke(t, f, `{"op":"exit","code":3,"ms":50}`)
	took := time.Since(start)
	d := mustErr(t, res, "Runtime.ExitError")
	if !strings.Contains(d.ErrorMessage, "exit status 3") || !strings.Contains(d.ErrorMessage, res.RequestID) {
		t.Errorf("errorMessage = %q", d.ErrorMessage)
	}
	if took > 2*time.Second {
		t.Errorf("crash reported after %v; must not wait for the 20s timeout", took)
	}
	res2 := invoke(t, f, `{}`)
	e := mustEcho(t, res2)
	if !res2.ColdStart || e.PID == first.PID {
		t.Errorf("after crash: cold=%v pid %d→%d", res2.ColdStart, first.PID, e.PID)
	}
	if st := f.Stats(); st.Crashes != 1 || st.ProcessStarts != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestPanicReportsErrorAndRecycles(t *testing.T) {
	f := startTest(t, Config{Timeout: 20 * time.Second})
	first := mustEcho(t, invoke(t, f, `{}`))
	res := invoke(t, f, `{"op":"panic","msg":"kaboom"}`)
	d := mustErr(t, res, "")
	if !strings.Contains(d.ErrorMessage, "kaboom") {
		t.Errorf("errorMessage = %q", d.ErrorMessage)
	}
	// aws-lambda-go exits after reporting a panic; the next invoke must be
	// served by a fresh process, without surfacing an error.
	for i := 0; i < 3; i++ {
		res2 := invoke(t, f, `{}`)
		e := mustEcho(t, res2)
		if e.PID == first.PID {
			t.Fatalf("invoke %d after panic served by the old process", i)
		}
		if i == 0 && !res2.ColdStart {
			t.Error("first invoke after panic is not a cold start")
		}
	}
}

func TestConcurrentInvokesAreSerialized(t *testing.T) {
	f := startTest(t, Config{Timeout: 10 * time.Second})
	rec := filepath.Join(t.TempDir(), "record.log")
	const n = 8
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.Invoke(context.Background(),
				fmt.Appendf(nil, `{"op":"record","path":%q,"ms":25,"n":%d}`, rec, i))
		}()
	}
	wg.Wait()
	cold := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("invoke %d: %v", i, errs[i])
		}
		mustEcho(t, results[i])
		if results[i].ColdStart {
			cold++
		}
	}
	if cold != 1 {
		t.Errorf("%d cold starts, want 1", cold)
	}

	type span struct {
		n          int
		enter, end int64
	}
	spans := map[int]*span{}
	fh, err := os.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var kind string
		var id, pid int
		var ts int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %d", &kind, &id, &pid, &ts); err != nil {
			t.Fatalf("bad record line %q: %v", sc.Text(), err)
		}
		s := spans[id]
		if s == nil {
			s = &span{n: id}
			spans[id] = s
		}
		if kind == "enter" {
			s.enter = ts
		} else {
			s.end = ts
		}
	}
	if len(spans) != n {
		t.Fatalf("recorded %d invocations, want %d", len(spans), n)
	}
	list := make([]*span, 0, n)
	for _, s := range spans {
		if s.enter == 0 || s.end == 0 {
			t.Fatalf("invocation %d incomplete: %+v", s.n, s)
		}
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].enter < list[j].enter })
	for i := 1; i < len(list); i++ {
		if list[i].enter < list[i-1].end {
			t.Errorf("invocation %d entered before %d exited: overlap", list[i].n, list[i-1].n)
		}
	}
}

func TestQueueIsFIFO(t *testing.T) {
	f := startTest(t, Config{Timeout: 10 * time.Second})
	mustEcho(t, invoke(t, f, `{}`))
	rec := filepath.Join(t.TempDir(), "fifo.log")
	// Occupy the environment, then queue invokes one by one, each after the
	// previous one is known to be waiting.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = f.Invoke(context.Background(), []byte(`{"op":"sleep","ms":600}`))
	}()
	waitFor(t, func() bool { return f.Stats().Invocations == 2 })
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = f.Invoke(context.Background(), fmt.Appendf(nil, `{"op":"record","path":%q,"n":%d}`, rec, i))
		}()
		waitFor(t, func() bool { return queued(f) == i+1 })
	}
	wg.Wait()
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if fs := strings.Fields(line); fs[0] == "enter" {
			order = append(order, fs[1])
		}
	}
	if strings.Join(order, ",") != "0,1,2,3,4" {
		t.Errorf("served in order %v, want FIFO", order)
	}
}

func TestCanceledWhileQueued(t *testing.T) {
	f := startTest(t, Config{Timeout: 10 * time.Second})
	mustEcho(t, invoke(t, f, `{}`))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = f.Invoke(context.Background(), []byte(`{"op":"sleep","ms":400}`))
	}()
	waitFor(t, func() bool { return f.Stats().Invocations == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Invoke(ctx, []byte(`{}`))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("queued invoke: err=%v after %v", err, time.Since(start))
	}
	<-done
	mustEcho(t, invoke(t, f, `{}`))
	if st := f.Stats(); st.Invocations != 3 {
		t.Errorf("invocations = %d, want 3 (the canceled one must not run)", st.Invocations)
	}
}

func TestInitErrorExit(t *testing.T) {
	f := startTest(t, Config{Env: []string{"TESTFN_INIT_FAIL=exit"}})
	for i := 0; i < 2; i++ {
		res := invoke(t, f, `{}`)
		d := mustErr(t, res, "Runtime.InitError")
		if !res.InitError || !strings.Contains(d.ErrorMessage, "exit status 4") {
			t.Errorf("invoke %d: InitError=%v message=%q", i, res.InitError, d.ErrorMessage)
		}
	}
	if st := f.Stats(); st.ProcessStarts != 2 || st.InitErrors != 2 || st.Invocations != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestInitErrorPosted(t *testing.T) {
	f := startTest(t, Config{Env: []string{"TESTFN_INIT_FAIL=post"}})
	res := invoke(t, f, `{}`)
	d := mustErr(t, res, "Custom.InitFailure")
	if !res.InitError || d.ErrorMessage != "init failed on purpose" {
		t.Errorf("InitError=%v payload=%s", res.InitError, res.Payload)
	}
}

func TestInitTimeout(t *testing.T) {
	f := startTest(t, Config{InitTimeout: 300 * time.Millisecond, Env: []string{"TESTFN_INIT_SLEEP_MS=5000"}})
	start := time.Now()
	res := invoke(t, f, `{}`)
	mustErr(t, res, "Runtime.InitError")
	if !res.InitError || time.Since(start) > 3*time.Second {
		t.Errorf("InitError=%v after %v", res.InitError, time.Since(start))
	}
}

func TestSlowInitIsMeasured(t *testing.T) {
	f := startTest(t, Config{Env: []string{"TESTFN_INIT_SLEEP_MS=250"}})
	res := invoke(t, f, `{}`)
	mustEcho(t, res)
	st := f.Stats()
	if !res.ColdStart || res.InitDuration < 250*time.Millisecond || st.LastInitDuration < 250*time.Millisecond || st.LastColdStart < st.LastInitDuration {
		t.Errorf("cold=%v init=%v stats=%+v", res.ColdStart, res.InitDuration, st)
	}
}

func TestPayloadLimits(t *testing.T) {
	f := startTest(t, Config{Timeout: 10 * time.Second})
	if _, err := f.Invoke(context.Background(), make([]byte, MaxRequestPayload+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Errorf("oversized request: err = %v", err)
	}
	res := invoke(t, f, fmt.Sprintf(`{"op":"big","size":%d}`, MaxResponsePayload))
	mustErr(t, res, "Function.ResponseSizeTooLarge")
	// Just under the limit works (the JSON string adds 2 quotes).
	res = invoke(t, f, fmt.Sprintf(`{"op":"big","size":%d}`, MaxResponsePayload-2))
	if res.FunctionError != "" || len(res.Payload) != MaxResponsePayload {
		t.Errorf("6 MB response: err=%q len=%d", res.FunctionError, len(res.Payload))
	}
}

// fakeRuntime starts the emulator with a bootstrap that does nothing, so the
// test itself can play the runtime against the Runtime API.
func fakeRuntime(t *testing.T, timeout time.Duration) (*Function, string) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := startTest(t, Config{Binary: script, Timeout: timeout, ShutdownGrace: 100 * time.Millisecond})
	f.mu.Lock()
	addr := f.proc.ln.Addr().String()
	f.mu.Unlock()
	return f, "http://" + addr + "/2018-06-01/runtime"
}

func do(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestRuntimeAPIProtocol(t *testing.T) {
	f, api := fakeRuntime(t, 5*time.Second)

	resCh := make(chan Result, 1)
	go func() {
		res, err := f.Invoke(context.Background(), []byte(`{"hello":1}`))
		if err != nil {
			t.Error(err)
		}
		resCh <- res
	}()
	start := time.Now()
	code, h, body := do(t, "GET", api+"/invocation/next", "")
	if code != 200 || body != `{"hello":1}` {
		t.Fatalf("next: %d %q", code, body)
	}
	id := h.Get("Lambda-Runtime-Aws-Request-Id")
	dl, _ := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if id == "" || h.Get("Lambda-Runtime-Invoked-Function-Arn") != f.ARN() || !strings.HasPrefix(h.Get("Lambda-Runtime-Trace-Id"), "Root=1-") {
		t.Errorf("next headers: %v", h)
	}
	if d := time.UnixMilli(dl).Sub(start); d < 4*time.Second || d > 6*time.Second {
		t.Errorf("deadline %v from now, want ~5s", d)
	}

	if code, _, _ := do(t, "POST", api+"/invocation/not-the-id/response", "x"); code != 400 {
		t.Errorf("unknown id: %d, want 400", code)
	}
	if code, _, _ := do(t, "GET", api+"/invocation/"+id+"/response", ""); code != 405 {
		t.Errorf("GET response: %d, want 405", code)
	}
	if code, _, _ := do(t, "POST", api+"/invocation/"+id+"/bogus", ""); code != 404 {
		t.Errorf("bogus action: %d, want 404", code)
	}
	if code, _, _ := do(t, "GET", api+"/nothing", ""); code != 404 {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if code, _, _ := do(t, "POST", api+"/init/error", `{}`); code != 403 {
		t.Errorf("init/error after init: %d, want 403", code)
	}
	if code, _, _ := do(t, "POST", api+"/invocation/"+id+"/response", `{"ok":true}`); code != 202 {
		t.Errorf("response: %d, want 202", code)
	}
	res := <-resCh
	if res.FunctionError != "" || string(res.Payload) != `{"ok":true}` || res.RequestID != id || !res.ColdStart {
		t.Errorf("result = %+v", res)
	}
	if code, _, _ := do(t, "POST", api+"/invocation/"+id+"/response", `{}`); code != 403 {
		t.Errorf("second response: %d, want 403", code)
	}

	// Error with a non-JSON body and the error-type header.
	go func() {
		res, _ := f.Invoke(context.Background(), []byte(`{}`))
		resCh <- res
	}()
	_, h, _ = do(t, "GET", api+"/invocation/next", "")
	id = h.Get("Lambda-Runtime-Aws-Request-Id")
	if code, _, _ := do(t, "POST", api+"/invocation/"+id+"/error", "plain failure",
		"Lambda-Runtime-Function-Error-Type", "Runtime.Custom"); code != 202 {
		t.Errorf("error: %d, want 202", code)
	}
	res = <-resCh
	d := mustErr(t, res, "Runtime.Custom")
	if d.ErrorMessage != "plain failure" || res.ColdStart {
		t.Errorf("error result = %+v", res)
	}

	// Oversized response: 413 to the runtime, Function.ResponseSizeTooLarge to the caller.
	go func() {
		res, _ := f.Invoke(context.Background(), []byte(`{}`))
		resCh <- res
	}()
	_, h, _ = do(t, "GET", api+"/invocation/next", "")
	id = h.Get("Lambda-Runtime-Aws-Request-Id")
	if code, _, _ := do(t, "POST", api+"/invocation/"+id+"/response", strings.Repeat("a", MaxResponsePayload+1)); code != 413 {
		t.Errorf("oversized response: %d, want 413", code)
	}
	mustErr(t, <-resCh, "Function.ResponseSizeTooLarge")
}

func TestRuntimeAPIInitErrorStatus(t *testing.T) {
	f, api := fakeRuntime(t, 5*time.Second)
	if code, _, _ := do(t, "POST", api+"/init/error", `{"errorMessage":"no config","errorType":"Config.Missing"}`); code != 202 {
		t.Fatalf("init/error: %d, want 202", code)
	}
	if code, _, _ := do(t, "POST", api+"/init/error", `{}`); code != 403 {
		t.Errorf("second init/error: %d, want 403", code)
	}
	res := invoke(t, f, `{}`)
	mustErr(t, res, "Config.Missing")
	if !res.InitError {
		t.Error("InitError not set")
	}
}

func TestInvokeAPIFront(t *testing.T) {
	f := startTest(t, Config{})
	for _, bad := range []string{"0.0.0.0:0", "192.0.2.1:0", ":0x", "[::]:0"} {
		if _, _, err := f.ServeInvokeAPI(bad); err == nil {
			t.Errorf("ServeInvokeAPI(%q) accepted a non-loopback address", bad)
		}
	}
	srv, url, err := f.ServeInvokeAPI("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if srv == nil || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url = %q", url)
	}
	post := func(body string) (*http.Response, string) {
		resp, err := http.Post(url+InvokePath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post(`{"op":"echo"}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
		t.Errorf("echo: %d %v", resp.StatusCode, resp.Header)
	}
	var e echoResp
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.RequestID != resp.Header.Get("X-Amzn-Requestid") {
		t.Errorf("echo body %q (%v)", body, err)
	}
	resp, body = post(`{"op":"error","msg":"nope"}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "Unhandled" || !strings.Contains(body, `"errorType":"testError"`) {
		t.Errorf("error: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if r, err := http.Get(url + InvokePath); err != nil || r.StatusCode != 405 {
		t.Errorf("GET: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if r, err := http.Post(url+"/2015-03-31/functions/x", "", nil); err != nil || r.StatusCode != 404 {
		t.Errorf("bad path: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	// Concurrent calls through the front queue instead of failing (the RIE
	// panics or returns EOF errors here).
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := http.Post(url+InvokePath, "application/json", strings.NewReader(`{"op":"sleep","ms":20}`))
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			if r.StatusCode != 200 || r.Header.Get("X-Amz-Function-Error") != "" {
				t.Errorf("concurrent invoke: %d %v", r.StatusCode, r.Header)
			}
		}()
	}
	wg.Wait()
}

func TestCloseStopsEverything(t *testing.T) {
	f, err := Start(Config{Binary: testBinary})
	if err != nil {
		t.Fatal(err)
	}
	e := mustEcho(t, invoke(t, f, `{}`))
	_, url, err := f.ServeInvokeAPI("")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if processAlive(e.PID) {
		t.Errorf("process %d alive after Close", e.PID)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: %v", err)
	}
	if r, err := http.Post(url+InvokePath, "", nil); err == nil {
		r.Body.Close()
		t.Error("invoke front still serving after Close")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Config{}); err == nil {
		t.Error("Start without Binary succeeded")
	}
	if _, err := Start(Config{Binary: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("Start with a missing binary succeeded")
	}
	if _, err := Start(Config{Binary: testBinary, Env: []string{"NOEQUALS"}}); err == nil {
		t.Error("Start with a malformed Env entry succeeded")
	}
}

func TestMeasureColdStart(t *testing.T) {
	d, err := MeasureColdStart(testBinary, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > 10*time.Second {
		t.Errorf("cold start = %v", d)
	}
	t.Logf("cold start (process start → first response): %v", d)
	if _, err := MeasureColdStart(testBinary, []byte(`{"op":"error","msg":"x"}`)); err == nil {
		t.Error("function error not reported")
	}
}
