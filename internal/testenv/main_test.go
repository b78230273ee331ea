package testenv_test

import (
	"testing"

	"github.com/callkit-records/callkit-records/internal/testenv"
)

// Dogfood: private fallback servers are stopped after m.Run().
func TestMain(m *testing.M) { testenv.Main(m) }
