package lambdaemu

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// inheritedVars are the only variables taken from the parent environment
// without being listed in Config.Env.
var inheritedVars = []string{"PATH", "HOME", "TMPDIR"}

// buildEnv returns the child's environment without AWS_LAMBDA_RUNTIME_API
// and AWS_LAMBDA_LOG_STREAM_NAME (both are per process).
func buildEnv(cfg Config) []string {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, k := range inheritedVars {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	user := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := cutEnv(kv)
		user[k] = v
	}
	region := DefaultRegion
	if v := user["AWS_REGION"]; v != "" {
		region = v
	} else if v := user["AWS_DEFAULT_REGION"]; v != "" {
		region = v
	}
	set("AWS_LAMBDA_FUNCTION_NAME", cfg.FunctionName)
	set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
	set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", strconv.Itoa(cfg.MemoryMB))
	set("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/"+cfg.FunctionName)
	set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
	set("_HANDLER", "bootstrap")
	set("AWS_REGION", region)
	set("AWS_DEFAULT_REGION", region)
	set("LAMBDA_TASK_ROOT", dirOf(cfg.Binary))
	for _, kv := range cfg.Env {
		k, v, _ := cutEnv(kv)
		set(k, v)
	}
	delete(vals, "AWS_LAMBDA_RUNTIME_API")
	out := make([]string, 0, len(order))
	for _, k := range order {
		if v, ok := vals[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// processEnv adds the per-process variables to base.
func processEnv(base []string, runtimeAPI string) []string {
	env := make([]string, 0, len(base)+2)
	hasStream := false
	for _, kv := range base {
		if strings.HasPrefix(kv, "AWS_LAMBDA_LOG_STREAM_NAME=") {
			hasStream = true
		}
		env = append(env, kv)
	}
	if !hasStream {
		var b [16]byte
		_, _ = rand.Read(b[:])
		env = append(env, "AWS_LAMBDA_LOG_STREAM_NAME="+
			time.Now().UTC().Format("2006/01/02")+"/[$LATEST]"+hex.EncodeToString(b[:]))
	}
	return append(env, "AWS_LAMBDA_RUNTIME_API="+runtimeAPI)
}

// EnvFromParent returns "KEY=value" entries copied from the current process
// environment, for use in Config.Env. A pattern ending in "*" matches every
// variable with that prefix (e.g. "AWS_ENDPOINT_URL_*", "CALLKIT_*"); other
// patterns are exact names. Unset variables are skipped. The result is
// sorted.
func EnvFromParent(patterns ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, kv := range os.Environ() {
		k, _, ok := cutEnv(kv)
		if !ok || seen[k] {
			continue
		}
		for _, p := range patterns {
			if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(k, prefix) || p == k {
				seen[k] = true
				out = append(out, kv)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func cutEnv(kv string) (k, v string, ok bool) {
	return strings.Cut(kv, "=")
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := cutEnv(env[i]); ok && k == key {
			return v
		}
	}
	return ""
}

func dirOf(path string) string { return filepath.Dir(path) }
