package stack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

// Functions are the three Lambda functions: package directory under functions/ and
// logical id in template.yaml.
var Functions = []Function{
	{Name: "ingest", LogicalID: "IngestFunction"},
	{Name: "persist", LogicalID: "PersistFunction"},
	{Name: "query", LogicalID: "QueryFunction"},
}

// Function names one of the project's Lambda functions.
type Function struct {
	Name      string // directory under functions/, e.g. "ingest"
	LogicalID string // resource in template.yaml, e.g. "IngestFunction"
}

// BuildFlags are the Makefile's Lambda build settings: LAMBDA_ENV (KEY=value) and
// LAMBDA_FLAGS (go build arguments), read from the Makefile itself so the tests build
// exactly what `make build` and `sam build` deploy.
type BuildFlags struct {
	Env  []string
	Args []string
}

// MakefileFlags parses LAMBDA_ENV and LAMBDA_FLAGS from <repo>/Makefile.
func MakefileFlags() (BuildFlags, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return BuildFlags{}, err
	}
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return BuildFlags{}, err
	}
	return parseMakefileFlags(b)
}

func parseMakefileFlags(makefile []byte) (BuildFlags, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(makefile))
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{"LAMBDA_ENV", "LAMBDA_FLAGS"} {
			rest, ok := strings.CutPrefix(line, name)
			if !ok {
				continue
			}
			rest = strings.TrimSpace(rest)
			for _, op := range []string{":=", "?=", "="} {
				if v, ok := strings.CutPrefix(rest, op); ok {
					vars[name] = strings.TrimSpace(v)
					break
				}
			}
		}
	}
	var f BuildFlags
	for _, name := range []string{"LAMBDA_ENV", "LAMBDA_FLAGS"} {
		v, ok := vars[name]
		if !ok {
			return f, fmt.Errorf("stack: Makefile has no %s", name)
		}
		if strings.Contains(v, "$(") {
			return f, fmt.Errorf("stack: Makefile %s refers to other variables; keep it literal", name)
		}
		words, err := splitWords(v)
		if err != nil {
			return f, fmt.Errorf("stack: Makefile %s: %w", name, err)
		}
		if name == "LAMBDA_ENV" {
			f.Env = words
		} else {
			f.Args = words
		}
	}
	for _, kv := range f.Env {
		if !strings.Contains(kv, "=") {
			return f, fmt.Errorf("stack: Makefile LAMBDA_ENV entry %q is not KEY=value", kv)
		}
	}
	return f, nil
}

// splitWords splits like a POSIX shell for the subset a Makefile line uses: blanks
// separate words, double or single quotes group.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// Build compiles the three functions with the Makefile's flags for goarch (GOOS stays
// linux) into dir/<name>/bootstrap, in one go build so the packages they share are
// compiled once. It returns the binary paths by function name.
func Build(ctx context.Context, goarch, dir string) (map[string]string, error) {
	flags, err := MakefileFlags()
	if err != nil {
		return nil, err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "out") + string(filepath.Separator)
	args := append([]string{"build"}, flags.Args...)
	args = append(args, "-o", out)
	for _, f := range Functions {
		args = append(args, "./functions/"+f.Name)
	}
	var buf bytes.Buffer
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), flags.Env...)
		cmd.Env = append(cmd.Env, "GOARCH="+goarch) // later entries win
		buf.Reset()
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		if err == nil {
			break
		}
		// Seen on this shared machine: "could not import strings (open : no such file or
		// directory)" while other go commands churn the build cache. A second run succeeds;
		// a real compile error fails again.
		if attempt == 1 && strings.Contains(buf.String(), "could not import") && ctx.Err() == nil {
			continue
		}
		return nil, fmt.Errorf("stack: go %s (GOARCH=%s): %w\n%s", strings.Join(args, " "), goarch, err, buf.String())
	}
	bins := map[string]string{}
	for _, f := range Functions {
		fdir := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(fdir, 0o755); err != nil {
			return nil, err
		}
		bin := filepath.Join(fdir, "bootstrap")
		if err := os.Rename(filepath.Join(out, f.Name), bin); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
		bins[f.Name] = bin
	}
	return bins, os.Remove(out)
}

// Host bootstraps are built once per test binary (Bootstraps) into buildDir, which
// Main removes.
var host struct {
	once sync.Once
	dir  string
	bins map[string]string
	err  error
}

// Bootstraps returns the three bootstraps built for this machine (linux/GOARCH of the
// host, otherwise the Makefile's flags), building them on first use.
func Bootstraps(ctx context.Context) (map[string]string, error) {
	host.once.Do(func() {
		if runtime.GOOS != "linux" {
			host.err = fmt.Errorf("stack: the bootstraps are linux binaries; cannot run them on %s", runtime.GOOS)
			return
		}
		host.dir, host.err = os.MkdirTemp("", "callkit-bootstraps-")
		if host.err != nil {
			return
		}
		host.bins, host.err = Build(ctx, runtime.GOARCH, host.dir)
	})
	return host.bins, host.err
}

// RemoveBootstraps deletes what Bootstraps built (Main calls it).
func RemoveBootstraps() {
	if host.dir != "" {
		_ = os.RemoveAll(host.dir)
	}
}
