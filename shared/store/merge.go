package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
)

// EventItem is one timeline entry to store, with its sort key within the call.
type EventItem struct {
	SortKey string
	Event   record.Event
	Body    json.RawMessage
	Query   map[string]string // as received; nil when the caller did not keep it
}

// Merged is what an adapter must write after merging an update into a stored state.
type Merged struct {
	Blob   []byte // the new encoded state
	Record record.Record
	// Old is the record of the state merged into (nil for a new call), so adapters need
	// not decode the stored state a second time to find the index entries it had.
	Old     *record.Record
	Changed bool // the state changed: the record must be written
	// Participants whose index entries must be (re)written: new or changed role, or
	// all of them when the record's IndexTs moved.
	Participants []record.Participant
	Events       []EventItem
	// EventCallbacks are the callbacks of Events, index for index.
	EventCallbacks []callback.Callback
}

// Merge folds an update's callbacks into the stored state oldBlob (nil: a new call).
// It is pure; adapters wrap it in their read–write cycle.
func Merge(key CallKey, oldBlob []byte, in []Incoming) (Merged, error) {
	st := record.NewState(key.App, key.CallID)
	var old record.Record
	if oldBlob != nil {
		var err error
		if st, err = record.UnmarshalState(oldBlob); err != nil {
			return Merged{}, fmt.Errorf("%w: call %s: %w", ErrCorrupt, key.CallID, err)
		}
		old = st.Record()
	}
	var m Merged
	if oldBlob != nil {
		m.Old = &old
	}
	seen := make(map[string]bool, len(in))
	for i := range in {
		cb := &in[i].Callback
		st.Apply(cb)
		k := cb.Key()
		sk := EventSortKey(cb.EventTime, cb.Command.String(), cb.UserID, k.Hash)
		if seen[sk] {
			continue
		}
		seen[sk] = true
		m.Events = append(m.Events, EventItem{SortKey: sk, Event: record.EventOf(cb, in[i].ReceivedAt), Body: in[i].Body, Query: in[i].Query})
		m.EventCallbacks = append(m.EventCallbacks, *cb)
	}
	blob, err := st.Marshal()
	if err != nil {
		return Merged{}, err
	}
	m.Blob = blob
	m.Changed = !bytes.Equal(blob, oldBlob)
	m.Record = st.Record()
	if m.Changed {
		m.Participants = changedParticipants(&old, &m.Record)
	}
	return m, nil
}

func changedParticipants(old, cur *record.Record) []record.Participant {
	if old.IndexTs != cur.IndexTs {
		return cur.Participants
	}
	roles := make(map[string]string, len(old.Participants))
	for _, p := range old.Participants {
		roles[p.UserID] = p.Role
	}
	var out []record.Participant
	for _, p := range cur.Participants {
		if r, ok := roles[p.UserID]; !ok || r != p.Role {
			out = append(out, p)
		}
	}
	return out
}
