package auth_test

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/shared/auth"
)

// FuzzVerify: Verify never panics on any query string; every refusal matches exactly one
// of the four sentinels and its message carries no library internals; and whatever it
// accepts is an admin with a UserSig Tencent's library itself verifies for that app and
// identifier, with every other parameter present once and well-formed.
func FuzzVerify(f *testing.F) {
	// The verifier's clock is fixed a minute ahead: the UserSigs minted below (TLS.time is
	// the real clock) stay valid, the expired one stays expired, and runs are reproducible.
	now := time.Now().Add(time.Minute)
	fzKeys := map[uint64]string{1400000001: "fuzz-key-a", 1400000002: "fuzz-key-b"}
	admins := []string{"administrator", "ops"}
	v := auth.NewVerifier(fzKeys, admins, func() time.Time { return now })
	sig, err := tencentyun.GenUserSig(1400000001, "fuzz-key-a", "administrator", 86400)
	if err != nil {
		f.Fatal(err)
	}
	expired, _ := tencentyun.GenUserSig(1400000001, "fuzz-key-a", "administrator", -1)
	mallory, _ := tencentyun.GenUserSig(1400000001, "fuzz-key-a", "mallory", 86400)
	q := func(over ...string) string {
		v := url.Values{"sdkappid": {"1400000001"}, "identifier": {"administrator"}, "usersig": {sig}, "random": {"7"}, "contenttype": {"json"}}
		for i := 0; i+1 < len(over); i += 2 {
			v.Set(over[i], over[i+1])
		}
		return v.Encode()
	}
	for _, s := range []string{
		q(), q("usersig", expired), q("usersig", mallory), q("identifier", "mallory", "usersig", mallory),
		q("sdkappid", "1400000002"), q("sdkappid", "0"), q("random", "-1"), q("contenttype", "JSON"),
		q("usersig", sig[:len(sig)/2]), q("usersig", strings.Repeat("A", 2049)), q() + "&sdkappid=1400000001",
		"", "sdkappid=%zz", q("usersig", "eJyrVkrNK0nNS1GyUkoqSgEAKe0FVw__"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		qv, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // not something net/http hands to a handler
		}
		p, err := v.Verify(qv)
		if err != nil {
			n := 0
			for _, s := range []error{auth.ErrParams, auth.ErrUserSig, auth.ErrExpired, auth.ErrNotAdmin} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q matches %d sentinels", err, n)
			}
			for _, leak := range []string{"base64", "zlib", "flate", "unexpected EOF", "invalid character", "tencentyun"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q leaks library text %q", err, leak)
				}
			}
			return
		}
		for _, name := range auth.ParamNames {
			if len(qv[name]) != 1 || qv[name][0] == "" {
				t.Fatalf("accepted with parameter %s = %q", name, qv[name])
			}
		}
		if strconv.FormatUint(p.SDKAppID, 10) != qv.Get("sdkappid") || p.Identifier != qv.Get("identifier") {
			t.Fatalf("params %+v do not match the query %v", p, qv)
		}
		if !slices.Contains(admins, p.Identifier) {
			t.Fatalf("accepted non-admin %q", p.Identifier)
		}
		if _, err := strconv.ParseUint(qv.Get("random"), 10, 32); err != nil || !strings.EqualFold(qv.Get("contenttype"), "json") {
			t.Fatalf("accepted random %q contenttype %q", qv.Get("random"), qv.Get("contenttype"))
		}
		if err := tencentyun.VerifyUserSig(p.SDKAppID, fzKeys[p.SDKAppID], p.Identifier, qv.Get("usersig"), now); err != nil {
			t.Fatalf("accepted a UserSig the library refuses: %v", err)
		}
	})
}
