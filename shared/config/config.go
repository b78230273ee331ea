// Package config reads the service configuration from the environment (the same names
// locally and in template.yaml). It validates everything up front so a bad deployment
// fails at cold start with a specific message instead of misbehaving per request.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Defaults.
const (
	DefaultAdmin        = "administrator"
	DefaultMaxBodyBytes = 64 << 10
	MaxMaxBodyBytes     = 6 << 20 // Lambda's synchronous payload limit
)

// Config is the parsed environment.
type Config struct {
	SDKAppIDs     []uint64          // CALLKIT_SDKAPPIDS: accepted apps
	SecretKeys    map[uint64]string // CALLKIT_SECRET_KEY: UserSig key per app
	Admins        []string          // CALLKIT_ADMINS
	PathToken     string            // CALLKIT_PATH_TOKEN
	CallbackToken string            // CALLKIT_CALLBACK_TOKEN
	TableName     string            // TABLE_NAME
	QueueURL      string            // QUEUE_URL
	RetentionDays int               // CALLKIT_RETENTION_DAYS (0 = keep forever)
	MaxBodyBytes  int64             // CALLKIT_MAX_BODY_BYTES
	SecretID      string            // CALLKIT_SECRET_ID: Secrets Manager secret holding CALLKIT_SECRET_KEY's value (AWS)
	QueryRPS      float64           // CALLKIT_QUERY_RPS: per-app query rate limit (0 = default)
	LogLevel      slog.Level        // CALLKIT_LOG_LEVEL
}

// What each Lambda function needs set (its main.go requires these; the template test
// checks template.yaml sets them).
var (
	IngestRequires  = []string{"CALLKIT_SDKAPPIDS", "QUEUE_URL"}
	PersistRequires = []string{"TABLE_NAME"}
	QueryRequires   = []string{"CALLKIT_SDKAPPIDS", "CALLKIT_SECRET_KEY", "TABLE_NAME"}
)

// Names lists every environment variable FromEnv reads.
var Names = []string{
	"CALLKIT_SDKAPPIDS", "CALLKIT_SECRET_KEY", "CALLKIT_ADMINS", "CALLKIT_PATH_TOKEN", "CALLKIT_CALLBACK_TOKEN",
	"TABLE_NAME", "QUEUE_URL", "CALLKIT_SECRET_ID", "CALLKIT_RETENTION_DAYS", "CALLKIT_MAX_BODY_BYTES",
	"CALLKIT_QUERY_RPS", "CALLKIT_LOG_LEVEL",
}

// Require checks that the named settings are present (each function needs a subset).
func (c *Config) Require(names ...string) error {
	var errs []error
	for _, n := range names {
		missing := false
		switch n {
		case "CALLKIT_SDKAPPIDS":
			missing = len(c.SDKAppIDs) == 0
		case "CALLKIT_SECRET_KEY":
			missing = len(c.SecretKeys) == 0
		case "TABLE_NAME":
			missing = c.TableName == ""
		case "QUEUE_URL":
			missing = c.QueueURL == ""
		default:
			errs = append(errs, fmt.Errorf("config: unknown setting %s", n))
		}
		if missing {
			errs = append(errs, fmt.Errorf("%s: is required", n))
		}
	}
	return errors.Join(errs...)
}

// AppAllowed reports whether id is one of the accepted apps.
func (c *Config) AppAllowed(id uint64) bool {
	for _, a := range c.SDKAppIDs {
		if a == id {
			return true
		}
	}
	return false
}

// validToken: 16-128 characters of [A-Za-z0-9._~-]. A loop, not a regexp: compiling
// `{16,128}` at package init cost every Lambda cold start ~1 ms (GODEBUG=inittrace=1).
func validToken(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// FromEnv parses the configuration; getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, a...)...))
	}

	for _, s := range splitList(getenv("CALLKIT_SDKAPPIDS")) {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || id == 0 {
			bad("CALLKIT_SDKAPPIDS", "%q is not a positive integer", s)
			continue
		}
		c.SDKAppIDs = append(c.SDKAppIDs, id)
	}

	if keys, err := ParseSecretKeys(getenv("CALLKIT_SECRET_KEY"), c.SDKAppIDs); err != nil {
		bad("CALLKIT_SECRET_KEY", "%v", err)
	} else {
		c.SecretKeys = keys
		switch {
		case len(c.SDKAppIDs) > 0:
		case len(keys) > 0: // "appid:key,…" names the apps itself
			for id := range keys {
				c.SDKAppIDs = append(c.SDKAppIDs, id)
			}
			slices.Sort(c.SDKAppIDs)
		case strings.TrimSpace(getenv("CALLKIT_SECRET_KEY")) != "":
			// A key for no app would be dropped silently (the local server would then run
			// its demo app with the demo key).
			bad("CALLKIT_SECRET_KEY", `a single key needs CALLKIT_SDKAPPIDS (or write "appid:key")`)
		}
	}

	c.Admins = splitList(getenv("CALLKIT_ADMINS"))
	if len(c.Admins) == 0 {
		c.Admins = []string{DefaultAdmin}
	}

	c.PathToken = getenv("CALLKIT_PATH_TOKEN")
	if c.PathToken != "" && !validToken(c.PathToken) {
		bad("CALLKIT_PATH_TOKEN", "must be 16-128 URL-safe characters [A-Za-z0-9._~-]")
	}
	c.CallbackToken = getenv("CALLKIT_CALLBACK_TOKEN")
	if len(c.CallbackToken) > 128 {
		bad("CALLKIT_CALLBACK_TOKEN", "must be at most 128 characters (Tencent's limit)")
	}
	c.TableName = getenv("TABLE_NAME")
	c.QueueURL = getenv("QUEUE_URL")
	c.SecretID = getenv("CALLKIT_SECRET_ID")

	if s := getenv("CALLKIT_RETENTION_DAYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 36500 {
			bad("CALLKIT_RETENTION_DAYS", "%q must be a whole number of days 0-36500 (0 keeps records forever)", s)
		}
		c.RetentionDays = n
	}

	c.MaxBodyBytes = DefaultMaxBodyBytes
	if s := getenv("CALLKIT_MAX_BODY_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1024 || n > MaxMaxBodyBytes {
			bad("CALLKIT_MAX_BODY_BYTES", "%q must be between 1024 and %d", s, MaxMaxBodyBytes)
		}
		c.MaxBodyBytes = n
	}

	if s := getenv("CALLKIT_QUERY_RPS"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0 && f <= 1e6) { // written so that NaN fails too
			bad("CALLKIT_QUERY_RPS", "%q must be a positive number", s)
		}
		c.QueryRPS = f
	}

	c.LogLevel = slog.LevelInfo
	if s := getenv("CALLKIT_LOG_LEVEL"); s != "" {
		if err := c.LogLevel.UnmarshalText([]byte(s)); err != nil {
			bad("CALLKIT_LOG_LEVEL", "%q is not one of debug, info, warn, error", s)
		}
	}
	return c, errors.Join(errs...)
}

// ParseSecretKeys accepts either one key for every app in apps, or a per-app list
// "appid:key,appid:key".
func ParseSecretKeys(s string, apps []uint64) (map[uint64]string, error) {
	s = strings.TrimSpace(s)
	keys := map[uint64]string{}
	if s == "" {
		return keys, nil
	}
	parts := strings.Split(s, ",")
	perApp := true
	for _, p := range parts {
		id, key, ok := strings.Cut(strings.TrimSpace(p), ":")
		if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil || key == "" {
			perApp = false
			break
		}
	}
	if !perApp {
		if len(parts) > 1 {
			return nil, errors.New(`use one key, or "appid:key,appid:key"`)
		}
		for _, a := range apps {
			keys[a] = s
		}
		return keys, nil
	}
	for _, p := range parts {
		id, key, _ := strings.Cut(strings.TrimSpace(p), ":")
		n, _ := strconv.ParseUint(id, 10, 64)
		// Neither error names the keys: this text ends up in logs.
		if n == 0 {
			return nil, errors.New("app id 0 is not an app")
		}
		if _, dup := keys[n]; dup {
			return nil, fmt.Errorf("app %d is given two keys", n)
		}
		keys[n] = key
	}
	return keys, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
