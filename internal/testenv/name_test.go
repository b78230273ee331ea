package testenv_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{3,80}$`)

func TestName(t *testing.T) {
	a, b := testenv.Name(t, "calls"), testenv.Name(t, "calls")
	if a == b {
		t.Errorf("names not unique: %s", a)
	}
	if !strings.HasPrefix(a, "calls-TestName-") || !validName.MatchString(a) {
		t.Errorf("bad name %q", a)
	}
	t.Run("sub test/with spaces & ünïcode "+strings.Repeat("x", 120), func(t *testing.T) {
		n := testenv.Name(t, "weird prefix!")
		if !validName.MatchString(n) {
			t.Errorf("invalid name %q (%d chars)", n, len(n))
		}
		f := testenv.Name(t, "q.fifo")
		if !strings.HasSuffix(f, ".fifo") || len(f) > 80 || !validName.MatchString(strings.TrimSuffix(f, ".fifo")) {
			t.Errorf("bad fifo name %q", f)
		}
		long := testenv.Name(t, strings.Repeat("p", 100))
		if !validName.MatchString(long) {
			t.Errorf("invalid name for long prefix %q", long)
		}
	})
}
