package e2e

import (
	"context"
	"debug/elf"
	"os"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/stack"
)

// SizeBudget is the project's limit for each arm64 bootstrap (a small binary loads
// faster; issue 5).
const SizeBudget = 8_000_000

// TestBootstrapSizes builds the three bootstraps exactly as `make build` does (the
// Makefile's flags, linux/arm64) and holds each to the budget. Sizes are deterministic
// for a given toolchain and go.sum, so this is a check, not a measurement.
func TestBootstrapSizes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := stack.Build(ctx, "arm64", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range stack.Functions {
		st, err := os.Stat(bins[f.Name])
		if err != nil {
			t.Fatal(err)
		}
		ef, err := elf.Open(bins[f.Name])
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		machine := ef.Machine
		ef.Close()
		if machine != elf.EM_AARCH64 {
			t.Errorf("%s: built for %v, want arm64", f.Name, machine)
		}
		t.Logf("%-8s %9d bytes (%.1f%% of %d)", f.Name, st.Size(), 100*float64(st.Size())/SizeBudget, SizeBudget)
		if st.Size() > SizeBudget {
			t.Errorf("%s bootstrap is %d bytes, over the %d-byte budget", f.Name, st.Size(), SizeBudget)
		}
	}
}
