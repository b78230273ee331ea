package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// MaxNameLen is the SQS queue-name limit, which is stricter than DynamoDB's.
const MaxNameLen = 80

// Name returns a unique resource name "<prefix>-<test name>-<6 hex>" that is
// valid as a DynamoDB table name and as an SQS queue name: at most 80 characters
// of [A-Za-z0-9_-]. Other characters (e.g. the "/" of subtests) become "-", and
// the test-name part is shortened to fit. A prefix ending in ".fifo" yields a
// FIFO queue name: the suffix is kept at the end ("…-<hex>.fifo").
func Name(t testing.TB, prefix string) string {
	t.Helper()
	return makeName(prefix, t.Name(), randomHex(3))
}

func makeName(prefix, testName, suffix string) string {
	fifo := ""
	if strings.HasSuffix(prefix, ".fifo") {
		prefix, fifo = strings.TrimSuffix(prefix, ".fifo"), ".fifo"
	}
	prefix = sanitize(prefix)
	testName = sanitize(testName)
	tail := "-" + suffix + fifo
	head := prefix
	if head == "" {
		head = "t"
	}
	room := MaxNameLen - len(head) - len(tail) - 1
	if room < 0 {
		head = head[:MaxNameLen-len(tail)-1]
		room = 0
	}
	if len(testName) > room {
		testName = strings.TrimRight(testName[:room], "-")
	}
	if testName == "" {
		return head + tail
	}
	return head + "-" + testName + tail
}

// sanitize maps everything outside [A-Za-z0-9_-] to "-" and collapses runs of "-".
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok || r == '-' {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), "-")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
