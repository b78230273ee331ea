package auth_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/shared/auth"
)

const (
	appA, keyA = 1400000001, "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	appB, keyB = 1400000002, "another-app-secret-key"
)

func verifier(now func() time.Time) *auth.Verifier {
	return auth.NewVerifier(map[uint64]string{appA: keyA, appB: keyB}, []string{"administrator", "ops"}, now)
}

// genSig mints a UserSig with Tencent's official library.
func genSig(t *testing.T, app int, key, id string, expire int) string {
	t.Helper()
	s, err := tencentyun.GenUserSig(app, key, id, expire)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The UserSig wire format (reference/tencent-callkit.md §8.1): zlib-deflated JSON in
// base64 with '+/=' replaced by '*-_'. The tests decode and re-encode it to forge sigs.
var sigChars = strings.NewReplacer("+", "*", "/", "-", "=", "_")
var sigCharsBack = strings.NewReplacer("*", "+", "-", "/", "_", "=")

func decodeSig(t *testing.T, s string) map[string]any {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(sigCharsBack.Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeSig(t *testing.T, doc any) string {
	t.Helper()
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	_, _ = w.Write(j)
	_ = w.Close()
	return sigChars.Replace(base64.StdEncoding.EncodeToString(b.Bytes()))
}

// forge re-encodes a genuine UserSig with some fields changed, keeping its signature.
func forge(t *testing.T, sig string, change map[string]any) string {
	t.Helper()
	doc := decodeSig(t, sig)
	for k, v := range change {
		doc[k] = v
	}
	return encodeSig(t, doc)
}

func params(app, id, sig string) url.Values {
	return url.Values{"sdkappid": {app}, "identifier": {id}, "usersig": {sig}, "random": {"99999999"}, "contenttype": {"json"}}
}

func TestVerifyAcceptsOfficialUserSig(t *testing.T) {
	v := verifier(nil)
	for _, tc := range []struct {
		app int
		key string
		id  string
	}{
		{appA, keyA, "administrator"},
		{appA, keyA, "ops"}, // any configured admin
		{appB, keyB, "administrator"},
	} {
		p, err := v.Verify(params(strconv.Itoa(tc.app), tc.id, genSig(t, tc.app, tc.key, tc.id, 86400*180)))
		if err != nil {
			t.Fatalf("app %d %s: %v", tc.app, tc.id, err)
		}
		if p.SDKAppID != uint64(tc.app) || p.Identifier != tc.id {
			t.Fatalf("params %+v, want app %d identifier %s", p, tc.app, tc.id)
		}
	}
	// random spans the whole uint32 range; contenttype is matched without case.
	q := params(strconv.Itoa(appA), "administrator", genSig(t, appA, keyA, "administrator", 3600))
	for _, r := range []string{"0", "4294967295"} {
		q.Set("random", r)
		if _, err := v.Verify(q); err != nil {
			t.Fatalf("random=%s: %v", r, err)
		}
	}
	q.Set("contenttype", "JSON")
	if _, err := v.Verify(q); err != nil {
		t.Fatalf("contenttype=JSON: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	v := verifier(nil)
	admin := genSig(t, appA, keyA, "administrator", 86400)
	a := strconv.Itoa(appA)
	set := func(k, val string) url.Values { q := params(a, "administrator", admin); q.Set(k, val); return q }
	del := func(k string) url.Values { q := params(a, "administrator", admin); q.Del(k); return q }
	twice := func(k string) url.Values { q := params(a, "administrator", admin); q.Add(k, q.Get(k)); return q }

	for _, tc := range []struct {
		name    string
		q       url.Values
		want    error
		mention string // the message names what is wrong
	}{
		{"sdkappid missing", del("sdkappid"), auth.ErrParams, "sdkappid"},
		{"identifier missing", del("identifier"), auth.ErrParams, "identifier"},
		{"usersig missing", del("usersig"), auth.ErrParams, "usersig"},
		{"random missing", del("random"), auth.ErrParams, "random"},
		{"contenttype missing", del("contenttype"), auth.ErrParams, "contenttype"},
		{"usersig empty", set("usersig", ""), auth.ErrParams, "usersig"},
		{"sdkappid twice", twice("sdkappid"), auth.ErrParams, "sdkappid"},
		{"usersig twice", twice("usersig"), auth.ErrParams, "usersig"},
		{"sdkappid not a number", set("sdkappid", "abc"), auth.ErrParams, "sdkappid"},
		{"sdkappid zero", set("sdkappid", "0"), auth.ErrParams, "sdkappid"},
		{"sdkappid negative", set("sdkappid", "-1400000001"), auth.ErrParams, "sdkappid"},
		{"sdkappid unknown", set("sdkappid", "1400000009"), auth.ErrUnknownApp, "1400000009"},
		{"random not a number", set("random", "abc"), auth.ErrParams, "random"},
		{"random above uint32", set("random", "4294967296"), auth.ErrParams, "random"},
		{"random negative", set("random", "-1"), auth.ErrParams, "random"},
		{"contenttype xml", set("contenttype", "xml"), auth.ErrParams, "contenttype"},
		{"garbage usersig", set("usersig", "not-a-usersig"), auth.ErrUserSig, "usersig"},
		{"base64 but not zlib", set("usersig", sigChars.Replace(base64.StdEncoding.EncodeToString([]byte("hello world")))), auth.ErrUserSig, "usersig"},
		{"zlib but not JSON", set("usersig", encodeSig(t, "just a string")), auth.ErrUserSig, "usersig"},
		{"overlong usersig", set("usersig", strings.Repeat("A", auth.MaxUserSigLen+1)), auth.ErrUserSig, "too long"},
		{"wrong key", set("usersig", genSig(t, appA, "not-the-key", "administrator", 86400)), auth.ErrUserSig, "usersig"},
		{"other app's key and id", set("usersig", genSig(t, appB, keyB, "administrator", 86400)), auth.ErrUserSig, "usersig"},
		{"other app's id, this key", set("usersig", genSig(t, appB, keyA, "administrator", 86400)), auth.ErrUserSig, "usersig"},
		{"other identifier's sig", set("usersig", genSig(t, appA, keyA, "ops", 86400)), auth.ErrUserSig, "usersig"},
		{"forged: expiry extended", set("usersig", forge(t, admin, map[string]any{"TLS.expire": 86400 * 3650})), auth.ErrUserSig, "usersig"},
		{"forged: identifier changed", params(a, "administrator", forge(t, genSig(t, appA, keyA, "alice", 86400), map[string]any{"TLS.identifier": "administrator"})), auth.ErrUserSig, "usersig"},
		{"forged: signature of another sig", set("usersig", forge(t, genSig(t, appA, keyA, "ops", 86400), map[string]any{"TLS.identifier": "administrator"})), auth.ErrUserSig, "usersig"},
		{"a sig carrying a userbuf (as a PrivateMapKey does) is not a UserSig", set("usersig", mustSigWithBuf(t)), auth.ErrUserSig, "usersig"},
		{"expired (official, expire −1)", set("usersig", genSig(t, appA, keyA, "administrator", -1)), auth.ErrExpired, "expired"},
		// Expiry is only news for a genuine sig: a forged one that is also out of date is
		// invalid, not expired (the library checks the time before the signature).
		{"forged and expired", set("usersig", forge(t, admin, map[string]any{"TLS.time": 1000000000})), auth.ErrUserSig, "usersig"},
		{"wrong key and expired", set("usersig", genSig(t, appA, "not-the-key", "administrator", -1)), auth.ErrUserSig, "usersig"},
		{"not an admin", params(a, "alice", genSig(t, appA, keyA, "alice", 86400)), auth.ErrNotAdmin, "alice"},
		// The signature is checked before the admin list: a bad sig of a non-admin is 70002.
		{"not an admin, bad sig", params(a, "alice", genSig(t, appA, "not-the-key", "alice", 86400)), auth.ErrUserSig, "usersig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.q)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			for _, other := range []error{auth.ErrParams, auth.ErrUserSig, auth.ErrExpired, auth.ErrNotAdmin} {
				if other != tc.want && !(tc.want == auth.ErrUnknownApp && other == auth.ErrParams) && errors.Is(err, other) {
					t.Fatalf("err %v is also %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("message %q does not mention %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), keyA) {
				t.Fatalf("message %q reveals the key", err)
			}
		})
	}
}

func mustSigWithBuf(t *testing.T) string {
	t.Helper()
	s, err := tencentyun.GenUserSigWithBuf(appA, keyA, "administrator", 86400, []byte("buf"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifyExpiryUsesClock: validity is judged at the verifier's clock, second-exact
// as the library defines it (valid through TLS.time + TLS.expire).
func TestVerifyExpiryUsesClock(t *testing.T) {
	sig := genSig(t, appA, keyA, "administrator", 3600)
	doc := decodeSig(t, sig)
	issued, err := doc["TLS.time"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	q := params(strconv.Itoa(appA), "administrator", sig)
	for _, tc := range []struct {
		at   int64
		want error
	}{
		{issued, nil},
		{issued + 3600, nil},
		{issued + 3601, auth.ErrExpired},
		{issued + 86400*30, auth.ErrExpired},
	} {
		at := time.Unix(tc.at, 0)
		if _, err := verifier(func() time.Time { return at }).Verify(q); !errors.Is(err, tc.want) {
			t.Fatalf("at issue+%ds: err %v, want %v", tc.at-issued, err, tc.want)
		}
	}
}

func TestKeyAndParamNames(t *testing.T) {
	v := verifier(nil)
	if v.Key(appA) != keyA || v.Key(appB) != keyB || v.Key(1) != "" {
		t.Fatal("Key does not return each app's own key")
	}
	want := []string{"sdkappid", "identifier", "usersig", "random", "contenttype"}
	if strings.Join(auth.ParamNames, ",") != strings.Join(want, ",") {
		t.Fatalf("ParamNames %v, want %v", auth.ParamNames, want)
	}
	// Admins are exact identifiers: no case folding, no prefixes.
	for _, id := range []string{"Administrator", "admin", "administrator "} {
		if _, err := v.Verify(params(strconv.Itoa(appA), id, genSig(t, appA, keyA, id, 3600))); !errors.Is(err, auth.ErrNotAdmin) {
			t.Fatalf("identifier %q: err %v, want ErrNotAdmin", id, err)
		}
	}
}
