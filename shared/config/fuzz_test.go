package config_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/config"
)

// FuzzFromEnv: any environment yields either a configuration within the documented
// bounds or an error naming each bad variable — never a panic, never a half-valid value
// passed on silently.
func FuzzFromEnv(f *testing.F) {
	f.Add("1400000001", "key", "administrator", "", "", "", "", "", "")
	f.Add("1400000001, 1400000002", "1400000001:k1,1400000002:k2", "a,b", "tok-0123456789abcdef", "cb", "30", "1024", "0.5", "debug")
	f.Add("0,-1,x", "a,b", "", "short", strings.Repeat("t", 129), "-1", "1023", "NaN", "loud")
	f.Add("18446744073709551616", "1:", " , ", "tok/0123456789abcdef", "", "36501", "6291457", "1e7", "")
	f.Add("1", " 1 : k ", ",,", "", "", "0", "6291456", "+Inf", "WARN")
	f.Fuzz(func(t *testing.T, apps, key, admins, pathToken, cbToken, retention, maxBody, rps, level string) {
		env := map[string]string{
			"CALLKIT_SDKAPPIDS": apps, "CALLKIT_SECRET_KEY": key, "CALLKIT_ADMINS": admins, "CALLKIT_PATH_TOKEN": pathToken,
			"CALLKIT_CALLBACK_TOKEN": cbToken, "CALLKIT_RETENTION_DAYS": retention, "CALLKIT_MAX_BODY_BYTES": maxBody,
			"CALLKIT_QUERY_RPS": rps, "CALLKIT_LOG_LEVEL": level,
		}
		c, err := config.FromEnv(func(name string) string { return env[name] })
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "CALLKIT_") {
					t.Fatalf("error line %q does not name its variable", line)
				}
			}
			return
		}
		for _, id := range c.SDKAppIDs {
			if id == 0 {
				t.Fatalf("app id 0 accepted from %q", apps)
			}
		}
		for app, k := range c.SecretKeys {
			if k == "" {
				t.Fatalf("empty key for app %d from %q", app, key)
			}
		}
		if strings.TrimSpace(key) != "" && len(c.SDKAppIDs) > 0 && len(c.SecretKeys) == 0 {
			t.Fatalf("CALLKIT_SECRET_KEY %q set but no key configured", key)
		}
		if len(c.Admins) == 0 {
			t.Fatalf("no admin")
		}
		for _, a := range c.Admins {
			if a == "" || strings.TrimSpace(a) != a {
				t.Fatalf("admin %q", a)
			}
		}
		if c.PathToken != "" && !regexp.MustCompile(`^[A-Za-z0-9._~-]{16,128}$`).MatchString(c.PathToken) {
			t.Fatalf("path token %q accepted", c.PathToken)
		}
		if len(c.CallbackToken) > 128 {
			t.Fatalf("callback token of %d bytes accepted", len(c.CallbackToken))
		}
		if c.RetentionDays < 0 || c.RetentionDays > 36500 {
			t.Fatalf("retention %d", c.RetentionDays)
		}
		if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > config.MaxMaxBodyBytes {
			t.Fatalf("max body %d", c.MaxBodyBytes)
		}
		if c.QueryRPS < 0 || c.QueryRPS > 1e6 || c.QueryRPS != c.QueryRPS {
			t.Fatalf("query rps %v", c.QueryRPS)
		}
	})
}

// FuzzParseSecretKeys: one key for every app, or "appid:key,…"; a value is either taken
// whole or refused (without echoing a key), and a per-app list gives every listed app its
// key — an app listed twice, or app 0, is refused (the seed corpus in testdata holds the
// input that found the silent "last one wins").
func FuzzParseSecretKeys(f *testing.F) {
	f.Add("key", uint64(1400000001))
	f.Add("1400000001:k1,1400000002:k2", uint64(1))
	f.Add("1400000001:k1,oops", uint64(1))
	f.Add("a,b", uint64(1))
	f.Add(" 7:a:b ", uint64(7))
	f.Add("1400000001:k1,1400000001:k2", uint64(1400000001)) // the same app twice: refused
	f.Add("0:k", uint64(0))
	f.Fuzz(func(t *testing.T, s string, app uint64) {
		keys, err := config.ParseSecretKeys(s, []uint64{app})
		if err != nil {
			if !strings.Contains(s, ",") && err.Error() != "app id 0 is not an app" {
				t.Fatalf("a value without commas refused: %v", err)
			}
			if !keyErrors.MatchString(err.Error()) { // fixed texts only: a key must never reach a log
				t.Fatalf("unexpected error text %q", err)
			}
			return
		}
		for id, k := range keys {
			if k == "" {
				t.Fatalf("empty key for %d", id)
			}
		}
		if strings.TrimSpace(s) == "" {
			if len(keys) != 0 {
				t.Fatalf("keys from a blank value: %v", keys)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatalf("%q gave no key", s)
		}
		if k, ok := keys[app]; ok && len(keys) == 1 && k == strings.TrimSpace(s) {
			return // one key for the app
		}
		for _, p := range strings.Split(strings.TrimSpace(s), ",") {
			id, k, ok := strings.Cut(strings.TrimSpace(p), ":")
			if !ok {
				t.Fatalf("per-app list %q has an entry %q without a colon", s, p)
			}
			found := false
			for app, key := range keys {
				if strings.TrimSpace(id) != "" && key == k && strings.HasSuffix(id, uintString(app)) {
					found = true
				}
			}
			if !found {
				t.Fatalf("entry %q of %q is not in %v", p, s, keys)
			}
		}
	})
}

var keyErrors = regexp.MustCompile(`^(use one key, or "appid:key,appid:key"|app id 0 is not an app|app [1-9][0-9]* is given two keys)$`)

func uintString(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
