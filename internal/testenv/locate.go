package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Environment variables read by this package.
const (
	EnvDynamoDBEndpoint = "AWS_ENDPOINT_URL_DYNAMODB"
	EnvSQSEndpoint      = "AWS_ENDPOINT_URL_SQS"
	EnvEmuDir           = "CALLKIT_EMU_DIR"
)

const (
	launcherClass = "LoopbackDynamoDBLocal"
	installHint   = "run `make test` (or `scripts/emu.sh up && eval \"$(scripts/emu.sh env)\"`) to use the shared emulators, or `scripts/emu.sh install` for the private fallback"
)

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory (go test runs in the package directory).
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRepoRoot(wd)
}

func findRepoRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod found in %s or any parent directory", dir)
		}
		d = parent
	}
}

// EmuDir returns $CALLKIT_EMU_DIR if set, else <repo root>/.emu. The directory
// need not exist.
func EmuDir() (string, error) {
	if d := os.Getenv(EnvEmuDir); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("cannot locate .emu: %w (set %s)", err, EnvEmuDir)
	}
	return filepath.Join(root, ".emu"), nil
}

// ddbInstall is what is needed to run a private DynamoDB Local.
type ddbInstall struct {
	Java        string // java executable
	JarDir      string // directory holding DynamoDBLocal.jar and DynamoDBLocal_lib
	LauncherDir string // directory holding LoopbackDynamoDBLocal.class
}

// locateDynamoDBLocal finds the jar, the compiled launcher and java. Every
// error says exactly what is missing and how to fix it; the messages are part
// of the contract (see TestUnavailableMessages).
func locateDynamoDBLocal(emuDir string, emuDirErr error, lookPath func(string) (string, error)) (ddbInstall, error) {
	prefix := "DynamoDB Local not available: " + EnvDynamoDBEndpoint + " unset and "
	if emuDirErr != nil {
		return ddbInstall{}, fmt.Errorf("%s%v — %s", prefix, emuDirErr, installHint)
	}
	in := ddbInstall{
		JarDir:      filepath.Join(emuDir, "ddb"),
		LauncherDir: filepath.Join(emuDir, "launcher"),
	}
	jar := filepath.Join(in.JarDir, "DynamoDBLocal.jar")
	if _, err := os.Stat(jar); err != nil {
		return ddbInstall{}, fmt.Errorf("%sno jar under %s (%s) — %s", prefix, in.JarDir, statReason(err), installHint)
	}
	if _, err := os.Stat(filepath.Join(in.JarDir, "DynamoDBLocal_lib")); err != nil {
		return ddbInstall{}, fmt.Errorf("%sincomplete install: %s/DynamoDBLocal_lib %s — %s", prefix, in.JarDir, statReason(err), installHint)
	}
	class := filepath.Join(in.LauncherDir, launcherClass+".class")
	if _, err := os.Stat(class); err != nil {
		return ddbInstall{}, fmt.Errorf("%sthe loopback launcher is not compiled (%s %s) — %s", prefix, class, statReason(err), installHint)
	}
	java, err := lookPath("java")
	if err != nil {
		return ddbInstall{}, fmt.Errorf("%sjava is not on PATH (%v); DynamoDB Local needs a Java 17+ runtime — install openjdk-17-jre-headless or %s", prefix, err, installHint)
	}
	in.Java = java
	return in, nil
}

// locateMoto finds moto_server on PATH.
func locateMoto(lookPath func(string) (string, error)) (string, error) {
	p, err := lookPath("moto_server")
	if err != nil {
		return "", fmt.Errorf("SQS emulator not available: %s unset and moto_server is not on PATH (%v) — install moto with `pip install 'moto[server]'` (preinstalled on the CI image) or %s", EnvSQSEndpoint, err, installHint)
	}
	return p, nil
}

// unreachableMessage is the failure for an endpoint variable that is set but
// where nothing answers.
func unreachableMessage(envVar, endpoint string, err error) string {
	return fmt.Sprintf("%s=%s is set but nothing answers there (%v) — start the emulators with `scripts/emu.sh up` (or `make emu-up`), or unset %s to use a private instance", envVar, endpoint, err, envVar)
}

func statReason(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "missing"
	}
	return err.Error()
}

var lookPath = exec.LookPath
