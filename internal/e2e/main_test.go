package e2e

import (
	"testing"

	"github.com/callkit-records/callkit-records/internal/stack"
)

func TestMain(m *testing.M) { stack.Main(m) }
