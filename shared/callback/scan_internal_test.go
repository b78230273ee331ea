package callback

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// rawFieldsCases are bodies on which the member scanner must agree with encoding/json:
// escapes in keys and values, case-insensitive and Unicode-folded keys, duplicates,
// nesting, whitespace everywhere, nulls and every JSON literal.
var rawFieldsCases = []string{
	`{}`,
	` { } `,
	`{"UserId":"alice","CallId":"c-1","EventTime":1795342500}`,
	"{\n\t\"UserId\" :\t\"alice\" ,\r\n \"CallId\" : 12345678901234567 }",
	`{"userid":"lower","USERID":"upper","UserId":"exact","uSeRiD":"mixed"}`,
	`{"CallId":"first","CallId":"second"}`,
	`{"callid":"fold-first","CallId":"exact","callid":"fold-last"}`,
	`{"\u0055serId":"escaped key","Call\u0049d":"x"}`,
	`{"CallReſult":"long s folds to s","EndTſ":1}`,
	`{"UserId":"a\"b\\c\u00e9\ud83d\ude00","RoomId":"\/slash"}`,
	`{"Nested":{"UserId":"inner","a":[1,{"CallId":"deeper"}]},"UserId":"outer"}`,
	`{"TotalNum":[1,2,[3]],"MediaType":{"k":"}"},"CallType":"]"}`,
	`{"Role":null,"Event":true,"CallResult":false,"StartCallTs":-1.5e+10,"AcceptTs":0,"EndTs":"7"}`,
	`{"UserId":"","":"empty key","  ":"spaces"}`,
	`{"EventTime" : 1795342500 , "Unknown" : [ ] , "RoomId" : { } }`,
	`{"UserId":"\u0000\u001f","K":"\ud800"}`,
}

func TestRawFieldsMatchesEncodingJSON(t *testing.T) {
	inputs := rawFieldsCases
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "tencent", "v1", "*.json"))
	if len(files) == 0 {
		t.Fatal("no fixtures found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		if !json.Valid([]byte(in)) || bytes.TrimSpace([]byte(in))[0] != '{' {
			continue // index.json and the like
		}
		checkRawFields(t, []byte(in))
	}
}

func FuzzRawFields(f *testing.F) {
	for _, c := range rawFieldsCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || len(bytes.TrimSpace(b)) == 0 || bytes.TrimSpace(b)[0] != '{' {
			return
		}
		checkRawFields(t, b)
	})
}

func checkRawFields(t *testing.T, b []byte) {
	t.Helper()
	var want, got rawBody
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: encoding/json: %v", b, err)
	}
	rawFields(b, &got)
	w, _ := json.Marshal(rawFieldsMap(&want))
	g, _ := json.Marshal(rawFieldsMap(&got))
	if !bytes.Equal(w, g) {
		t.Errorf("%s:\n scanner  %s\n encoding/json %s", b, g, w)
	}
}

// rawFieldsMap shows each field's raw bytes (nil and absent stay distinguishable).
func rawFieldsMap(rb *rawBody) map[string]*string {
	m := map[string]*string{}
	for _, f := range []struct {
		n string
		v json.RawMessage
	}{{"UserId", rb.UserId}, {"RoomId", rb.RoomId}, {"TotalNum", rb.TotalNum}, {"MediaType", rb.MediaType},
		{"CallType", rb.CallType}, {"CallId", rb.CallId}, {"Role", rb.Role}, {"Event", rb.Event},
		{"CallResult", rb.CallResult}, {"EventTime", rb.EventTime}, {"StartCallTs", rb.StartCallTs},
		{"AcceptTs", rb.AcceptTs}, {"EndTs", rb.EndTs}} {
		if f.v != nil {
			s := string(f.v)
			m[f.n] = &s
		}
	}
	return m
}
