package cursor_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callkit-records/callkit-records/shared/cursor"
)

// FuzzDecode: Decode never panics; every refusal is one of the three sentinels; what it
// accepts belongs to the filter set asked for and survives Encode → Decode unchanged;
// and no mutation the fuzzer makes of a genuine cursor is accepted with other contents.
func FuzzDecode(f *testing.F) {
	key := cursor.Key("fuzz-secret")
	genuine := cursor.Encode(key, cursor.Cursor{Filters: "F", IndexTs: 1795342500, CallID: "call-1", From: 1795000000, To: 1795400000})
	f.Add(genuine, "F")
	f.Add(genuine, "G")
	f.Add(genuine[:len(genuine)-1], "F")
	f.Add(strings.Replace(genuine, ".", "..", 1), "F")
	f.Add("", "")
	f.Add(".", "")
	f.Add("e30.", "")
	f.Add(strings.Repeat("A", 1100)+".x", "F")
	f.Add("eyJ2IjoxfQ."+strings.Split(genuine, ".")[1], "F")
	f.Fuzz(func(t *testing.T, s, filters string) {
		c, err := cursor.Decode(key, s, filters)
		if err != nil {
			if !errors.Is(err, cursor.ErrMalformed) && !errors.Is(err, cursor.ErrTampered) && !errors.Is(err, cursor.ErrFilters) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if c.Filters != filters {
			t.Fatalf("accepted a cursor of filters %q for %q", c.Filters, filters)
		}
		// Only Encode can make an accepted cursor, so what was accepted is a genuine one
		// (the seed) — possibly re-spelled — with the genuine contents.
		if c.CallID != "call-1" || c.IndexTs != 1795342500 || c.From != 1795000000 || c.To != 1795400000 {
			t.Fatalf("accepted forged contents %+v from %q", c, s)
		}
		again, err := cursor.Decode(key, cursor.Encode(key, c), filters)
		if err != nil || again != c {
			t.Fatalf("re-encoded cursor: %+v, %v; want %+v", again, err, c)
		}
		if _, err := cursor.Decode(cursor.Key("another-secret"), s, filters); !errors.Is(err, cursor.ErrTampered) {
			t.Fatalf("another app's key accepted it: %v", err)
		}
	})
}

// FuzzRoundTrip: every position Encode signs decodes to itself under its filters, and to
// ErrFilters under any other filter set.
func FuzzRoundTrip(f *testing.F) {
	f.Add("F", int64(1795342500), "call-1", int64(0), int64(9999999999), "G")
	f.Add("", int64(0), "", int64(-1), int64(-1), "x")
	f.Add("\x1f", int64(-5), "a\"b\\c", int64(1), int64(2), "")
	f.Fuzz(func(t *testing.T, filters string, ts int64, callID string, from, to int64, other string) {
		if !utf8.ValidString(filters) || !utf8.ValidString(callID) {
			return // JSON would replace the invalid bytes; call ids and hashes are valid UTF-8
		}
		key := cursor.Key("k")
		in := cursor.Cursor{Filters: filters, IndexTs: ts, CallID: callID, From: from, To: to}
		s := cursor.Encode(key, in)
		out, err := cursor.Decode(key, s, filters)
		if len(s) > 1024 {
			if !errors.Is(err, cursor.ErrMalformed) {
				t.Fatalf("an over-long cursor (%d) was not refused: %v", len(s), err)
			}
			return
		}
		in.V = out.V
		if err != nil || out != in {
			t.Fatalf("round trip: %+v, %v; want %+v", out, err, in)
		}
		if other != filters {
			if _, err := cursor.Decode(key, s, other); !errors.Is(err, cursor.ErrFilters) {
				t.Fatalf("decoded under other filters %q: %v", other, err)
			}
		}
	})
}
