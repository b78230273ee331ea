package cursor_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/shared/cursor"
)

var key = cursor.Key("app-secret")

// sign builds a correctly signed token around any payload, the way Encode does, to
// check what Decode makes of payloads Encode would never produce.
func sign(k []byte, payload string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, k)
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestRoundTrip(t *testing.T) {
	f := cursor.FilterHash("1400000001", "alice", "", "", "caller", "", "", "", "", "true")
	for _, c := range []cursor.Cursor{
		{Filters: f, IndexTs: 1795000000, CallID: "2ae7d549-c441-4a9b-87c0-61810fe19582", From: 1794400000, To: 1795000000},
		{Filters: f, IndexTs: 1795046400, CallID: "", From: 0, To: 9999999999}, // a day boundary
		{Filters: f, IndexTs: 1, CallID: `id with "quotes", dots... and ünïcode`, From: 0, To: 2},
	} {
		s := cursor.Encode(key, c)
		if strings.ContainsAny(s, "+/=&?# ") {
			t.Fatalf("cursor %q is not URL-safe", s)
		}
		got, err := cursor.Decode(key, s, f)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		c.V = got.V // Encode stamps the version
		if got != c || got.V == 0 {
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	f := cursor.FilterHash("1400000001", "", "", "", "", "", "", "", "", "true")
	good := cursor.Encode(key, cursor.Cursor{Filters: f, IndexTs: 1795000000, CallID: "call-1", From: 1794400000, To: 1795000000})
	payload, sig, _ := strings.Cut(good, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	forged := cursor.Encode(cursor.Key("guessed-secret"), cursor.Cursor{Filters: f, IndexTs: 1, CallID: "x"})

	for _, tc := range []struct {
		name string
		s    string
		key  []byte
		want error
	}{
		{"empty", "", key, cursor.ErrMalformed},
		{"no signature part", payload, key, cursor.ErrMalformed},
		{"signature not base64url", payload + ".!!!", key, cursor.ErrMalformed},
		{"overlong", strings.Repeat("A", 1100) + "." + sig, key, cursor.ErrMalformed},
		{"payload byte changed", flip(payload, len(payload)/2) + "." + sig, key, cursor.ErrTampered},
		{"signature byte changed", payload + "." + flip(sig, 3), key, cursor.ErrTampered},
		{"signature truncated", payload + "." + sig[:len(sig)-4], key, cursor.ErrTampered},
		{"signature dropped", payload + ".", key, cursor.ErrTampered},
		{"signed with another key", forged, key, cursor.ErrTampered},
		{"another app's key", good, cursor.Key("other-app-secret"), cursor.ErrTampered},
		{"signed, but not JSON", sign(key, "not json"), key, cursor.ErrMalformed},
		{"signed, other version", sign(key, `{"v":2,"f":"`+f+`","t":1,"c":"x"}`), key, cursor.ErrMalformed},
		{"signed, no version", sign(key, `{"f":"`+f+`","t":1,"c":"x"}`), key, cursor.ErrMalformed},
		{"signed, payload not base64url", "*." + base64.RawURLEncoding.EncodeToString(func() []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte("*"))
			return m.Sum(nil)
		}()), key, cursor.ErrMalformed},
		{"other filters", cursor.Encode(key, cursor.Cursor{Filters: cursor.FilterHash("1400000001", "bob"), IndexTs: 1, CallID: "x"}), key, cursor.ErrFilters},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cursor.Decode(tc.key, tc.s, f); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	a, b := cursor.Key("secret-a"), cursor.Key("secret-b")
	if string(a) == string(b) || string(a) != string(cursor.Key("secret-a")) {
		t.Fatal("Key must be deterministic and differ per secret")
	}
	if strings.Contains(string(a), "secret-a") || len(a) != sha256.Size {
		t.Fatalf("Key is not a derived %d-byte key", sha256.Size)
	}
}

// TestFilterHash: two filter sets hash alike only when they are the same list of values.
// The values are the client's raw strings (user ids, times), so no choice of them may
// make two different lists look alike.
func TestFilterHash(t *testing.T) {
	same := [][2][]string{
		{{"1", "alice", "", "desc"}, {"1", "alice", "", "desc"}},
	}
	for _, p := range same {
		if cursor.FilterHash(p[0]...) != cursor.FilterHash(p[1]...) {
			t.Fatalf("%q and %q differ", p[0], p[1])
		}
	}
	different := [][2][]string{
		{{"1", "alice"}, {"1", "bob"}},
		{{"1", "alice"}, {"2", "alice"}},
		{{"a", "b"}, {"b", "a"}},
		{{"ab", "c"}, {"a", "bc"}},
		{{"", "x"}, {"x", ""}},
		{{"a\x1fb", "c"}, {"a", "b\x1fc"}}, // a separator inside a value
		{{"a", "", ""}, {"a", ""}},
		{{"a:1", "b"}, {"a", "1:b"}},
		{{"1:a", "b"}, {"1", "a:b"}}, // length-prefix look-alikes
	}
	for _, p := range different {
		if cursor.FilterHash(p[0]...) == cursor.FilterHash(p[1]...) {
			t.Fatalf("%q and %q hash alike", p[0], p[1])
		}
	}
	if h := cursor.FilterHash("x"); len(h) != 16 || strings.ContainsAny(h, "+/=") {
		t.Fatalf("hash %q is not 16 URL-safe characters", h)
	}
}
