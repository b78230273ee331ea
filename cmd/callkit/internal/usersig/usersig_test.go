package usersig_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/usersig"
)

func TestMintVerifies(t *testing.T) {
	now := time.Now()
	m, err := usersig.Mint(usersig.Params{SDKAppID: 1400000001, Key: "k", Identifier: "admin+ops", Expire: time.Hour, Random: 42}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := tencentyun.VerifyUserSig(1400000001, "k", "admin+ops", m.UserSig, now); err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(m.Query)
	if err != nil || q.Get("identifier") != "admin+ops" || q.Get("usersig") != m.UserSig || q.Get("random") != "42" || m.ExpiresAt != now.Add(time.Hour).Unix() {
		t.Fatalf("query %q %v", m.Query, err)
	}
}

func TestMintRefuses(t *testing.T) {
	ok := usersig.Params{SDKAppID: 1, Key: "k", Identifier: "a", Expire: time.Hour}
	for name, mod := range map[string]func(*usersig.Params){
		"no app":      func(p *usersig.Params) { p.SDKAppID = 0 },
		"app > 32b":   func(p *usersig.Params) { p.SDKAppID = 1 << 33 },
		"no key":      func(p *usersig.Params) { p.Key = "" },
		"no id":       func(p *usersig.Params) { p.Identifier = "" },
		"short":       func(p *usersig.Params) { p.Expire = time.Millisecond },
		"for decades": func(p *usersig.Params) { p.Expire = 20 * 365 * 24 * time.Hour },
	} {
		p := ok
		mod(&p)
		if _, err := usersig.Mint(p, time.Now()); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}
