package config_test

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnvFull(t *testing.T) {
	c, err := config.FromEnv(env(map[string]string{
		"CALLKIT_SDKAPPIDS":      " 1400000001, 1400000002 ,",
		"CALLKIT_SECRET_KEY":     "1400000001:key-one, 1400000002:key-two",
		"CALLKIT_ADMINS":         "administrator, ops",
		"CALLKIT_PATH_TOKEN":     "Zq3-8vX.u_19~abcdefgh",
		"CALLKIT_CALLBACK_TOKEN": "xxxxyyyy",
		"TABLE_NAME":             "callkit-records",
		"QUEUE_URL":              "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks",
		"CALLKIT_RETENTION_DAYS": "30",
		"CALLKIT_MAX_BODY_BYTES": "131072",
		"CALLKIT_SECRET_ID":      "callkit/secret",
		"CALLKIT_QUERY_RPS":      "12.5",
		"CALLKIT_LOG_LEVEL":      "debug",
	}))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := config.Config{
		SDKAppIDs:     []uint64{1400000001, 1400000002},
		SecretKeys:    map[uint64]string{1400000001: "key-one", 1400000002: "key-two"},
		Admins:        []string{"administrator", "ops"},
		PathToken:     "Zq3-8vX.u_19~abcdefgh",
		CallbackToken: "xxxxyyyy",
		TableName:     "callkit-records",
		QueueURL:      "https://sqs.us-east-1.amazonaws.com/123456789012/callbacks",
		RetentionDays: 30,
		MaxBodyBytes:  131072,
		SecretID:      "callkit/secret",
		QueryRPS:      12.5,
		LogLevel:      slog.LevelDebug,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromEnv =\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Require("CALLKIT_SDKAPPIDS", "CALLKIT_SECRET_KEY", "TABLE_NAME", "QUEUE_URL"); err != nil {
		t.Errorf("Require on a full config: %v", err)
	}
	if !c.AppAllowed(1400000002) || c.AppAllowed(1400000003) || c.AppAllowed(0) {
		t.Errorf("AppAllowed wrong")
	}
}

func TestFromEnvDefaults(t *testing.T) {
	c, err := config.FromEnv(env(nil))
	if err != nil {
		t.Fatalf("FromEnv(empty): %v", err)
	}
	if len(c.SDKAppIDs) != 0 || len(c.SecretKeys) != 0 || c.PathToken != "" || c.CallbackToken != "" || c.RetentionDays != 0 || c.QueryRPS != 0 {
		t.Errorf("unexpected values %+v", c)
	}
	if !reflect.DeepEqual(c.Admins, []string{config.DefaultAdmin}) || config.DefaultAdmin != "administrator" {
		t.Errorf("Admins = %v", c.Admins)
	}
	if c.MaxBodyBytes != 64<<10 || c.LogLevel != slog.LevelInfo {
		t.Errorf("MaxBodyBytes %d LogLevel %v", c.MaxBodyBytes, c.LogLevel)
	}
	if c.AppAllowed(1400000001) {
		t.Errorf("an empty config allows an app")
	}
}

func TestFromEnvErrors(t *testing.T) {
	cases := []struct {
		name, key, value string
		want             string // the exact error line
	}{
		{"app id not a number", "CALLKIT_SDKAPPIDS", "1400000001,abc", `CALLKIT_SDKAPPIDS: "abc" is not a positive integer`},
		{"app id zero", "CALLKIT_SDKAPPIDS", "0", `CALLKIT_SDKAPPIDS: "0" is not a positive integer`},
		{"app id negative", "CALLKIT_SDKAPPIDS", "-5", `CALLKIT_SDKAPPIDS: "-5" is not a positive integer`},
		{"several loose keys", "CALLKIT_SECRET_KEY", "k1,k2", `CALLKIT_SECRET_KEY: use one key, or "appid:key,appid:key"`},
		{"mixed per-app and loose", "CALLKIT_SECRET_KEY", "1400000001:k1,k2", `CALLKIT_SECRET_KEY: use one key, or "appid:key,appid:key"`},
		{"path token too short", "CALLKIT_PATH_TOKEN", "short", "CALLKIT_PATH_TOKEN: must be 16-128 URL-safe characters [A-Za-z0-9._~-]"},
		{"path token with a slash", "CALLKIT_PATH_TOKEN", "abcdefgh/ijklmnopq", "CALLKIT_PATH_TOKEN: must be 16-128 URL-safe characters [A-Za-z0-9._~-]"},
		{"path token too long", "CALLKIT_PATH_TOKEN", strings.Repeat("a", 129), "CALLKIT_PATH_TOKEN: must be 16-128 URL-safe characters [A-Za-z0-9._~-]"},
		{"callback token too long", "CALLKIT_CALLBACK_TOKEN", strings.Repeat("t", 129), "CALLKIT_CALLBACK_TOKEN: must be at most 128 characters (Tencent's limit)"},
		{"retention not a number", "CALLKIT_RETENTION_DAYS", "forever", `CALLKIT_RETENTION_DAYS: "forever" must be a whole number of days 0-36500 (0 keeps records forever)`},
		{"retention negative", "CALLKIT_RETENTION_DAYS", "-1", `CALLKIT_RETENTION_DAYS: "-1" must be a whole number of days 0-36500 (0 keeps records forever)`},
		{"retention too long", "CALLKIT_RETENTION_DAYS", "36501", `CALLKIT_RETENTION_DAYS: "36501" must be a whole number of days 0-36500 (0 keeps records forever)`},
		{"body limit too small", "CALLKIT_MAX_BODY_BYTES", "1023", `CALLKIT_MAX_BODY_BYTES: "1023" must be between 1024 and 6291456`},
		{"body limit too large", "CALLKIT_MAX_BODY_BYTES", "6291457", `CALLKIT_MAX_BODY_BYTES: "6291457" must be between 1024 and 6291456`},
		{"body limit not a number", "CALLKIT_MAX_BODY_BYTES", "64k", `CALLKIT_MAX_BODY_BYTES: "64k" must be between 1024 and 6291456`},
		{"rps zero", "CALLKIT_QUERY_RPS", "0", `CALLKIT_QUERY_RPS: "0" must be a positive number`},
		{"rps not a number", "CALLKIT_QUERY_RPS", "fast", `CALLKIT_QUERY_RPS: "fast" must be a positive number`},
		{"rps NaN", "CALLKIT_QUERY_RPS", "NaN", `CALLKIT_QUERY_RPS: "NaN" must be a positive number`},
		{"log level", "CALLKIT_LOG_LEVEL", "loud", `CALLKIT_LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"CALLKIT_SDKAPPIDS": "1400000001", tc.key: tc.value}
			_, err := config.FromEnv(env(vars))
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.key, tc.value)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n %q\nwant\n %q", err, tc.want)
			}
		})
	}
}

func TestFromEnvReportsEveryError(t *testing.T) {
	_, err := config.FromEnv(env(map[string]string{
		"CALLKIT_SDKAPPIDS":      "x,y",
		"CALLKIT_RETENTION_DAYS": "-1",
		"CALLKIT_LOG_LEVEL":      "loud",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Errorf("want 4 error lines (x, y, retention, log level), got %d:\n%v", len(lines), err)
	}
}

func TestParseSecretKeys(t *testing.T) {
	apps := []uint64{1400000001, 1400000002}
	cases := []struct {
		name string
		in   string
		want map[uint64]string
		err  bool
	}{
		{"empty", "", map[uint64]string{}, false},
		{"blank", "  ", map[uint64]string{}, false},
		{"single key for every app", "s3cr3t", map[uint64]string{1400000001: "s3cr3t", 1400000002: "s3cr3t"}, false},
		{"single key is trimmed", "  s3cr3t \n", map[uint64]string{1400000001: "s3cr3t", 1400000002: "s3cr3t"}, false},
		{"single key containing a colon", "abc:def", map[uint64]string{1400000001: "abc:def", 1400000002: "abc:def"}, false},
		{"per app", "1400000001:k1,1400000002:k2", map[uint64]string{1400000001: "k1", 1400000002: "k2"}, false},
		{"per app with spaces", " 1400000001:k1 , 1400000002:k2 ", map[uint64]string{1400000001: "k1", 1400000002: "k2"}, false},
		{"per app, key with a colon", "1400000001:a:b", map[uint64]string{1400000001: "a:b"}, false},
		{"several loose keys", "k1,k2", nil, true},
		{"per app with an empty key", "1400000001:,1400000002:k2", nil, true},
		{"per app with a non-numeric id", "1400000001:k1,app:k2", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.ParseSecretKeys(tc.in, apps)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("= %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	var c config.Config
	err := c.Require("CALLKIT_SDKAPPIDS", "CALLKIT_SECRET_KEY", "TABLE_NAME", "QUEUE_URL")
	if err == nil {
		t.Fatal("empty config satisfied Require")
	}
	for _, want := range []string{"CALLKIT_SDKAPPIDS: is required", "CALLKIT_SECRET_KEY: is required", "TABLE_NAME: is required", "QUEUE_URL: is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	c.SDKAppIDs = []uint64{1}
	c.QueueURL = "u"
	if err := c.Require("CALLKIT_SDKAPPIDS", "QUEUE_URL"); err != nil {
		t.Errorf("Require with the settings present: %v", err)
	}
	if err := c.Require("TABLE_NAME"); err == nil || err.Error() != "TABLE_NAME: is required" {
		t.Errorf("Require(TABLE_NAME) = %v", err)
	}
	if err := c.Require("NOPE"); err == nil || !strings.Contains(err.Error(), "unknown setting NOPE") {
		t.Errorf("Require(NOPE) = %v", err)
	}
	if err := c.Require(); err != nil {
		t.Errorf("Require() = %v", err)
	}
}

// A per-app key list names its apps, so CALLKIT_SDKAPPIDS may be left out; a single key
// for no app is refused rather than silently ignored.
func TestSecretKeyWithoutAppIDs(t *testing.T) {
	c, err := config.FromEnv(env(map[string]string{"CALLKIT_SECRET_KEY": "1400000002:k2,1400000001:k1"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.SDKAppIDs, []uint64{1400000001, 1400000002}) || c.SecretKeys[1400000001] != "k1" {
		t.Errorf("apps %v keys %v", c.SDKAppIDs, len(c.SecretKeys))
	}
	_, err = config.FromEnv(env(map[string]string{"CALLKIT_SECRET_KEY": "a-single-key"}))
	if err == nil || !strings.Contains(err.Error(), "CALLKIT_SECRET_KEY") || !strings.Contains(err.Error(), "CALLKIT_SDKAPPIDS") {
		t.Errorf("single key without apps: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "a-single-key") {
		t.Errorf("the error echoes the key: %v", err)
	}
}
