// Package stack brings up the whole AWS-shaped deployment of callkit-records for
// end-to-end tests and benchmarks, from template.yaml, with the real bootstraps:
//
//	HTTP ─▶ apigw (routes of IngestFunction) ─▶ ingest bootstrap ─▶ SQS (moto) ─(DLQ)
//	                                                                 │ sqspoll, batches
//	                                                                 ▼
//	HTTP ─▶ apigw (routes of QueryFunction) ─▶ query bootstrap ◀─ DynamoDB Local ◀─ persist bootstrap
//
// The three functions are built once per test binary with the Makefile's Lambda flags
// for the host's architecture and run under internal/lambdaemu with exactly the
// environment the template gives them (Globals and the function's Variables, resolved
// against the created table and queues), plus what Lambda itself would provide (region,
// credentials) and the emulator endpoints. The UserSig key is stored in moto's Secrets
// Manager under the name the template's SecretKeySecretName parameter carries, so the
// query function reads it at cold start as it does in AWS.
//
// Test-support code: it takes a testing.TB and fails the test when something cannot be
// set up; everything is stopped in t.Cleanup / b.Cleanup. Call Main from TestMain so
// the built bootstraps and the private emulators are removed at the end.
package stack

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
	"github.com/callkit-records/callkit-records/internal/lambdaemu/apigw"
	"github.com/callkit-records/callkit-records/internal/lambdaemu/sqspoll"
	"github.com/callkit-records/callkit-records/internal/testenv"
)

// DefaultApp is the SDKAppID the stack accepts unless Options.App says otherwise.
const DefaultApp = 1400000001

// Options tune a stack. The zero value is the template as written.
type Options struct {
	// App is the accepted SDKAppID (template parameter SdkAppIds); default DefaultApp.
	App uint64
	// Parameters override template parameter values (e.g. "QueryBurstLimit").
	Parameters map[string]string
	// VisibilityTimeout overrides CallbackQueue's VisibilityTimeout (whole seconds, ≥ 1)
	// so redelivery and dead-lettering happen within a test.
	VisibilityTimeout time.Duration
	// MaxReceiveCount overrides the redrive policy's maxReceiveCount.
	MaxReceiveCount int
	// Timeouts override function timeouts by name ("ingest", "persist", "query").
	Timeouts map[string]time.Duration
	// Env adds or overrides environment variables by function name (e.g. a log level
	// for benchmarks); template values are the default.
	Env map[string]map[string]string
	// NoPoller leaves the queue alone: persist runs only when invoked directly.
	NoPoller bool
	// WrapPersist wraps the persist function as the poller invokes it (to observe batches).
	WrapPersist func(sqspoll.Invoker) sqspoll.Invoker
	// GateIngestSQS routes the ingest function's SQS calls through a Gate (Stack.Gate).
	GateIngestSQS bool
	// Concurrency runs this many execution environments of a function (by name; default
	// 1), as Lambda scales out: each environment serializes its invokes, API Gateway
	// hands a request to an idle one. Function(name) is the first. For persist it is
	// also the number of pollers, as the event source mapping's concurrency (the
	// template's ScalingConfig.MaximumConcurrency caps it).
	Concurrency map[string]int
}

// Stack is a running deployment.
type Stack struct {
	App        uint64
	Admin      string // the first admin identifier of the template's Admins parameter
	SecretKey  string // the UserSig key, as stored in Secrets Manager
	SecretName string

	// WebhookURL is where Tencent would POST callbacks ("…/callback").
	WebhookURL string
	// QueryURL is the records API base URL (no trailing slash).
	QueryURL string

	Table      string
	Queue, DLQ testenv.Queue
	DDB        *dynamodb.Client
	SQS        *sqs.Client
	// Gate is set with Options.GateIngestSQS.
	Gate *Gate

	fns     map[string]*lambdaemu.Function
	pools   map[string]*pool
	cfgs    map[string]lambdaemu.Config
	logs    map[string]*tailBuffer
	emuLog  *tailBuffer
	servers []*http.Server
	cancel  context.CancelFunc
	pollers sync.WaitGroup
	closed  sync.Once

	sigOnce sync.Once
	sig     string
	sigErr  error
}

// Start brings the stack up and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := Bootstraps(ctx)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if opts.App == 0 {
		opts.App = DefaultApp
	}
	tpl, err := testenv.LoadTemplate("")
	if err != nil {
		t.Fatalf("stack: %v", err)
	}

	s := &Stack{App: opts.App, fns: map[string]*lambdaemu.Function{}, pools: map[string]*pool{}, cfgs: map[string]lambdaemu.Config{},
		logs: map[string]*tailBuffer{}, emuLog: newTailBuffer(32 << 10)}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			for _, f := range Functions {
				if b := s.logs[f.Name]; b != nil {
					t.Logf("stack: %s output (tail):\n%s", f.Name, b.String())
				}
			}
			t.Logf("stack: emulator log (tail):\n%s", s.emuLog.String())
		}
	})

	// Infrastructure from the template.
	ddbEndpoint := testenv.DynamoDBEndpoint(t)
	motoEndpoint := testenv.SQSEndpoint(t)
	s.DDB = testenv.NewDynamoDBClient(ddbEndpoint)
	s.SQS = testenv.NewSQSClient(motoEndpoint)
	s.Table = testenv.TableFromTemplate(t, s.DDB, "CallsTable")
	var qopts []testenv.QueueOption
	if opts.VisibilityTimeout > 0 {
		secs := max(1, int(opts.VisibilityTimeout/time.Second))
		qopts = append(qopts, testenv.WithQueueAttribute("CallbackQueue", "VisibilityTimeout", strconv.Itoa(secs)))
	}
	if opts.MaxReceiveCount > 0 {
		qopts = append(qopts, testenv.WithMaxReceiveCount(opts.MaxReceiveCount))
	}
	queues := testenv.QueuesFromTemplate(t, s.SQS, qopts...)
	s.Queue, s.DLQ = queues["CallbackQueue"], queues["CallbackDeadLetterQueue"]
	if s.Queue.URL == "" || s.DLQ.URL == "" {
		t.Fatalf("stack: template.yaml has no CallbackQueue/CallbackDeadLetterQueue (got %v)", queues)
	}

	// The UserSig key lives in Secrets Manager, as in AWS.
	s.SecretKey = randomHex(16)
	s.SecretName = testenv.Name(t, "usersig-key")
	admins := "administrator"
	if p, ok := tpl.Parameters["Admins"]; ok && p.HasDefault {
		admins = fmt.Sprint(p.Default)
	}
	if v, ok := opts.Parameters["Admins"]; ok {
		admins = v
	}
	s.Admin, _, _ = strings.Cut(admins, ",")
	sm := secretsmanager.NewFromConfig(awsConfig(), func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(motoEndpoint) })
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(s.SecretName), SecretString: aws.String(s.SecretKey)}); err != nil {
		t.Fatalf("stack: CreateSecret in moto (%s): %v", motoEndpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(s.SecretName), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})

	// Stop the functions and the poller before the table, queues and secret go (cleanups
	// run last-registered first); Close is idempotent, the cleanup above covers failures.
	t.Cleanup(s.Close)

	// Resolve each function's template settings against what was created.
	params := map[string]any{"SdkAppIds": strconv.FormatUint(s.App, 10), "SecretKeySecretName": s.SecretName}
	for k, v := range opts.Parameters {
		params[k] = v
	}
	res := testenv.NewResolver(tpl)
	res.Parameters = params
	res.Ref = func(id string) (any, error) {
		switch id {
		case "CallsTable":
			return s.Table, nil
		case "CallbackQueue":
			return s.Queue.URL, nil
		case "CallbackDeadLetterQueue":
			return s.DLQ.URL, nil
		}
		return nil, fmt.Errorf("stack: !Ref %s is not emulated", id)
	}
	res.GetAtt = func(id, attr string) (any, error) {
		switch id + "." + attr {
		case "CallsTable.Arn":
			return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", testenv.Region, lambdaemu.AccountID, s.Table), nil
		case "CallbackQueue.Arn":
			return s.Queue.ARN, nil
		case "CallbackQueue.QueueName":
			return s.Queue.Name, nil
		case "CallbackDeadLetterQueue.Arn":
			return s.DLQ.ARN, nil
		case "CallbackDeadLetterQueue.QueueName":
			return s.DLQ.Name, nil
		}
		return nil, fmt.Errorf("stack: !GetAtt %s.%s is not emulated", id, attr)
	}

	if opts.GateIngestSQS {
		if s.Gate, err = startGate(motoEndpoint); err != nil {
			t.Fatalf("stack: %v", err)
		}
	}
	emuLogger := slog.New(slog.NewJSONHandler(s.emuLog, nil))
	specs := map[string]fnSpec{}
	for _, f := range Functions {
		spec, err := functionSpec(tpl, res, f.LogicalID)
		if err != nil {
			t.Fatalf("stack: template.yaml: %v", err)
		}
		specs[f.Name] = spec
		sqsEndpoint := motoEndpoint
		if f.Name == "ingest" && s.Gate != nil {
			sqsEndpoint = s.Gate.URL
		}
		env := map[string]string{
			// What Lambda provides (role credentials, region) …
			"AWS_REGION": testenv.Region, "AWS_DEFAULT_REGION": testenv.Region,
			"AWS_ACCESS_KEY_ID": testenv.AccessKeyID, "AWS_SECRET_ACCESS_KEY": testenv.SecretAccessKey,
			// … and where the emulators are (the SDK's own endpoint overrides).
			"AWS_ENDPOINT_URL_DYNAMODB":        ddbEndpoint,
			"AWS_ENDPOINT_URL_SQS":             sqsEndpoint,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": motoEndpoint,
		}
		for k, v := range spec.Env {
			env[k] = v
		}
		for k, v := range opts.Env[f.Name] {
			env[k] = v
		}
		timeout := spec.Timeout
		if d, ok := opts.Timeouts[f.Name]; ok {
			timeout = d
		}
		out := newTailBuffer(64 << 10)
		cfg := lambdaemu.Config{
			Binary: bins[f.Name], FunctionName: f.Name, Env: sortedEnv(env),
			Timeout: timeout, MemoryMB: spec.MemoryMB, Stdout: out, Stderr: out,
		}
		s.cfgs[f.Name], s.logs[f.Name] = cfg, out
		var envs []*lambdaemu.Function
		for range max(1, opts.Concurrency[f.Name]) {
			fn, err := lambdaemu.Start(cfg)
			if err != nil {
				t.Fatalf("stack: start %s: %v", f.Name, err)
			}
			envs = append(envs, fn)
			s.pools[f.Name] = newPool(envs) // so Close stops what started, even on failure
		}
		s.fns[f.Name] = envs[0]
	}

	// API Gateway in front of ingest and query, with the template's routes.
	for _, name := range []string{"ingest", "query"} {
		spec := specs[name]
		if len(spec.Routes) == 0 {
			t.Fatalf("stack: template.yaml gives %s no HttpApi routes", name)
		}
		h, err := apigw.New(s.pools[name], apigw.WithRoutes(spec.Routes...), apigw.WithLogger(emuLogger))
		if err != nil {
			t.Fatalf("stack: apigw for %s: %v", name, err)
		}
		base, err := s.serve(h)
		if err != nil {
			t.Fatalf("stack: %v", err)
		}
		if name == "ingest" {
			s.WebhookURL = base + "/callback"
		} else {
			s.QueryURL = base
		}
	}

	// The event source mapping: CallbackQueue → persist.
	ev := specs["persist"].SQS
	switch {
	case ev == nil:
		t.Fatalf("stack: template.yaml gives PersistFunction no SQS event")
	case ev.QueueARN != s.Queue.ARN:
		t.Fatalf("stack: PersistFunction's SQS event reads %s, not CallbackQueue (%s)", ev.QueueARN, s.Queue.ARN)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	s.cancel = pcancel
	if !opts.NoPoller {
		var inv sqspoll.Invoker = s.pools["persist"]
		if opts.WrapPersist != nil {
			inv = opts.WrapPersist(inv)
		}
		n := max(1, opts.Concurrency["persist"])
		if ev.MaxConcurrency > 0 && n > ev.MaxConcurrency {
			t.Fatalf("stack: %d persist pollers, but the template caps the event source at %d", n, ev.MaxConcurrency)
		}
		for range n {
			p := &sqspoll.Poller{
				SQS: s.SQS, QueueURL: s.Queue.URL, QueueARN: s.Queue.ARN, Region: testenv.Region,
				BatchSize: ev.BatchSize, Fn: inv, Logger: emuLogger,
				DisableBatchItemFailures: !ev.ReportBatchItemFailures,
				IdleDelay:                50 * time.Millisecond, // short polls keep a test's drain quick
			}
			s.pollers.Add(1)
			go func() {
				defer s.pollers.Done()
				_ = p.Run(pctx)
			}()
		}
	}
	return s
}

func (s *Stack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the poller, the HTTP fronts, the functions and the gate (t.Cleanup calls
// it; calling it earlier is fine).
func (s *Stack) Close() {
	s.closed.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.pollers.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range s.servers {
			_ = srv.Shutdown(ctx)
		}
		if s.Gate != nil {
			s.Gate.Release() // let held requests finish before the functions stop
		}
		for _, p := range s.pools {
			for _, fn := range p.fns {
				_ = fn.Close()
			}
		}
		if s.Gate != nil {
			s.Gate.close()
		}
	})
}

// Function returns a running function by name ("ingest", "persist", "query"): its first
// execution environment.
func (s *Stack) Function(name string) *lambdaemu.Function { return s.fns[name] }

// Environments returns every execution environment of a function.
func (s *Stack) Environments(name string) []*lambdaemu.Function {
	if p := s.pools[name]; p != nil {
		return append([]*lambdaemu.Function(nil), p.fns...)
	}
	return nil
}

// FunctionConfig returns the emulator configuration a function runs with (binary,
// environment, timeout), for starting fresh instances of it, e.g. to measure cold starts.
// Its output goes nowhere.
func (s *Stack) FunctionConfig(name string) lambdaemu.Config {
	cfg := s.cfgs[name]
	cfg.Env = append([]string(nil), cfg.Env...)
	cfg.Stdout, cfg.Stderr = nil, nil
	return cfg
}

// Logs returns the tail of a function's output (its JSON log lines).
func (s *Stack) Logs(name string) string {
	if b := s.logs[name]; b != nil {
		return b.String()
	}
	return ""
}

// UserSig returns a UserSig of the admin identifier, valid for a day, made with
// Tencent's own library.
func (s *Stack) UserSig() (string, error) {
	s.sigOnce.Do(func() {
		s.sig, s.sigErr = tencentyun.GenUserSig(int(s.App), s.SecretKey, s.Admin, 86400)
	})
	return s.sig, s.sigErr
}

// Auth returns the authentication query parameters of a records API request.
func (s *Stack) Auth() (url.Values, error) {
	sig, err := s.UserSig()
	if err != nil {
		return nil, err
	}
	return url.Values{
		"sdkappid": {strconv.FormatUint(s.App, 10)}, "identifier": {s.Admin}, "usersig": {sig},
		"random": {strconv.FormatUint(uint64(rand.Uint32()), 10)}, "contenttype": {"json"},
	}, nil
}

// QueueDepth returns the main queue's visible, in-flight and delayed message counts.
func (s *Stack) QueueDepth(ctx context.Context, q testenv.Queue) (visible, inFlight, delayed int, err error) {
	out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		}})
	if err != nil {
		return 0, 0, 0, err
	}
	n := func(a sqstypes.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(a)])
		return v
	}
	return n(sqstypes.QueueAttributeNameApproximateNumberOfMessages),
		n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed), nil
}

// WaitDrained waits until the main queue holds nothing — no visible, in-flight or
// delayed message. A message leaves only when persist applied it (the poller deletes it
// after the invocation) or when SQS moved it to the DLQ, so a drained queue means every
// acknowledged callback has been dealt with.
func (s *Stack) WaitDrained(ctx context.Context) error {
	var last string
	for {
		v, f, d, err := s.QueueDepth(ctx, s.Queue)
		if err == nil && v == 0 && f == 0 && d == 0 {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d visible, %d in flight, %d delayed", v, f, d)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack: queue not drained (%s): %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond): // moto counts by walking the queue: do not poll it hard
		}
	}
}

// Main runs the tests, then removes the built bootstraps and stops the private
// emulators. Use it as func TestMain(m *testing.M) { stack.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	RemoveBootstraps()
	testenv.StopPrivate()
	os.Exit(code)
}

func awsConfig() aws.Config {
	return aws.Config{Region: testenv.Region,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.AccessKeyID, testenv.SecretAccessKey, "")}
}

func sortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = cryptorand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written (function output can be large in
// benchmarks; only the tail is useful when a test fails).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

var _ io.Writer = (*tailBuffer)(nil)
