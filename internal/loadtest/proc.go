package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a server started by the harness. It is only ever stopped by its own PID.
type Process struct {
	Name string
	Addr string // host:port it listens on, read from its output
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// ServerSpec describes a server to start.
type ServerSpec struct {
	Name    string
	Binary  string
	Args    []string
	Env     []string       // the complete environment of the child
	Log     string         // file receiving its stdout and stderr
	AddrRE  *regexp.Regexp // first submatch of a stdout line: the listen address
	Timeout time.Duration  // to start listening; default 30s
}

// StartServer starts the server and waits until it reports its address.
func StartServer(s ServerSpec) (*Process, error) {
	if s.Timeout <= 0 {
		s.Timeout = 30 * time.Second
	}
	logf, err := os.Create(s.Log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Binary, s.Args...)
	cmd.Env = s.Env
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := s.AddrRE.FindStringSubmatch(line); !found && m != nil {
				found = true
				addr <- m[1]
			}
		}
		_, _ = io.Copy(logf, stdout)
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	select {
	case p.Addr = <-addr:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening (%v); see %s", s.Name, p.err, s.Log)
	case <-time.After(s.Timeout):
		p.Kill()
		return nil, fmt.Errorf("%s did not report an address within %s; see %s", s.Name, s.Timeout, s.Log)
	}
}

// PID of the process.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to grace for a clean exit, then SIGKILLs.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s (pid %d) did not stop within %s after SIGTERM; killed", p.Name, p.PID(), grace)
	}
}

// Kill SIGKILLs the process and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// CPUTime is the user+system CPU the process has used so far (Linux /proc).
func (p *Process) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command (which is in parentheses and may contain spaces).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	const hz = 100 // USER_HZ: fixed at 100 for the /proc ABI on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}

// WaitIdle waits until the process uses less than 5% of a core over two consecutive
// 250 ms windows — a server has finished its background work (the local server's
// persister draining its queue) — and returns how long that took.
func (p *Process) WaitIdle(ctx context.Context, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	prev, err := p.CPUTime()
	if err != nil {
		return 0, err
	}
	const window = 250 * time.Millisecond
	quiet := 0
	for time.Since(start) < limit {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-p.done:
			return time.Since(start), fmt.Errorf("%s exited: %v", p.Name, p.err)
		case <-time.After(window):
		}
		cur, err := p.CPUTime()
		if err != nil {
			return time.Since(start), err
		}
		if cur-prev < window/20 {
			quiet++
			if quiet == 2 {
				return time.Since(start) - 2*window, nil
			}
		} else {
			quiet = 0
		}
		prev = cur
	}
	return time.Since(start), fmt.Errorf("%s still busy after %s", p.Name, limit)
}
