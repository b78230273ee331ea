package dlq_test

import (
	"errors"
	"testing"

	"github.com/callkit-records/callkit-records/shared/dlq"
)

func TestSelectionValidate(t *testing.T) {
	for _, tc := range []struct {
		sel     dlq.Selection
		ok      bool
		wantMax int
	}{
		{dlq.Selection{All: true}, true, dlq.DefaultMax},
		{dlq.Selection{All: true, Max: 7}, true, 7},
		{dlq.Selection{IDs: []string{"a"}}, true, dlq.MaxMax},
		{dlq.Selection{}, false, 0},
		{dlq.Selection{All: true, IDs: []string{"a"}}, false, 0},
		{dlq.Selection{All: true, Max: dlq.MaxMax + 1}, false, 0},
		{dlq.Selection{All: true, Max: -1}, false, 0},
		{dlq.Selection{IDs: make([]string, dlq.MaxMax+1)}, false, 0},
	} {
		sel := tc.sel
		err := sel.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, dlq.ErrBadRequest)) {
			t.Errorf("%+v: err %v, want ok=%v", tc.sel, err, tc.ok)
		}
		if tc.ok && sel.Max != tc.wantMax {
			t.Errorf("%+v: Max %d, want %d", tc.sel, sel.Max, tc.wantMax)
		}
	}
}

func TestNewMessage(t *testing.T) {
	env := []byte(`{"v":1,"receivedAt":1,"requestId":"r","sdkAppId":1400000001,"callId":"c1","eventKey":"c1/normal_end/u/1/h","query":{"command":"normal_end"},"body":{"CallId":"c1"}}`)
	m := dlq.NewMessage("id1", env)
	if m.ID != "id1" || m.CallID != "c1" || m.EventKey != "c1/normal_end/u/1/h" || string(m.Body) != string(env) || m.RawBody != nil || string(m.Bytes()) != string(env) {
		t.Errorf("envelope: %+v", m)
	}
	other := dlq.NewMessage("id2", []byte(`{"something":"else"}`))
	if other.CallID != "" || other.Body == nil {
		t.Errorf("JSON that is not an envelope: %+v", other)
	}
	raw := []byte("\xffnot json")
	bad := dlq.NewMessage("id3", raw)
	if bad.Body != nil || string(bad.RawBody) != string(raw) || string(bad.Bytes()) != string(raw) {
		t.Errorf("non-JSON: %+v", bad)
	}
	if dlq.ClampMax(0) != dlq.DefaultMax || dlq.ClampMax(5000) != dlq.MaxMax || dlq.ClampMax(3) != 3 {
		t.Error("ClampMax")
	}
}
