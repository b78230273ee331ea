// Package cursor makes the opaque pagination tokens of the native query API: the
// position where a listing stopped, bound to the listing's filters by a hash, and signed
// with an HMAC so a client can neither forge a position nor reuse a cursor with other
// filters.
package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Errors for the API layer (all 400s).
var (
	ErrMalformed = errors.New("cursor: malformed")
	ErrTampered  = errors.New("cursor: signature does not match")
	ErrFilters   = errors.New("cursor: issued for other filters")
)

const version = 1

// Cursor is a listing position.
type Cursor struct {
	V       int    `json:"v"`
	Filters string `json:"f"` // hash of the filter set it belongs to
	IndexTs int64  `json:"t"`
	CallID  string `json:"c"`
	From    int64  `json:"a"` // the window resolved on the first page
	To      int64  `json:"b"`
}

// Key derives a cursor-signing key from an app secret, so no extra secret is needed and
// rotating the app key invalidates old cursors.
func Key(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("callkit-records cursor v1"))
	return m.Sum(nil)
}

// FilterHash canonicalises a filter set (its values in a fixed order). Each value is
// length-prefixed: they include the client's raw strings, and no choice of them may make
// two different sets encode alike (as a separator inside a value would).
func FilterHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(strconv.AppendInt(nil, int64(len(p)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// Encode signs c as "<payload>.<mac>", both base64url.
func Encode(key []byte, c Cursor) string {
	c.V = version
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(key, p))
}

// Decode verifies s and checks it belongs to the filter set filters.
func Decode(key []byte, s, filters string) (Cursor, error) {
	var c Cursor
	p, sig, ok := strings.Cut(s, ".")
	if !ok || len(s) > 1024 {
		return c, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return c, ErrMalformed
	}
	if !hmac.Equal(got, mac(key, p)) {
		return c, ErrTampered
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(payload, &c) != nil || c.V != version {
		return c, ErrMalformed
	}
	if c.Filters != filters {
		return c, ErrFilters
	}
	return c, nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
