package record

import (
	"sort"

	"github.com/callkit-records/callkit-records/shared/callback"
)

// Record is a call record: the v1 fields exactly as Tencent's get_record_by_callId returns
// them, plus the native extras.
type Record struct {
	CallID          string   `json:"callId"`
	SDKAppID        uint64   `json:"sdkAppId"`
	MediaType       string   `json:"mediaType"`
	RoomID          string   `json:"roomId"`
	StartCallTs     int64    `json:"startCallTs"`
	AcceptTs        int64    `json:"acceptTs"`
	EndTs           int64    `json:"endTs"`
	Caller          string   `json:"caller"`
	TotalUserNumber int      `json:"totalUserNumber"`
	CallType        string   `json:"callType"`
	CallResult      string   `json:"callResult"`
	Callees         []string `json:"callees"`

	Status       string        `json:"status"`
	DurationSec  int64         `json:"durationSec"`
	Participants []Participant `json:"participants"`
	Platforms    []string      `json:"platforms"`
	LastEventTs  int64         `json:"lastEventTs"`
	// IndexTs orders records in time-range queries: startCallTs when known, otherwise the
	// earliest EventTime.
	IndexTs int64 `json:"indexTs"`
}

// Participant is one user's part in a call.
type Participant struct {
	UserID       string   `json:"userId"`
	Role         string   `json:"role"`
	FirstEventTs int64    `json:"firstEventTs"`
	LastEventTs  int64    `json:"lastEventTs"`
	Outcome      string   `json:"outcome"`
	Platforms    []string `json:"platforms"`
}

// Ended reports whether the call is over.
func (r *Record) Ended() bool { return r.Status == StatusEnded }

// HasUser reports whether userID took part (any role).
func (r *Record) HasUser(userID string) bool {
	for _, p := range r.Participants {
		if p.UserID == userID {
			return true
		}
	}
	return false
}

// RoleOf returns the user's role in the call, "" when not a participant.
func (r *Record) RoleOf(userID string) string {
	for _, p := range r.Participants {
		if p.UserID == userID {
			return p.Role
		}
	}
	return ""
}

// Event is one entry of a call's timeline.
type Event struct {
	Ts         int64  `json:"ts"` // EventTime, Unix seconds
	Command    string `json:"command"`
	Event      string `json:"event,omitempty"`
	UserID     string `json:"userId"`
	Role       string `json:"role,omitempty"`
	CallResult string `json:"callResult,omitempty"`
	Platform   string `json:"platform,omitempty"`
	ReceivedAt int64  `json:"receivedAt"` // Unix milliseconds at the webhook
	Key        string `json:"key"`
}

// EventOf builds the timeline entry of a callback.
func EventOf(cb *callback.Callback, receivedAt int64) Event {
	return Event{
		Ts:         cb.EventTime,
		Command:    cb.Command.String(),
		Event:      cb.Event,
		UserID:     cb.UserID,
		Role:       cb.Role.String(),
		CallResult: cb.CallResult.String(),
		Platform:   cb.OptPlatform,
		ReceivedAt: receivedAt,
		Key:        cb.Key().String(),
	}
}

// SortEvents orders a timeline by time, then command, user and key (the store's order).
func SortEvents(ev []Event) {
	sort.Slice(ev, func(i, j int) bool {
		a, b := ev[i], ev[j]
		if a.Ts != b.Ts {
			return a.Ts < b.Ts
		}
		if a.Command != b.Command {
			return a.Command < b.Command
		}
		if a.UserID != b.UserID {
			return a.UserID < b.UserID
		}
		return a.Key < b.Key
	})
}
