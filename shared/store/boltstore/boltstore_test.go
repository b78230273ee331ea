package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
	"github.com/callkit-records/callkit-records/shared/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "records.db"), boltstore.Options{RetentionDays: o.RetentionDays, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
