package config_test

import (
	"slices"
	"sort"
	"testing"

	"github.com/callkit-records/callkit-records/shared/config"
)

// TestNamesAreWhatFromEnvReads keeps config.Names (used by the template checks) true.
func TestNamesAreWhatFromEnvReads(t *testing.T) {
	var read []string
	_, _ = config.FromEnv(func(name string) string {
		if !slices.Contains(read, name) {
			read = append(read, name)
		}
		return ""
	})
	names := append([]string(nil), config.Names...)
	sort.Strings(read)
	sort.Strings(names)
	if !slices.Equal(read, names) {
		t.Fatalf("FromEnv reads %v, config.Names says %v", read, names)
	}
	for _, req := range [][]string{config.IngestRequires, config.PersistRequires, config.QueryRequires} {
		for _, n := range req {
			if !slices.Contains(names, n) {
				t.Errorf("required %s is not a known setting", n)
			}
		}
	}
}
