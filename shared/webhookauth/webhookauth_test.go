package webhookauth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/webhookauth"
)

// Tencent's documented example (IM/Chat "third-party callback" security: Token
// xxxxyyyy, RequestTime 1669872112).
const (
	docToken = "xxxxyyyy"
	docTime  = "1669872112"
	docSign  = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
)

var docNow = time.Unix(1669872112, 0)

func TestSignDocumentedVector(t *testing.T) {
	if got := webhookauth.Sign(docToken, docTime); got != docSign {
		t.Fatalf("Sign(%q, %q) = %s, want %s", docToken, docTime, got, docSign)
	}
	if err := webhookauth.VerifySign(docToken, docSign, docTime, docNow, webhookauth.DefaultWindow); err != nil {
		t.Fatalf("VerifySign of the documented vector: %v", err)
	}
}

func TestVerifySign(t *testing.T) {
	const w = webhookauth.DefaultWindow
	at := func(offset int64) time.Time { return time.Unix(1669872112+offset, 0) }
	signAt := func(sec int64) (string, string) {
		ts := strconv.FormatInt(sec, 10)
		return webhookauth.Sign(docToken, ts), ts
	}
	cases := []struct {
		name    string
		token   string
		sign    string
		reqTime string
		now     time.Time
		window  time.Duration
		wantErr error
	}{
		{"exact time", docToken, docSign, docTime, docNow, w, nil},
		{"now 60 s after RequestTime", docToken, docSign, docTime, at(60), w, nil},
		{"now 60 s before RequestTime", docToken, docSign, docTime, at(-60), w, nil},
		{"now 60.999 s after (same second count)", docToken, docSign, docTime, at(60).Add(999 * time.Millisecond), w, nil},
		{"now 61 s after RequestTime", docToken, docSign, docTime, at(61), w, webhookauth.ErrExpired},
		{"now 61 s before RequestTime", docToken, docSign, docTime, at(-61), w, webhookauth.ErrExpired},
		{"a day old", docToken, docSign, docTime, at(86400), w, webhookauth.ErrExpired},
		{"custom 5 s window, 5 s", docToken, docSign, docTime, at(5), 5 * time.Second, nil},
		{"custom 5 s window, 6 s", docToken, docSign, docTime, at(-6), 5 * time.Second, webhookauth.ErrExpired},
		{"uppercase hex", docToken, strings.ToUpper(docSign), docTime, docNow, w, nil},
		{"mixed-case hex", docToken, strings.ToUpper(docSign[:10]) + docSign[10:], docTime, docNow, w, nil},
		{"missing Sign", docToken, "", docTime, docNow, w, webhookauth.ErrMissing},
		{"missing RequestTime", docToken, docSign, "", docNow, w, webhookauth.ErrMissing},
		{"both missing", docToken, "", "", docNow, w, webhookauth.ErrMissing},
		{"garbage RequestTime", docToken, docSign, "yesterday", docNow, w, webhookauth.ErrBadTime},
		{"negative RequestTime", docToken, docSign, "-1669872112", docNow, w, webhookauth.ErrBadTime},
		{"zero RequestTime", docToken, docSign, "0", docNow, w, webhookauth.ErrBadTime},
		{"fractional RequestTime", docToken, docSign, "1669872112.5", docNow, w, webhookauth.ErrBadTime},
		{"RequestTime in milliseconds", docToken, docSign, "1669872112000", docNow, w, webhookauth.ErrBadTime},
		{"RequestTime overflows", docToken, docSign, "99999999999999999999", docNow, w, webhookauth.ErrBadTime},
		{"wrong token", "xxxxyyyz", docSign, docTime, docNow, w, webhookauth.ErrMismatch},
		{"sign of another time", docToken, webhookauth.Sign(docToken, "1669872113"), docTime, docNow, w, webhookauth.ErrMismatch},
		{"truncated sign", docToken, docSign[:63], docTime, docNow, w, webhookauth.ErrMismatch},
		{"sign with whitespace", docToken, docSign + " ", docTime, docNow, w, webhookauth.ErrMismatch},
		{"sign of the raw digest", docToken, string(func() []byte { s := sha256.Sum256([]byte(docToken + docTime)); return s[:] }()), docTime, docNow, w, webhookauth.ErrMismatch},
		{"token and time swapped", docToken, hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte(docTime + docToken)); return s[:] }()), docTime, docNow, w, webhookauth.ErrMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := webhookauth.VerifySign(tc.token, tc.sign, tc.reqTime, tc.now, tc.window)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("VerifySign = %v, want %v", err, tc.wantErr)
			}
		})
	}

	// A correctly signed RequestTime far from now is expired, however far: the window
	// check must not overflow (time.Duration(skew)*time.Second wraps beyond ~292 years).
	t.Run("far times with a correct sign", func(t *testing.T) {
		for _, sec := range []int64{1, 1669872112 - 61, 1669872112 + 61, 10969872112, 10977649889, 99999999999, 999999999999} {
			for k := int64(0); k < 200; k++ {
				ts := sec + k*7_777_777
				if ts > 999999999999 || (ts >= 1669872112-60 && ts <= 1669872112+60) {
					continue
				}
				sign, rt := signAt(ts)
				if err := webhookauth.VerifySign(docToken, sign, rt, docNow, w); !errors.Is(err, webhookauth.ErrExpired) {
					t.Fatalf("RequestTime %s (now %d): %v, want ErrExpired", rt, docNow.Unix(), err)
				}
			}
		}
	})
}

func TestVerifyToken(t *testing.T) {
	const want = "Zq3-8vX.u_19~abcdefgh"
	if err := webhookauth.VerifyToken(want, want); err != nil {
		t.Fatalf("equal tokens: %v", err)
	}
	for _, got := range []string{"", "Zq3-8vX.u_19~abcdefg", want + "h", "zq3-8vX.u_19~abcdefgh", " " + want, strings.Repeat("a", 1000)} {
		if err := webhookauth.VerifyToken(want, got); !errors.Is(err, webhookauth.ErrToken) {
			t.Errorf("VerifyToken(%q) = %v, want ErrToken", got, err)
		}
	}
}

// FuzzVerifySign: VerifySign never panics and accepts exactly when the sign is
// Sign(token, requestTime) in any letter case and the time is a positive integer within
// the window. mode makes the fuzzer exercise correct signatures too: 0 uses sign as
// given, 1 the correct one, 2 it in upper case, 3 it with one character changed.
func FuzzVerifySign(f *testing.F) {
	f.Add(docToken, docSign, docTime, int64(1669872112), uint8(0))
	f.Add(docToken, "", docTime, int64(1669872112+60), uint8(1))
	f.Add(docToken, "", docTime, int64(1669872112-61), uint8(2))
	f.Add(docToken, "", "10969872112", int64(1669872112), uint8(1))
	f.Add("", "", "1", int64(0), uint8(3))
	f.Add("t", "x", "+1669872112", int64(1669872112), uint8(1))
	f.Add("t", "x", "001669872112", int64(1669872112), uint8(1))
	f.Fuzz(func(t *testing.T, token, sign, reqTime string, nowSec int64, mode uint8) {
		// Keep now within year 0001..9999 so now.Unix() arithmetic is meaningful.
		if nowSec < -62135596800 || nowSec > 253402300799 {
			nowSec %= 253402300799
		}
		now := time.Unix(nowSec, 0)
		correct := webhookauth.Sign(token, reqTime)
		switch mode % 4 {
		case 1:
			sign = correct
		case 2:
			sign = strings.ToUpper(correct)
		case 3:
			b := []byte(correct)
			b[int(nowSec&63)] ^= 1
			sign = string(b)
		}
		err := webhookauth.VerifySign(token, sign, reqTime, now, webhookauth.DefaultWindow)

		signOK := strings.EqualFold(sign, correct) && len(sign) == 64
		ts, perr := strconv.ParseInt(reqTime, 10, 64)
		timeOK := perr == nil && ts > 0 && len(reqTime) <= 12 && abs(now.Unix()-ts) <= 60
		if want := signOK && timeOK; (err == nil) != want {
			t.Fatalf("VerifySign(token %q, sign %q, time %q, now %d) = %v; sign ok %v, time ok %v",
				token, sign, reqTime, nowSec, err, signOK, timeOK)
		}
		if err != nil && !errors.Is(err, webhookauth.ErrMissing) && !errors.Is(err, webhookauth.ErrBadTime) &&
			!errors.Is(err, webhookauth.ErrExpired) && !errors.Is(err, webhookauth.ErrMismatch) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
