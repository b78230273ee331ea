package callback_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// fixtureDir holds Tencent v1 callback bodies exactly as Tencent POSTs them
// (events/README.md); index.json gives each body's query parameters.
const fixtureDir = "../../events/tencent/v1"

type fixture struct {
	File     string            `json:"file"`
	Query    map[string]string `json:"query"`
	Scenario string            `json:"scenario"`
	Body     []byte            `json:"-"`
}

func (f fixture) Values() url.Values {
	q := url.Values{}
	for k, v := range f.Query {
		q.Set(k, v)
	}
	return q
}

// loadFixtures reads index.json and every body it lists. A missing or unreadable
// fixture fails the test: the corpus is part of the repository.
func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "index.json"))
	if err != nil {
		tb.Fatalf("read fixture index: %v", err)
	}
	var fs []fixture
	if err := json.Unmarshal(raw, &fs); err != nil {
		tb.Fatalf("decode fixture index: %v", err)
	}
	for i := range fs {
		if fs[i].Body, err = os.ReadFile(filepath.Join(fixtureDir, fs[i].File)); err != nil {
			tb.Fatalf("read fixture body: %v", err)
		}
	}
	return fs
}
