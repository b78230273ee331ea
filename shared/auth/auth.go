// Package auth authenticates query requests the way Tencent's REST API does: query
// parameters sdkappid, identifier, usersig, random and contenttype=json, where usersig is
// a TLSSigAPIv2 UserSig of an admin identifier, verified with the official library.
package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// Errors, each mapped to one Tencent code by the API layer.
var (
	ErrParams   = errors.New("auth: bad or missing parameters")  // 70001
	ErrUserSig  = errors.New("auth: invalid UserSig")            // 70002
	ErrExpired  = errors.New("auth: UserSig expired")            // 70003
	ErrNotAdmin = errors.New("auth: identifier is not an admin") // 70004
	// ErrUnknownApp: the sdkappid is not served here (a kind of ErrParams for v1).
	ErrUnknownApp = fmt.Errorf("%w: unknown app", ErrParams)
)

// MaxUserSigLen bounds what is handed to the library, which inflates the signature
// without a limit; real UserSigs are a few hundred characters.
const MaxUserSigLen = 2048

// Params are the authenticated request's parameters.
type Params struct {
	SDKAppID   uint64
	Identifier string
}

// Parameter names that belong to authentication (the API rejects other unknown ones).
var ParamNames = []string{"sdkappid", "identifier", "usersig", "random", "contenttype"}

// Verifier checks requests against the configured apps, keys and admins.
type Verifier struct {
	keys   map[uint64]string
	admins map[string]bool
	now    func() time.Time
}

// NewVerifier returns a verifier; now is time.Now in production.
func NewVerifier(keys map[uint64]string, admins []string, now func() time.Time) *Verifier {
	a := make(map[string]bool, len(admins))
	for _, id := range admins {
		a[id] = true
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: keys, admins: a, now: now}
}

// Key returns the app's secret key (for deriving the cursor key).
func (v *Verifier) Key(app uint64) string { return v.keys[app] }

// Verify authenticates q. Errors wrap one of the sentinels with a message naming the
// parameter at fault.
func (v *Verifier) Verify(q url.Values) (Params, error) {
	var p Params
	get := func(name string) (string, error) {
		vals, ok := q[name]
		switch {
		case !ok || len(vals) == 0 || vals[0] == "":
			return "", fmt.Errorf("%w: %s is required", ErrParams, name)
		case len(vals) > 1:
			return "", fmt.Errorf("%w: %s is given more than once", ErrParams, name)
		}
		return vals[0], nil
	}
	s, err := get("sdkappid")
	if err != nil {
		return p, err
	}
	if p.SDKAppID, err = strconv.ParseUint(s, 10, 64); err != nil || p.SDKAppID == 0 {
		return p, fmt.Errorf("%w: sdkappid must be a positive integer", ErrParams)
	}
	key, ok := v.keys[p.SDKAppID]
	if !ok {
		return p, fmt.Errorf("%w: sdkappid %d is not served here", ErrUnknownApp, p.SDKAppID)
	}
	if p.Identifier, err = get("identifier"); err != nil {
		return p, err
	}
	sig, err := get("usersig")
	if err != nil {
		return p, err
	}
	r, err := get("random")
	if err != nil {
		return p, err
	}
	if _, err := strconv.ParseUint(r, 10, 32); err != nil {
		return p, fmt.Errorf("%w: random must be an integer 0-4294967295", ErrParams)
	}
	ct, err := get("contenttype")
	if err != nil {
		return p, err
	}
	if !strings.EqualFold(ct, "json") {
		return p, fmt.Errorf("%w: contenttype must be json", ErrParams)
	}
	if len(sig) > MaxUserSigLen {
		return p, fmt.Errorf("%w: usersig is too long", ErrUserSig)
	}
	switch err := tencentyun.VerifyUserSig(p.SDKAppID, key, p.Identifier, sig, v.now()); {
	case errors.Is(err, tencentyun.ErrExpired):
		// The library checks the time before the signature: only a genuine UserSig is
		// "expired" (verified again as of 1970, when every genuine one was still valid);
		// a forged or wrong-key one is invalid, so a client is not told to merely renew it.
		if tencentyun.VerifyUserSig(p.SDKAppID, key, p.Identifier, sig, time.Unix(0, 0)) != nil {
			return p, fmt.Errorf("%w: usersig is not valid for this identifier and app", ErrUserSig)
		}
		return p, fmt.Errorf("%w: usersig expired", ErrExpired)
	case err != nil:
		return p, fmt.Errorf("%w: usersig is not valid for this identifier and app", ErrUserSig)
	}
	if !v.admins[p.Identifier] {
		return p, fmt.Errorf("%w: identifier %q is not an admin of this deployment", ErrNotAdmin, p.Identifier)
	}
	return p, nil
}
