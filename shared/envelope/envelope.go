// Package envelope is the queue message format between ingest and persist: the callback
// exactly as received (query parameters and raw body) plus receipt metadata.
package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// Version is the envelope format version written by this build.
const Version = 1

// ErrBadEnvelope marks a message that cannot be decoded; it is permanent (retrying
// cannot fix it), so the consumer reports it until the queue dead-letters it.
var ErrBadEnvelope = errors.New("envelope: cannot decode message")

// Envelope is one acknowledged callback.
type Envelope struct {
	V          int               `json:"v"`
	ReceivedAt int64             `json:"receivedAt"` // Unix milliseconds at the webhook
	RequestID  string            `json:"requestId"`  // API Gateway (or local) request id
	SDKAppID   uint64            `json:"sdkAppId"`
	CallID     string            `json:"callId"`
	EventKey   string            `json:"eventKey"`
	Query      map[string]string `json:"query"` // callback query parameters, auth parameters removed
	Body       json.RawMessage   `json:"body"`  // the callback body as received (validated JSON)
}

// authParams are verified at the edge and not carried further.
var authParams = map[string]bool{"Sign": true, "RequestTime": true}

// QueryMap copies the first value of each query parameter, minus the auth parameters.
func QueryMap(q url.Values) map[string]string {
	m := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) > 0 && !authParams[k] {
			m[k] = v[0]
		}
	}
	return m
}

// Values rebuilds the query parameters for re-parsing.
func (e *Envelope) Values() url.Values {
	q := make(url.Values, len(e.Query))
	for k, v := range e.Query {
		q[k] = []string{v}
	}
	return q
}

// Marshal encodes the envelope (the bytes json.Marshal produces).
func (e *Envelope) Marshal() ([]byte, error) {
	e.V = Version
	if b, ok := appendEnvelope(make([]byte, 0, 256+len(e.Body)), e); ok {
		return b, nil
	}
	return json.Marshal(e)
}

// Unmarshal decodes and sanity-checks a message body.
func Unmarshal(b []byte) (Envelope, error) {
	e, ok := decodeFast(b)
	if !ok {
		e = Envelope{}
		if err := json.Unmarshal(b, &e); err != nil {
			return e, fmt.Errorf("%w: %v", ErrBadEnvelope, err)
		}
	}
	return e, check(e)
}

func check(e Envelope) error {
	if e.V != Version {
		return fmt.Errorf("%w: unsupported version %d", ErrBadEnvelope, e.V)
	}
	if len(e.Body) == 0 || e.Query == nil {
		return fmt.Errorf("%w: missing body or query", ErrBadEnvelope)
	}
	return nil
}
