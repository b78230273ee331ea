// Package boltstore is the embedded record store of the local server, on bbolt, with
// the same semantics as the DynamoDB adapter (one conformance suite runs against both).
//
// Layout (all keys big-endian, so byte order is numeric order):
//
//	state  app|len|callId                      → ttl(8) | merge state (record.State JSON)
//	evt    app|len|callId|eventSortKey         → the callback as received (body, command, platform, received-at)
//	byapp  app|indexTs|callId                  → meta (ttl, role, result, type, media, status)
//	byuser app|len|userId|indexTs|callId       → meta
//	meta   "format"                            → FormatVersion
//
// The record is derived from the state on read (a few µs more than decoding a stored
// copy, for half the disk), and timeline entries are re-parsed from the callbacks they
// keep. A listing walks an index range and reads only the meta to filter and count; it
// derives just the records it returns.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/envelope"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/store"
)

var (
	bState  = []byte("state")
	bEvt    = []byte("evt")
	bByApp  = []byte("byapp")
	bByUser = []byte("byuser")
	bMeta   = []byte("meta")
)

// FormatVersion is the layout written by this build; a file of another layout is refused.
const FormatVersion = "3"

// Options tune the store.
type Options struct {
	RetentionDays int              // 0: keep records forever
	Now           func() time.Time // default time.Now
	NoSync        bool             // benchmarks only: skip fsync
}

// Store is a store.Store on one bbolt file.
type Store struct {
	db   *bolt.DB
	opts Options
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         2 * time.Second,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db.NoSync = opts.NoSync
	db.MaxBatchDelay = 0 // group commit without waiting: callers arriving during a commit share the next
	err = db.Update(func(tx *bolt.Tx) error {
		existing := tx.Bucket(bState) != nil
		for _, b := range [][]byte{bState, bEvt, bByApp, bByUser, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		switch v := string(m.Get([]byte("format"))); {
		case v == FormatVersion:
			return nil
		case v == "" && !existing:
			return m.Put([]byte("format"), []byte(FormatVersion))
		default:
			return fmt.Errorf("the file has layout %q, this build reads %q: move it away (or replay its calls) and start afresh", v, FormatVersion)
		}
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db, opts: opts}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle for tools (bulk loading in benchmarks).
func (s *Store) DB() *bolt.DB { return s.db }

// --- keys and meta --------------------------------------------------------------------

func callKey(k store.CallKey) []byte {
	b := make([]byte, 0, 10+len(k.CallID))
	b = binary.BigEndian.AppendUint64(b, k.App)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.CallID)))
	return append(b, k.CallID...)
}

func appKey(app uint64, ts int64, callID string) []byte {
	b := make([]byte, 0, 16+len(callID))
	b = binary.BigEndian.AppendUint64(b, app)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return append(b, callID...)
}

func userPrefix(app uint64, user string) []byte {
	b := make([]byte, 0, 10+len(user)+8)
	b = binary.BigEndian.AppendUint64(b, app)
	b = binary.BigEndian.AppendUint16(b, uint16(len(user)))
	return append(b, user...)
}

func userKey(app uint64, user string, ts int64, callID string) []byte {
	b := userPrefix(app, user)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return append(b, callID...)
}

// meta is what an index entry says about its record: enough to filter and count.
type meta struct {
	ttl                                int64
	role, result, ctype, media, status byte
}

func metaOf(r *record.Record, ttl int64, role string) []byte {
	res, _ := callback.ParseResult(r.CallResult)
	ct, _ := callback.ParseCallType(r.CallType)
	md, _ := callback.ParseMediaType(r.MediaType)
	rl, _ := callback.ParseRole(role)
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 13), uint64(ttl))
	return append(b, byte(rl), byte(res), byte(ct), byte(md), statusCode(r.Status))
}

func parseMeta(v []byte) meta {
	if len(v) < 13 {
		return meta{}
	}
	return meta{ttl: int64(binary.BigEndian.Uint64(v)), role: v[8], result: v[9], ctype: v[10], media: v[11], status: v[12]}
}

func statusCode(s string) byte {
	switch s {
	case record.StatusRinging:
		return 1
	case record.StatusOngoing:
		return 2
	case record.StatusEnded:
		return 3
	}
	return 0
}

// compiled is a Filter turned into meta codes (0 = any).
type compiled struct{ role, result, ctype, media, status byte }

func compile(f store.Filter) compiled {
	var c compiled
	if r, ok := callback.ParseRole(f.Role); ok {
		c.role = byte(r)
	}
	if r, ok := callback.ParseResult(f.Result); ok {
		c.result = byte(r)
	}
	if t, ok := callback.ParseCallType(f.CallType); ok {
		c.ctype = byte(t)
	}
	if m, ok := callback.ParseMediaType(f.MediaType); ok {
		c.media = byte(m)
	}
	c.status = statusCode(f.Status)
	return c
}

func (c compiled) match(m meta) bool {
	return (c.role == 0 || c.role == m.role) && (c.result == 0 || c.result == m.result) &&
		(c.ctype == 0 || c.ctype == m.ctype) && (c.media == 0 || c.media == m.media) && (c.status == 0 || c.status == m.status)
}

// --- writes ---------------------------------------------------------------------------

// Apply merges the updates in one transaction, shared with concurrent callers.
func (s *Store) Apply(ctx context.Context, updates []store.Update) []error {
	errs := make([]error, len(updates))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return errs
	}
	now := s.opts.Now().Unix()
	err := s.db.Batch(func(tx *bolt.Tx) error {
		// Batch may run this again on its own after a failed shared commit: start clean.
		for i := range updates {
			errs[i] = s.applyOne(tx, &updates[i], now)
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
			}
		}
	}
	return errs
}

func (s *Store) applyOne(tx *bolt.Tx, u *store.Update, now int64) error {
	ck := callKey(u.Key)
	states := tx.Bucket(bState)
	var oldBlob []byte
	var oldRec *record.Record // the record whose index entries are replaced
	var oldTTL int64
	if v := states.Get(ck); v != nil {
		if len(v) < 8 {
			return fmt.Errorf("%w: state too short", store.ErrCorrupt)
		}
		oldBlob, oldTTL = v[8:], int64(binary.BigEndian.Uint64(v))
		if store.Expired(oldTTL, now) {
			// Gone: the call starts afresh, but the expired record's index entries must go.
			r, _, err := decodeState(v)
			if err != nil {
				return err
			}
			oldRec, oldBlob = &r, nil
		}
	}
	m, err := store.Merge(u.Key, oldBlob, u.Callbacks)
	if err != nil {
		return err
	}
	if oldRec == nil {
		oldRec = m.Old // Merge decoded the live state already
	}
	evts := tx.Bucket(bEvt)
	ttl := store.TTL(s.opts.RetentionDays, m.Record.LastEventTs, now)
	for i, e := range m.Events {
		query := e.Query
		if query == nil {
			q, _ := m.EventCallbacks[i].Render()
			query = envelope.QueryMap(q)
		}
		v, err := json.Marshal(storedEvent{Body: e.Body, Query: query, ReceivedAt: e.Event.ReceivedAt, TTL: ttl})
		if err != nil {
			return err
		}
		if err := evts.Put(append(bytes.Clone(ck), e.SortKey...), v); err != nil {
			return err
		}
	}
	if !m.Changed {
		return nil
	}
	if err := states.Put(ck, append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(m.Blob)), uint64(ttl)), m.Blob...)); err != nil {
		return err
	}
	// Index entries: only those whose key or summary changed are rewritten (most
	// callbacks of a call change neither, and every rewrite dirties index pages).
	byApp, byUser := tx.Bucket(bByApp), tx.Bucket(bByUser)
	byApp.FillPercent = 0.9 // keys arrive roughly in time order: pack pages fuller than the 50 % default
	var oldIdx callIndex
	if oldRec != nil {
		oldIdx = indexOf(u.Key, oldRec, oldTTL)
	}
	newIdx := indexOf(u.Key, &m.Record, ttl)
	if err := syncEntry(byApp, oldIdx.app, newIdx.app); err != nil {
		return err
	}
	for user, old := range oldIdx.users {
		if _, still := newIdx.users[user]; !still { // participants only grow today; be safe
			if err := byUser.Delete(old.key); err != nil {
				return err
			}
		}
	}
	for user, cur := range newIdx.users {
		if err := syncEntry(byUser, oldIdx.users[user], cur); err != nil {
			return err
		}
	}
	return nil
}

// indexEntry is one index key and its value; a nil key means no entry.
type indexEntry struct{ key, val []byte }

// callIndex is every index entry of one record.
type callIndex struct {
	app   indexEntry
	users map[string]indexEntry
}

func indexOf(k store.CallKey, r *record.Record, ttl int64) callIndex {
	ci := callIndex{app: indexEntry{appKey(k.App, r.IndexTs, k.CallID), metaOf(r, ttl, "")}, users: make(map[string]indexEntry, len(r.Participants))}
	for _, p := range r.Participants {
		ci.users[p.UserID] = indexEntry{userKey(k.App, p.UserID, r.IndexTs, k.CallID), metaOf(r, ttl, p.Role)}
	}
	return ci
}

// syncEntry replaces old with cur in b, writing nothing when they are the same.
func syncEntry(b *bolt.Bucket, old, cur indexEntry) error {
	if old.key != nil {
		if bytes.Equal(old.key, cur.key) && bytes.Equal(old.val, cur.val) {
			return nil
		}
		if !bytes.Equal(old.key, cur.key) {
			if err := b.Delete(old.key); err != nil {
				return err
			}
		}
	}
	return b.Put(cur.key, cur.val)
}

// storedEvent keeps the callback as received (query parameters and body); the timeline
// entry is parsed from it.
type storedEvent struct {
	Body       json.RawMessage   `json:"b"`
	Query      map[string]string `json:"q"`
	ReceivedAt int64             `json:"r"`
	TTL        int64             `json:"t,omitempty"`
}

func (e *storedEvent) event() (record.Event, error) {
	q := url.Values{}
	for k, v := range e.Query {
		q.Set(k, v)
	}
	cb, err := callback.Parse(q, e.Body)
	if err != nil {
		return record.Event{}, fmt.Errorf("%w: timeline entry: %w", store.ErrCorrupt, err)
	}
	return record.EventOf(&cb, e.ReceivedAt), nil
}

// decodeState derives the record from a stored state value (ttl | state JSON).
func decodeState(v []byte) (record.Record, int64, error) {
	if len(v) < 8 {
		return record.Record{}, 0, fmt.Errorf("%w: state too short", store.ErrCorrupt)
	}
	st, err := record.UnmarshalState(v[8:])
	if err != nil {
		return record.Record{}, 0, fmt.Errorf("%w: %w", store.ErrCorrupt, err)
	}
	return st.Record(), int64(binary.BigEndian.Uint64(v)), nil
}

// --- reads ----------------------------------------------------------------------------

// Get returns a call's record and, on request, its timeline.
func (s *Store) Get(_ context.Context, key store.CallKey, withEvents bool) (record.Record, []record.Event, error) {
	var r record.Record
	var evs []record.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		ck := callKey(key)
		var err error
		if r, err = s.getRec(tx, ck); err != nil || !withEvents {
			return err
		}
		evs = []record.Event{}
		c := tx.Bucket(bEvt).Cursor()
		for k, v := c.Seek(ck); k != nil && bytes.HasPrefix(k, ck) && len(evs) < store.MaxEventsPerCall; k, v = c.Next() {
			var e storedEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: event: %w", store.ErrCorrupt, err)
			}
			ev, err := e.event()
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		return nil
	})
	return r, evs, err
}

func (s *Store) getRec(tx *bolt.Tx, ck []byte) (record.Record, error) {
	v := tx.Bucket(bState).Get(ck)
	if v == nil {
		return record.Record{}, store.ErrNotFound
	}
	r, ttl, err := decodeState(v)
	if err != nil {
		return r, err
	}
	if store.Expired(ttl, s.opts.Now().Unix()) {
		return record.Record{}, store.ErrNotFound
	}
	return r, nil
}

// walk visits the index entries of q's range in order, starting after pos, until visit
// returns false or budget entries were examined. It returns the last examined position
// and whether the range was exhausted.
func (s *Store) walk(tx *bolt.Tx, q store.Query, after *store.Position, budget int, visit func(ts int64, callID string, m meta) bool) (last *store.Position, examined int, done bool) {
	var prefix []byte
	var bucket *bolt.Bucket
	if q.UserID == "" {
		bucket, prefix = tx.Bucket(bByApp), binary.BigEndian.AppendUint64(nil, q.App)
	} else {
		bucket, prefix = tx.Bucket(bByUser), userPrefix(q.App, q.UserID)
	}
	key := func(ts int64, id string) []byte {
		return append(binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(ts)), id...)
	}
	c := bucket.Cursor()
	var k, v []byte
	switch {
	case !q.Desc && after == nil:
		k, v = c.Seek(key(q.From, ""))
	case !q.Desc:
		k, v = c.Seek(key(after.IndexTs, after.CallID))
		if k != nil && bytes.Equal(k, key(after.IndexTs, after.CallID)) {
			k, v = c.Next()
		}
	default:
		start := key(q.To+1, "")
		if after != nil {
			start = key(after.IndexTs, after.CallID)
		}
		k, v = c.Seek(start)
		if k == nil {
			k, v = c.Last()
		}
		// Seek lands on the first key ≥ start; step back to the last key < start.
		for k != nil && bytes.Compare(k, start) >= 0 {
			k, v = c.Prev()
		}
	}
	now := s.opts.Now().Unix()
	for ; k != nil; k, v = step(c, q.Desc) {
		if !bytes.HasPrefix(k, prefix) || len(k) < len(prefix)+8 {
			return last, examined, true
		}
		ts := int64(binary.BigEndian.Uint64(k[len(prefix):]))
		if ts < q.From || ts > q.To {
			return last, examined, true
		}
		if examined >= budget {
			return last, examined, false
		}
		examined++
		id := string(k[len(prefix)+8:])
		last = &store.Position{IndexTs: ts, CallID: id}
		m := parseMeta(v)
		if store.Expired(m.ttl, now) {
			continue
		}
		if !visit(ts, id, m) {
			return last, examined, false
		}
	}
	return last, examined, true
}

func step(c *bolt.Cursor, desc bool) ([]byte, []byte) {
	if desc {
		return c.Prev()
	}
	return c.Next()
}

// List returns a page of records in index order.
func (s *Store) List(_ context.Context, q store.Query, after *store.Position, limit, budget int) (store.Page, error) {
	var p store.Page
	f := compile(q.Filter)
	err := s.db.View(func(tx *bolt.Tx) error {
		var ferr error
		last, examined, done := s.walk(tx, q, after, budget, func(ts int64, id string, m meta) bool {
			if !f.match(m) {
				return true
			}
			r, err := s.getRec(tx, callKey(store.CallKey{App: q.App, CallID: id}))
			if errors.Is(err, store.ErrNotFound) {
				return true
			}
			if err != nil {
				ferr = err
				return false
			}
			p.Records = append(p.Records, r)
			return len(p.Records) < limit
		})
		p.Examined = examined
		if !done {
			p.Next = last
		}
		return ferr
	})
	if p.Records == nil {
		p.Records = []record.Record{}
	}
	return p, err
}

// Window counts every match in the range and returns those at [offset, offset+limit).
func (s *Store) Window(_ context.Context, q store.Query, offset, limit, budget int) ([]record.Record, int, error) {
	out := []record.Record{}
	total := 0
	f := compile(q.Filter)
	err := s.db.View(func(tx *bolt.Tx) error {
		var ferr error
		_, _, done := s.walk(tx, q, nil, budget, func(ts int64, id string, m meta) bool {
			if !f.match(m) {
				return true
			}
			if total >= offset && total < offset+limit {
				r, err := s.getRec(tx, callKey(store.CallKey{App: q.App, CallID: id}))
				if err != nil {
					ferr = err
					return false
				}
				out = append(out, r)
			}
			total++
			return true
		})
		if ferr != nil {
			return ferr
		}
		if !done {
			return store.ErrBudget
		}
		return nil
	})
	return out, total, err
}
