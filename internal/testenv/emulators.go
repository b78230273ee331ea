package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// DDBOption configures StartDynamoDBLocal.
type DDBOption func(*ddbConfig)

type ddbConfig struct {
	dbPath     string // "" means -inMemory
	persistent bool   // dbPath = t.TempDir()
	heap       string
	extra      []string
}

// DDBPersistent stores data in -dbPath <t.TempDir()> -sharedDb instead of
// -inMemory, so tables and items survive Server.Stop/Start.
func DDBPersistent() DDBOption { return func(c *ddbConfig) { c.persistent = true } }

// DDBDBPath is DDBPersistent with an explicit directory (made absolute).
func DDBDBPath(dir string) DDBOption { return func(c *ddbConfig) { c.dbPath = dir } }

// DDBHeap sets the JVM -Xmx value (default "512m").
func DDBHeap(size string) DDBOption { return func(c *ddbConfig) { c.heap = size } }

// DDBArgs appends raw DynamoDB Local arguments, e.g. "-delayTransientStatuses".
func DDBArgs(args ...string) DDBOption {
	return func(c *ddbConfig) { c.extra = append(c.extra, args...) }
}

// StartDynamoDBLocal starts a DynamoDB Local owned by this test on a free
// 127.0.0.1 port (-inMemory -sharedDb unless DDBPersistent/DDBDBPath), waits
// until it answers and stops it in t.Cleanup. It needs the jar installed by
// `scripts/emu.sh install`; otherwise the test fails with the reason.
func StartDynamoDBLocal(t testing.TB, opts ...DDBOption) *Server {
	t.Helper()
	var cfg ddbConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.persistent && cfg.dbPath == "" {
		cfg.dbPath = t.TempDir()
	}
	s, err := newDynamoDBLocal(t, cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Stop)
	if err := startOnFreePort(s); err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("testenv: DynamoDB Local on %s (pid %d, ready in %v)", s.Endpoint(), s.PID(), s.StartupTime().Round(time.Millisecond))
	return s
}

// StartMoto starts a moto_server owned by this test on a free 127.0.0.1 port
// and stops it in t.Cleanup. State is in memory: it is lost on Stop/Start.
func StartMoto(t testing.TB) *Server {
	t.Helper()
	s, err := newMoto(t)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Stop)
	if err := startOnFreePort(s); err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("testenv: moto_server on %s (pid %d, ready in %v)", s.Endpoint(), s.PID(), s.StartupTime().Round(time.Millisecond))
	return s
}

func newDynamoDBLocal(tb testing.TB, cfg ddbConfig) (*Server, error) {
	emuDir, emuErr := EmuDir()
	in, err := locateDynamoDBLocal(emuDir, emuErr, lookPath)
	if err != nil {
		return nil, err
	}
	if cfg.heap == "" {
		cfg.heap = "512m"
	}
	if cfg.dbPath != "" {
		abs, err := filepath.Abs(cfg.dbPath)
		if err != nil {
			return nil, err
		}
		cfg.dbPath = abs
	}
	args := func(port int) []string {
		a := []string{
			"-Xmx" + cfg.heap,
			"-Djava.library.path=./DynamoDBLocal_lib",
			"-cp", in.LauncherDir + string(os.PathListSeparator) + "DynamoDBLocal.jar",
			launcherClass,
		}
		if cfg.dbPath != "" {
			a = append(a, "-dbPath", cfg.dbPath)
		} else {
			a = append(a, "-inMemory")
		}
		a = append(a, "-sharedDb", "-port", strconv.Itoa(port), "-disableTelemetry")
		return append(a, cfg.extra...)
	}
	return &Server{
		kind:  "DynamoDB Local",
		tb:    tb,
		path:  in.Java,
		args:  args,
		dir:   in.JarDir,
		ready: ddbReady,
		logs:  newTailBuffer(16 << 10),
	}, nil
}

func newMoto(tb testing.TB) (*Server, error) {
	path, err := locateMoto(lookPath)
	if err != nil {
		return nil, err
	}
	return &Server{
		kind:  "moto_server",
		tb:    tb,
		path:  path,
		args:  func(port int) []string { return []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)} },
		ready: motoReady,
		logs:  newTailBuffer(16 << 10),
	}, nil
}

// startOnFreePort picks a free port and starts s, retrying with a new port if
// another process grabbed it in between.
func startOnFreePort(s *Server) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			return fmt.Errorf("testenv: no free port on 127.0.0.1: %w", err)
		}
		s.mu.Lock()
		s.port = port
		s.mu.Unlock()
		if err = s.start(); err == nil {
			return nil
		}
		if !portConflict(s.Output()) {
			return err
		}
	}
	return err
}

// portConflict recognises "port taken" in server output: DynamoDB Local says
// "Failed to bind to /127.0.0.1:N", moto/werkzeug "Address already in use".
func portConflict(output string) bool {
	o := strings.ToLower(output)
	return strings.Contains(o, "failed to bind") || strings.Contains(o, "address already in use")
}

// Process-wide private servers used by DynamoDB(t) and SQS(t) when the
// endpoint variables are unset.
var private struct {
	ddbOnce, motoOnce sync.Once
	mu                sync.Mutex
	servers           []*Server
	ddb, moto         *Server
	ddbErr, motoErr   error
}

// reachable caches endpoints that answered once, per process.
var reachable sync.Map

func sharedEndpoint(t testing.TB, envVar string) (string, bool) {
	t.Helper()
	ep := strings.TrimRight(os.Getenv(envVar), "/")
	if ep == "" {
		return "", false
	}
	if _, ok := reachable.Load(ep); !ok {
		if err := probeEndpoint(ep); err != nil {
			t.Fatalf("testenv: %s", unreachableMessage(envVar, ep, err))
		}
		reachable.Store(ep, true)
	}
	return ep, true
}

// DynamoDBEndpoint returns the endpoint DynamoDB(t) uses: $AWS_ENDPOINT_URL_DYNAMODB
// (checked to answer), or the process-wide private DynamoDB Local.
func DynamoDBEndpoint(t testing.TB) string {
	t.Helper()
	if ep, ok := sharedEndpoint(t, EnvDynamoDBEndpoint); ok {
		return ep
	}
	started := false
	private.ddbOnce.Do(func() {
		started = true
		s, err := newDynamoDBLocal(nil, ddbConfig{})
		if err == nil {
			err = startOnFreePort(s)
		}
		if err != nil {
			private.ddbErr = err
			return
		}
		private.ddb = s
		private.mu.Lock()
		private.servers = append(private.servers, s)
		private.mu.Unlock()
	})
	if private.ddbErr != nil {
		t.Fatalf("%v", private.ddbErr)
	}
	if started {
		t.Logf("testenv: %s unset; started private DynamoDB Local on %s (pid %d, ready in %v)",
			EnvDynamoDBEndpoint, private.ddb.Endpoint(), private.ddb.PID(), private.ddb.StartupTime().Round(time.Millisecond))
	}
	return private.ddb.Endpoint()
}

// SQSEndpoint returns the endpoint SQS(t) uses: $AWS_ENDPOINT_URL_SQS (checked
// to answer), or the process-wide private moto_server.
func SQSEndpoint(t testing.TB) string {
	t.Helper()
	if ep, ok := sharedEndpoint(t, EnvSQSEndpoint); ok {
		return ep
	}
	started := false
	private.motoOnce.Do(func() {
		started = true
		s, err := newMoto(nil)
		if err == nil {
			err = startOnFreePort(s)
		}
		if err != nil {
			private.motoErr = err
			return
		}
		private.moto = s
		private.mu.Lock()
		private.servers = append(private.servers, s)
		private.mu.Unlock()
	})
	if private.motoErr != nil {
		t.Fatalf("%v", private.motoErr)
	}
	if started {
		t.Logf("testenv: %s unset; started private moto_server on %s (pid %d, ready in %v)",
			EnvSQSEndpoint, private.moto.Endpoint(), private.moto.PID(), private.moto.StartupTime().Round(time.Millisecond))
	}
	return private.moto.Endpoint()
}

// DynamoDB returns a client for the shared DynamoDB Local named by
// AWS_ENDPOINT_URL_DYNAMODB, or for a private one started once per test binary
// when the variable is unset. It never skips: if neither is available the test
// fails with the reason.
func DynamoDB(t testing.TB, opts ...ClientOption) *dynamodb.Client {
	t.Helper()
	return NewDynamoDBClient(DynamoDBEndpoint(t), opts...)
}

// SQS returns a client for the shared moto_server named by AWS_ENDPOINT_URL_SQS,
// or for a private moto_server started once per test binary.
func SQS(t testing.TB, opts ...ClientOption) *sqs.Client {
	t.Helper()
	return NewSQSClient(SQSEndpoint(t), opts...)
}

// Main runs the tests and then stops the private servers. Use it as
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopPrivate()
	os.Exit(code)
}

// StopPrivate stops the process-wide private servers (Main calls it). Later
// calls to DynamoDB/SQS in the same process fail; use it only at the very end.
func StopPrivate() {
	private.mu.Lock()
	servers := private.servers
	private.servers = nil
	private.mu.Unlock()
	for _, s := range servers {
		s.Stop()
	}
}
