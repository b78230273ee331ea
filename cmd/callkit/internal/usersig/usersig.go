// Package usersig mints the UserSig an admin queries with, using Tencent's own
// library, and renders the authentication query string the query API expects.
package usersig

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// MaxExpire bounds a UserSig's lifetime (Tencent sets no limit; a leaked signature
// should not live for years).
const MaxExpire = 10 * 365 * 24 * time.Hour

// Params say what to sign.
type Params struct {
	SDKAppID   uint64
	Key        string
	Identifier string
	Expire     time.Duration
	Random     uint32 // the query's random parameter
}

// Minted is a UserSig with its ready query string.
type Minted struct {
	UserSig    string `json:"usersig"`
	Query      string `json:"query"`
	SDKAppID   uint64 `json:"sdkAppId"`
	Identifier string `json:"identifier"`
	ExpiresAt  int64  `json:"expiresAt"` // Unix seconds
}

// Mint signs p.Identifier for p.SDKAppID with p.Key. now only dates the expiry report;
// the library stamps the signature with the current time itself.
func Mint(p Params, now time.Time) (Minted, error) {
	switch {
	case p.SDKAppID == 0 || p.SDKAppID > 1<<32-1:
		return Minted{}, errors.New("sdkappid must be a positive 32-bit integer")
	case p.Key == "":
		return Minted{}, errors.New("the secret key is empty")
	case p.Identifier == "":
		return Minted{}, errors.New("the identifier is empty")
	case p.Expire < time.Second || p.Expire > MaxExpire:
		return Minted{}, fmt.Errorf("expire must be between 1s and %v", MaxExpire)
	}
	sig, err := tencentyun.GenUserSig(int(p.SDKAppID), p.Key, p.Identifier, int(p.Expire/time.Second))
	if err != nil {
		return Minted{}, fmt.Errorf("GenUserSig: %w", err)
	}
	return Minted{
		UserSig: sig, Query: Query(p.SDKAppID, p.Identifier, sig, p.Random),
		SDKAppID: p.SDKAppID, Identifier: p.Identifier, ExpiresAt: now.Add(p.Expire).Unix(),
	}, nil
}

// Query renders the parameters in the order of Tencent's REST API.
func Query(sdkAppID uint64, identifier, sig string, random uint32) string {
	return "sdkappid=" + strconv.FormatUint(sdkAppID, 10) +
		"&identifier=" + url.QueryEscape(identifier) +
		"&usersig=" + url.QueryEscape(sig) +
		"&random=" + strconv.FormatUint(uint64(random), 10) +
		"&contenttype=json"
}
