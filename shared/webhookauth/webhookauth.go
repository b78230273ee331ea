// Package webhookauth verifies the optional callback hardening: an unguessable path
// token, and Tencent's webhook Sign = hex(sha256(Token + RequestTime)) with a bounded
// clock window. Comparisons are constant-time.
package webhookauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// DefaultWindow is Tencent's documented replay window.
const DefaultWindow = 60 * time.Second

var (
	ErrMissing  = errors.New("Sign and RequestTime are required")
	ErrBadTime  = errors.New("RequestTime must be Unix seconds")
	ErrExpired  = errors.New("RequestTime is outside the allowed window")
	ErrMismatch = errors.New("Sign does not match")
	ErrToken    = errors.New("path token does not match")
)

// Sign computes Tencent's callback signature for token and requestTime.
func Sign(token, requestTime string) string {
	sum := sha256.Sum256([]byte(token + requestTime))
	return hex.EncodeToString(sum[:])
}

// VerifySign checks sign/requestTime against token at now, accepting |now-t| ≤ window.
func VerifySign(token, sign, requestTime string, now time.Time, window time.Duration) error {
	if sign == "" || requestTime == "" {
		return ErrMissing
	}
	t, err := strconv.ParseInt(requestTime, 10, 64)
	if err != nil || t <= 0 || len(requestTime) > 12 {
		return ErrBadTime
	}
	skew := now.Unix() - t
	if skew < 0 {
		skew = -skew
	}
	// Compare in seconds: time.Duration(skew)*time.Second overflows for skews beyond
	// ~292 years, which would let a far-off RequestTime pass as within the window.
	if skew > int64(window/time.Second) {
		return ErrExpired
	}
	want := Sign(token, requestTime)
	// Compare fixed-length digests so neither length nor content leaks through timing;
	// Tencent sends lowercase hex, but accept uppercase too.
	got := sha256.Sum256([]byte(lowerHex(sign)))
	exp := sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 {
		return ErrMismatch
	}
	return nil
}

// VerifyToken compares a path token in constant time (independent of the length).
func VerifyToken(want, got string) error {
	w := sha256.Sum256([]byte(want))
	g := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(w[:], g[:]) != 1 {
		return ErrToken
	}
	return nil
}

func lowerHex(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'F' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
