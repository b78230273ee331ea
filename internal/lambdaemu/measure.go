package lambdaemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// BuildBootstrap compiles pkg (a package path or a directory such as
// "./cmd/ingest", resolved against the current directory) the way the
// project deploys it: CGO_ENABLED=0 go build -tags lambda.norpc, for the
// host's GOOS/GOARCH so it can run here. The binary is written to
// outDir/bootstrap and its path returned.
func BuildBootstrap(ctx context.Context, pkg, outDir string) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(outDir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("lambdaemu: go build %s: %w\n%s", pkg, err, buf.String())
	}
	return out, nil
}

// MeasureColdStart starts binary in a fresh emulator, invokes it once with
// payload and returns process start → first response posted (the cold start
// as a client sees it, minus the invoke round trip). The function gets the
// default Config (no extra environment); use MeasureColdStartConfig to pass
// Env. A function error still yields the duration, together with a non-nil
// error describing it.
func MeasureColdStart(binary string, payload []byte) (time.Duration, error) {
	return MeasureColdStartConfig(Config{Binary: binary}, payload)
}

// MeasureColdStartConfig is MeasureColdStart with a full Config (Timeout
// defaults to 30 s here so a slow init is measured rather than cut off).
func MeasureColdStartConfig(cfg Config, payload []byte) (time.Duration, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	f, err := Start(cfg)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	res, err := f.Invoke(context.Background(), payload)
	if err != nil {
		return 0, err
	}
	st := f.Stats()
	if res.FunctionError != "" {
		d := st.LastColdStart
		if res.InitError {
			d = 0
		}
		return d, fmt.Errorf("lambdaemu: cold start invoke failed (%s): %s", res.FunctionError, res.Payload)
	}
	return st.LastColdStart, nil
}
