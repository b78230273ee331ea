package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/store"
)

// entry is one index entry with its record when the index carries it (ByAppTime) or
// once hydrated (ByUserTime).
type entry struct {
	pos     store.Position
	rec     *record.Record
	role    string
	expired bool
}

// walk reads q's index range in order after pos, at most budget entries, calling visit
// for each live entry until it returns false. ByUserTime entries are hydrated with their
// records in BatchGetItem chunks. It returns the last examined position and whether the
// range was exhausted.
func (s *Store) walk(ctx context.Context, q store.Query, after *store.Position, budget int, visit func(entry) bool) (*store.Position, int, bool, error) {
	if q.UserID != "" {
		return s.walkUser(ctx, q, after, budget, visit)
	}
	now := s.opts.Now().Unix()
	var last *store.Position
	examined := 0
	// One partition per UTC day, newest or oldest first.
	first, end, stepDays := dayStart(q.From), dayStart(q.To), int64(store.DaySeconds)
	if q.Desc {
		first, end, stepDays = end, first, -stepDays
	}
	if after != nil {
		first = dayStart(after.IndexTs)
	}
	for day := first; (stepDays > 0 && day <= end) || (stepDays < 0 && day >= end); day += stepDays {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.opts.Table),
			IndexName:              aws.String(IndexByApp),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(dayBucket(q.App, day)), ":lo": str(store.Pad10(q.From)), ":hi": str(store.Pad10(q.To + 1)),
			},
			ScanIndexForward: aws.Bool(!q.Desc),
		}
		if after != nil && dayStart(after.IndexTs) == day {
			in.ExclusiveStartKey = map[string]types.AttributeValue{
				attrPK: str(pk(store.CallKey{App: q.App, CallID: after.CallID})), attrSK: str(skRecord),
				attrGSI1PK: str(dayBucket(q.App, day)), attrGSI1SK: str(timeSK(after.IndexTs, after.CallID)),
			}
		}
		for {
			if examined >= budget {
				return last, examined, false, nil
			}
			in.Limit = aws.Int32(int32(min(budget-examined, 1000)))
			res, err := s.api.Query(ctx, in)
			if err != nil {
				return last, examined, false, unavailable("Query "+IndexByApp, err)
			}
			if len(res.Items) == 0 {
				examined++ // reading an empty partition is not free: it counts against the budget
			}
			for _, item := range res.Items {
				examined++
				pos, ok := parseTimeSK(attrString(item[attrGSI1SK]))
				if !ok {
					return last, examined, false, fmt.Errorf("%w: index key %q", store.ErrCorrupt, attrString(item[attrGSI1SK]))
				}
				last = &pos
				r, err := decodeView(item, now)
				if errors.Is(err, store.ErrNotFound) {
					continue // expired: gone for readers even before DynamoDB deletes it
				}
				if err != nil {
					return last, examined, false, err
				}
				if !visit(entry{pos: pos, rec: &r}) {
					return last, examined, false, nil
				}
			}
			if res.LastEvaluatedKey == nil {
				break
			}
			in.ExclusiveStartKey = res.LastEvaluatedKey
		}
		// The day is done: resume past it (a position with no call id is a day boundary).
		if q.Desc {
			last = &store.Position{IndexTs: day}
		} else {
			last = &store.Position{IndexTs: day + store.DaySeconds}
		}
	}
	return last, examined, true, nil
}

func attrString(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func (s *Store) walkUser(ctx context.Context, q store.Query, after *store.Position, budget int, visit func(entry) bool) (*store.Position, int, bool, error) {
	now := s.opts.Now().Unix()
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.opts.Table),
		IndexName:              aws.String(IndexByUser),
		KeyConditionExpression: aws.String("GSI2PK = :pk AND GSI2SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(userPK(q.App, q.UserID)), ":lo": str(store.Pad10(q.From)), ":hi": str(store.Pad10(q.To + 1)),
		},
		ScanIndexForward: aws.Bool(!q.Desc),
	}
	if after != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK: str(pk(store.CallKey{App: q.App, CallID: after.CallID})), attrSK: str(skUserPref + q.UserID),
			attrGSI2PK: str(userPK(q.App, q.UserID)), attrGSI2SK: str(timeSK(after.IndexTs, after.CallID)),
		}
	}
	var last *store.Position
	examined := 0
	for {
		if examined >= budget {
			return last, examined, false, nil
		}
		// Small pages: each is hydrated before deciding whether more are needed.
		in.Limit = aws.Int32(int32(min(budget-examined, 100)))
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return last, examined, false, unavailable("Query "+IndexByUser, err)
		}
		var batch []entry
		for _, item := range res.Items {
			pos, ok := parseTimeSK(attrString(item[attrGSI2SK]))
			if !ok {
				return last, examined, false, fmt.Errorf("%w: index key %q", store.ErrCorrupt, attrString(item[attrGSI2SK]))
			}
			if store.Expired(numAttr(item[attrTTL]), now) {
				batch = append(batch, entry{pos: pos, expired: true}) // examined, not visited
				continue
			}
			batch = append(batch, entry{pos: pos, role: attrString(item[attrRole])})
		}
		recs, err := s.hydrate(ctx, q.App, batch, q.Filter.Role)
		if err != nil {
			return last, examined, false, err
		}
		for i := range batch {
			examined++
			last = &batch[i].pos
			r, ok := recs[batch[i].pos.CallID]
			if !ok {
				continue
			}
			batch[i].rec = r
			if !visit(batch[i]) {
				return last, examined, false, nil
			}
		}
		if res.LastEvaluatedKey == nil {
			return last, examined, true, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// hydrate reads the records of index entries (skipping those the role filter or the
// entry's expiry excludes) with BatchGetItem.
func (s *Store) hydrate(ctx context.Context, app uint64, batch []entry, role string) (map[string]*record.Record, error) {
	now := s.opts.Now().Unix()
	out := map[string]*record.Record{}
	var keys []map[string]types.AttributeValue
	for _, e := range batch {
		if e.expired || (role != "" && e.role != role) {
			continue
		}
		keys = append(keys, map[string]types.AttributeValue{attrPK: str(pk(store.CallKey{App: app, CallID: e.pos.CallID})), attrSK: str(skRecord)})
	}
	for attempt := 0; len(keys) > 0; {
		n := min(len(keys), 100)
		res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.opts.Table: {Keys: keys[:n], ProjectionExpression: aws.String("v, #t"), ExpressionAttributeNames: map[string]string{"#t": attrTTL}},
		}})
		if err != nil {
			return nil, unavailable("BatchGetItem", err)
		}
		for _, item := range res.Responses[s.opts.Table] {
			r, err := decodeView(item, now)
			if err != nil {
				continue
			}
			out[r.CallID] = &r
		}
		keys = append(res.UnprocessedKeys[s.opts.Table].Keys, keys[n:]...)
		if len(res.UnprocessedKeys[s.opts.Table].Keys) > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, unavailable("BatchGetItem unprocessed keys", err)
			}
			attempt++
		}
	}
	return out, nil
}

// List returns a page of matching records in index order.
func (s *Store) List(ctx context.Context, q store.Query, after *store.Position, limit, budget int) (store.Page, error) {
	p := store.Page{Records: []record.Record{}}
	last, examined, done, err := s.walk(ctx, q, after, budget, func(e entry) bool {
		if (q.Filter.Role == "" || e.role == q.Filter.Role || q.UserID == "") && q.Filter.Match(e.rec) {
			p.Records = append(p.Records, *e.rec)
		}
		return len(p.Records) < limit
	})
	p.Examined = examined
	if !done {
		p.Next = last
	}
	return p, err
}

// Window counts every match in the range and returns those at [offset, offset+limit).
func (s *Store) Window(ctx context.Context, q store.Query, offset, limit, budget int) ([]record.Record, int, error) {
	out := []record.Record{}
	total := 0
	_, _, done, err := s.walk(ctx, q, nil, budget, func(e entry) bool {
		if (q.Filter.Role == "" || e.role == q.Filter.Role || q.UserID == "") && q.Filter.Match(e.rec) {
			if total >= offset && total < offset+limit {
				out = append(out, *e.rec)
			}
			total++
		}
		return true
	})
	if err == nil && !done {
		err = store.ErrBudget
	}
	return out, total, err
}
