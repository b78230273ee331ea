package dynamostore

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A decompression bomb (4 MiB of one byte deflates to a few KB) is cut at maxState; it is
// a test of its own because as a fuzz seed it would make most executions inflate 4 MiB.
func TestDecompressBomb(t *testing.T) {
	bomb, err := compress(bytes.Repeat([]byte("a"), 4*maxState))
	if err != nil {
		t.Fatal(err)
	}
	out, err := decompress(bomb)
	if len(bomb) > 64<<10 || len(out) != maxState {
		t.Fatalf("%d compressed bytes inflated to %d (%v); want exactly the %d limit", len(bomb), len(out), err, maxState)
	}
}

// FuzzDecodeStored: a record item's state attribute is deflated JSON read back from the
// table; whatever bytes are there, decoding either fails with an error or yields at most
// maxState bytes (no decompression bomb), and compress → decompress gives back any state.
func FuzzDecodeStored(f *testing.F) {
	good, err := compress([]byte(`{"v":2,"a":1400000001,"c":"call-1","u":{}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0x78, 0x9c, 0x01, 0x00, 0x00, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := decompress(b)
		if err == nil && len(out) > maxState {
			t.Fatalf("decompressed %d bytes, above the %d limit", len(out), maxState)
		}
		st, err := decodeStored(map[string]types.AttributeValue{attrState: &types.AttributeValueMemberB{Value: b}})
		if err == nil && len(st.blob) > maxState {
			t.Fatalf("state of %d bytes", len(st.blob))
		}
		round, err := compress(b)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decompress(round)
		if err != nil || !bytes.Equal(back, b) && len(b) <= maxState {
			t.Fatalf("compress/decompress of %d bytes: %d bytes back, %v", len(b), len(back), err)
		}
	})
}
