package record_test

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
)

// FuzzUnmarshalState: a stored state is read back from DynamoDB items and bbolt values;
// whatever bytes are there, UnmarshalState either refuses them with ErrBadState or gives
// a state whose Record() does not panic and which survives Marshal → UnmarshalState with
// the same record. The seeds are the states of generated calls of every scenario.
func FuzzUnmarshalState(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, sc := range recordtest.Scenarios {
		c := recordtest.GenScenario(r, 1400000001, sc, 1795342500)
		st := record.NewState(c.App, c.CallID)
		for i := range c.Callbacks {
			st.Apply(&c.Callbacks[i])
		}
		b, err := st.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":2,"u":{"a":null}}`))
	f.Add([]byte(`{"v":2,"s":[{},{},{},{},{},{},{},{}]}`))
	f.Add([]byte(`{"v":2,"u":{"x":{"k":18446744073709551615,"s":65535,"r":255}}}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := record.UnmarshalState(b)
		if err != nil {
			if !errors.Is(err, record.ErrBadState) {
				t.Fatalf("error %v is not ErrBadState", err)
			}
			return
		}
		rec := st.Record()
		again, err := st.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded state: %v", err)
		}
		st2, err := record.UnmarshalState(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if rec2 := st2.Record(); !reflect.DeepEqual(rec, rec2) {
			t.Fatalf("record changed across Marshal/Unmarshal:\n%+v\n%+v", rec, rec2)
		}
	})
}
