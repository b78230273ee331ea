package query_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/callkit-records/callkit-records/shared/auth"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/ratelimit"
)

type openAPI struct {
	Paths      map[string]map[string]operation `yaml:"paths"`
	Components struct {
		Parameters map[string]parameter `yaml:"parameters"`
	} `yaml:"components"`
}

type operation struct {
	Parameters []parameter `yaml:"parameters"`
}

type parameter struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

func loadOpenAPI(t *testing.T) openAPI {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes: openapi.yaml documents exactly the routes the webhook and the
// query handler serve, and each native route's query parameters exactly as it accepts
// them (authentication parameters on every records route).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	h := query.New(nil, auth.NewVerifier(nil, nil, nil), ratelimit.New(0), logging.Discard(), nil)
	served := append([]string(nil), ingest.Routes...)
	for _, r := range h.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("openapi.yaml documents\n  %v\nthe handlers serve\n  %v", documented, served)
	}

	for _, r := range h.Routes() {
		op := doc.Paths[r.Path][strings.ToLower(r.Method)]
		var names []string
		for _, p := range op.Parameters {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "query" {
				names = append(names, p.Name)
			}
		}
		for _, a := range auth.ParamNames {
			if !slices.Contains(names, a) {
				t.Errorf("%s %s: authentication parameter %s not documented", r.Method, r.Path, a)
			}
		}
		if r.Method != "GET" {
			continue
		}
		var extra []string
		for _, n := range names {
			if !slices.Contains(auth.ParamNames, n) {
				extra = append(extra, n)
			}
		}
		want := query.QueryParams(r.Path)
		sort.Strings(extra)
		sort.Strings(want)
		if !slices.Equal(extra, want) {
			t.Errorf("%s %s: documented parameters %v, accepted %v", r.Method, r.Path, extra, want)
		}
	}
}
