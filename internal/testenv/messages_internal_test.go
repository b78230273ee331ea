package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The loud-failure messages, produced without breaking the machine.
func TestUnavailableMessages(t *testing.T) {
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	missing := func(name string) (string, error) { return "", &exec.Error{Name: name, Err: exec.ErrNotFound} }

	emu := t.TempDir()
	check := func(what string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: message %q lacks %q", what, err, w)
			}
		}
		t.Logf("%s: %v", what, err)
	}

	_, err := locateDynamoDBLocal(emu, nil, found)
	check("empty .emu", err,
		"DynamoDB Local not available: AWS_ENDPOINT_URL_DYNAMODB unset and no jar under "+filepath.Join(emu, "ddb"),
		"make test", "scripts/emu.sh install")

	_, err = locateDynamoDBLocal("", errors.New("no go.mod found in /x or any parent directory"), found)
	check("no repo", err, "AWS_ENDPOINT_URL_DYNAMODB unset", "no go.mod", "scripts/emu.sh install")

	mustWrite(t, filepath.Join(emu, "ddb", "DynamoDBLocal.jar"))
	_, err = locateDynamoDBLocal(emu, nil, found)
	check("no lib", err, "incomplete install", "DynamoDBLocal_lib")

	mustWrite(t, filepath.Join(emu, "ddb", "DynamoDBLocal_lib", "x.jar"))
	_, err = locateDynamoDBLocal(emu, nil, found)
	check("no launcher", err, "launcher is not compiled", "LoopbackDynamoDBLocal.class")

	mustWrite(t, filepath.Join(emu, "launcher", "LoopbackDynamoDBLocal.class"))
	_, err = locateDynamoDBLocal(emu, nil, missing)
	check("no java", err, "java is not on PATH", "Java 17")

	in, err := locateDynamoDBLocal(emu, nil, found)
	if err != nil || in.Java != "/usr/bin/java" || in.JarDir != filepath.Join(emu, "ddb") {
		t.Errorf("complete install: %+v, %v", in, err)
	}

	_, err = locateMoto(missing)
	check("no moto", err, "SQS emulator not available: AWS_ENDPOINT_URL_SQS unset and moto_server is not on PATH", "pip install")
	if p, err := locateMoto(found); err != nil || p != "/usr/bin/moto_server" {
		t.Errorf("locateMoto = %q, %v", p, err)
	}

	// An endpoint variable pointing at a closed port.
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	perr := probeEndpoint(ep)
	if perr == nil {
		t.Fatalf("probe of closed port %d succeeded", port)
	}
	msg := unreachableMessage(EnvDynamoDBEndpoint, ep, perr)
	for _, w := range []string{"AWS_ENDPOINT_URL_DYNAMODB=" + ep + " is set but nothing answers", "connection refused", "scripts/emu.sh up"} {
		if !strings.Contains(msg, w) {
			t.Errorf("unreachable message %q lacks %q", msg, w)
		}
	}
	t.Logf("unreachable: %s", msg)
}

func mustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A server that dies during startup is reported with its exit status and output.
func TestServerExitsBeforeReady(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		kind:  "fake server",
		path:  "/bin/sh",
		args:  func(int) []string { return []string{"-c", "echo 'fatal: cannot open database' >&2; exit 3"} },
		ready: motoReady,
		logs:  newTailBuffer(1024),
		port:  port,
	}
	err = s.start()
	if err == nil {
		t.Fatal("start succeeded")
	}
	for _, w := range []string{"fake server", "exited before becoming ready", "exit status 3", "fatal: cannot open database"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
	t.Logf("%v", err)
	if s.Running() {
		t.Error("still running")
	}
}

func TestPortConflict(t *testing.T) {
	if !portConflict("java.io.IOException: Failed to bind to /127.0.0.1:18000") ||
		!portConflict("OSError: [Errno 98] Address already in use") || portConflict("boom") {
		t.Error("portConflict misclassifies")
	}
}

// Servers must die with the test binary even without Main/Stop: the binary
// re-runs itself as a helper that spawns `sleep`, prints its pid and is then
// SIGKILLed; PR_SET_PDEATHSIG must take the sleep down with it.
func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv("TESTENV_HELPER") == "1" {
		r, err := spawn("/bin/sleep", []string{"300"}, "", newTailBuffer(64))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("PID", r.proc.Pid)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESTENV_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PID ") {
		t.Fatalf("helper said %q, %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PID ")))
	if !alive(pid) {
		t.Fatalf("child %d not running", pid)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // our own leaked child
			t.Fatalf("child %d survived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
