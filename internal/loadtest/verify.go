package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/boltstore"
)

// Durability is where the acknowledged callbacks were found after the server stopped.
type Durability struct {
	Acked    int      `json:"acked"`
	InStore  int      `json:"inStore"`  // in the timeline of their call's record
	InQueue  int      `json:"inQueue"`  // still queued (not yet persisted)
	InDLQ    int      `json:"inDLQ"`    // dead-lettered (kept, not dropped)
	Missing  int      `json:"missing"`  // acknowledged but nowhere: a broken invariant
	Examples []string `json:"examples"` // a few missing event keys
}

// VerifyDurable opens the data directory of a stopped local server and looks up every
// acknowledged callback: in its call's timeline, in the queue, or in the dead letters.
func VerifyDurable(ctx context.Context, dataDir string, acked []Callback) (Durability, error) {
	d := Durability{Acked: len(acked)}
	queued := map[string]bool{}
	dead := map[string]bool{}
	q, err := boltqueue.Open(filepath.Join(dataDir, "queue.db"), boltqueue.Options{})
	if err != nil {
		return d, err
	}
	ds, err := q.Receive(ctx, 1<<30, time.Hour, 0)
	if err == nil {
		for _, m := range ds {
			if e, err := envelope.Unmarshal(m.Body); err == nil {
				queued[e.EventKey] = true
			}
		}
		var dls []boltqueue.DeadLetter
		if dls, err = q.DeadLetters(0); err == nil {
			for _, dl := range dls {
				if e, err := envelope.Unmarshal(dl.Body); err == nil {
					dead[e.EventKey] = true
				}
			}
		}
	}
	if cerr := q.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return d, fmt.Errorf("reading the queue: %w", err)
	}

	var st *boltstore.Store // none for the webhook-only server
	if path := filepath.Join(dataDir, "records.db"); fileExists(path) {
		if st, err = boltstore.Open(path, boltstore.Options{}); err != nil {
			return d, err
		}
		defer st.Close()
	}
	timelines := map[store.CallKey]map[string]bool{}
	for _, c := range acked {
		k := store.CallKey{App: c.App, CallID: c.CallID}
		keys, ok := timelines[k]
		if !ok && st != nil {
			keys = map[string]bool{}
			_, evs, err := st.Get(ctx, k, true)
			if err != nil && !isNotFound(err) {
				return d, fmt.Errorf("reading call %s: %w", c.CallID, err)
			}
			for _, e := range evs {
				keys[e.Key] = true
			}
			timelines[k] = keys
		}
		switch {
		case keys[c.Key]:
			d.InStore++
		case queued[c.Key]:
			d.InQueue++
		case dead[c.Key]:
			d.InDLQ++
		default:
			d.Missing++
			if len(d.Examples) < 5 {
				d.Examples = append(d.Examples, c.Key)
			}
		}
	}
	return d, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
