// Package benchdata builds the embedded store the query benchmarks run on: N calls
// spread over a year (1M by default), each with a caller_start_call event and a status
// callback, so records have realistic shapes and every result occurs. The file is cached
// (it takes a minute or two to build) and reused while its parameters match.
package benchdata

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

// Parameters of a dataset.
type Spec struct {
	App   uint64
	Calls int
	From  int64 // Unix seconds of the first call
	Days  int
	Users int
}

// Default is the 1M-record dataset.
var Default = Spec{App: 1400000001, Calls: 1_000_000, From: 1763000000, Days: 365, Users: 20000}

// CallID names call i.
func CallID(i int) string { return fmt.Sprintf("bench-%08d", i) }

// UserID names user u.
func UserID(u int) string { return fmt.Sprintf("user%05d", u) }

// Callbacks returns call i's callbacks.
func (s Spec) Callbacks(i int) []callback.Callback {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	span := int64(s.Days) * store.DaySeconds
	start := s.From + int64(i)*span/int64(s.Calls) + int64(r.IntN(60))
	ci := r.IntN(s.Users)
	caller, callee := UserID(ci), UserID((ci+1+r.IntN(s.Users-1))%s.Users)
	media := callback.MediaAudio
	if r.IntN(2) == 0 {
		media = callback.MediaVideo
	}
	ctype := callback.CallTypeSingle
	if r.IntN(10) == 0 {
		ctype = callback.CallTypeGroup
	}
	results := []callback.Result{callback.ResultNormalEnd, callback.ResultNormalEnd, callback.ResultNormalEnd, callback.ResultReject,
		callback.ResultNotAnswer, callback.ResultCancel, callback.ResultCallBusy, callback.ResultInterrupt}
	res := results[r.IntN(len(results))]
	if ctype == callback.CallTypeGroup {
		res = callback.ResultNormalEnd
	}
	base := callback.Callback{SDKAppID: s.App, CallID: CallID(i), RoomID: fmt.Sprint(100000 + i), TotalNum: 2, MediaType: media, CallType: ctype, OptPlatform: "iOS"}
	ev := base
	ev.Command, ev.Event, ev.UserID, ev.Role, ev.EventTime = callback.CmdCallerStartCall, "start_call", caller, callback.RoleCaller, start
	st := base
	cmd, _ := callback.ParseCommand(res.String())
	st.Command, st.UserID, st.Role, st.CallResult, st.EventTime = cmd, callee, callback.RoleCallee, res, start+int64(10+r.IntN(600))
	if res == callback.ResultNormalEnd {
		st.StartCallTs, st.AcceptTs, st.EndTs = start, start+5, st.EventTime
	}
	return []callback.Callback{ev, st}
}

// Updates are calls lo..hi-1 as store updates, one per call, received at their event time.
func (s Spec) Updates(lo, hi int) []store.Update {
	ups := make([]store.Update, 0, hi-lo)
	for i := lo; i < hi; i++ {
		u := store.Update{Key: store.CallKey{App: s.App, CallID: CallID(i)}}
		for _, cb := range s.Callbacks(i) {
			_, body := cb.Render()
			u.Callbacks = append(u.Callbacks, store.Incoming{Callback: cb, ReceivedAt: cb.EventTime * 1000, Body: body})
		}
		ups = append(ups, u)
	}
	return ups
}

// Open returns the dataset at path, building it first when it is missing or was built
// with other parameters. log receives progress lines.
func Open(path string, s Spec, log func(string)) (*boltstore.Store, error) {
	stamp := path + ".spec.json"
	want, _ := json.Marshal(struct {
		Spec
		Format string
	}{s, boltstore.FormatVersion})
	if got, err := os.ReadFile(stamp); err == nil && string(got) == string(want) {
		if st, err := boltstore.Open(path, boltstore.Options{}); err == nil {
			return st, nil
		}
	}
	_ = os.Remove(path)
	_ = os.Remove(stamp)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	st, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	const batch = 2000
	for lo := 0; lo < s.Calls; lo += batch {
		for _, err := range st.Apply(context.Background(), s.Updates(lo, min(lo+batch, s.Calls))) {
			if err != nil {
				st.Close()
				return nil, err
			}
		}
		if log != nil && (lo/batch)%50 == 0 {
			log(fmt.Sprintf("benchdata: %d/%d calls (%s)", lo, s.Calls, time.Since(start).Round(time.Second)))
		}
	}
	if err := st.DB().Sync(); err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(stamp, want, 0o644); err != nil {
		return nil, err
	}
	return boltstore.Open(path, boltstore.Options{})
}
