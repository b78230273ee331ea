// Package benchreport assembles the results of `make bench` — the load suite, the cost
// measurement and `go test -bench` outputs — into bench/results.md and
// bench/results.json, with the machine, the date, each figure's baseline and ratio, and
// the project targets.
package benchreport

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Bench is one result line of `go test -bench`.
type Bench struct {
	Name       string             `json:"name"` // without the -GOMAXPROCS suffix
	Package    string             `json:"package,omitempty"`
	Iterations int                `json:"iterations"`
	Metrics    map[string]float64 `json:"metrics"` // unit → value (ns/op, p99-ms, …)
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseBench reads `go test -bench` output (several packages may be concatenated).
func ParseBench(r io.Reader) ([]Bench, error) {
	var out []Bench
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		b := Bench{Name: procsSuffix.ReplaceAllString(f[0], ""), Package: pkg, Iterations: n, Metrics: map[string]float64{}}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			b.Metrics[f[i+1]] = v
		}
		if ok {
			out = append(out, b)
		}
	}
	return out, sc.Err()
}

// Find returns the result named name, if any.
func Find(bs []Bench, name string) (Bench, bool) {
	for _, b := range bs {
		if b.Name == name {
			return b, true
		}
	}
	return Bench{}, false
}
