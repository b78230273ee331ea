package cli_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/cli"
	"github.com/callkit-records/callkit-records/cmd/callkit/internal/usersig"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/localserver"
)

// The minted UserSig verifies with Tencent's library for the app, key and identifier it
// was asked for — and for no other — and the query string carries it.
func TestUsersigVerifies(t *testing.T) {
	t.Parallel()
	now := time.Now()
	env := cli.Env{Now: func() time.Time { return now }, Getenv: func(k string) string {
		return map[string]string{
			"CALLKIT_SECRET_KEY": "1400000001:key-one,1400000002:key-two",
			"CALLKIT_ADMINS":     "ops,administrator",
		}[k]
	}}
	code, out, _ := run(t, env, "usersig", "--sdkappid", "1400000002", "--expire", "3600", "--json")
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	var m usersig.Minted
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m.Identifier != "ops" || m.SDKAppID != 1400000002 || m.ExpiresAt != now.Add(time.Hour).Unix() {
		t.Fatalf("minted %+v", m)
	}
	if err := tencentyun.VerifyUserSig(1400000002, "key-two", "ops", m.UserSig, now); err != nil {
		t.Fatalf("VerifyUserSig: %v", err)
	}
	if err := tencentyun.VerifyUserSig(1400000002, "key-one", "ops", m.UserSig, now); err == nil {
		t.Fatal("verified with another app's key")
	}
	if err := tencentyun.VerifyUserSig(1400000002, "key-two", "ops", m.UserSig, now.Add(2*time.Hour)); err == nil {
		t.Fatal("still valid after --expire")
	}
	q, err := url.ParseQuery(m.Query)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("sdkappid") != "1400000002" || q.Get("identifier") != "ops" || q.Get("usersig") != m.UserSig ||
		q.Get("random") == "" || q.Get("contenttype") != "json" || !strings.HasPrefix(m.Query, "sdkappid=") {
		t.Fatalf("query %q", m.Query)
	}
}

// With nothing configured it signs for the local demo app with the demo key, so the
// query string works against `make run` out of the box.
func TestUsersigDemoDefaults(t *testing.T) {
	t.Parallel()
	code, out, errOut := run(t, cli.Env{}, "usersig")
	if code != cli.ExitOK || !strings.Contains(errOut, "demo key") {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "usersig  ") || !strings.HasPrefix(lines[1], "query    sdkappid=1400000001&identifier=administrator&usersig=") {
		t.Fatalf("output %q", out)
	}
	sig := strings.TrimPrefix(lines[0], "usersig  ")
	if err := tencentyun.VerifyUserSig(localserver.DemoSDKAppID, localserver.DemoKey, "administrator", sig, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, cli.Env{}, "usersig", "--print", "usersig", "--identifier", "alice", "--key", "k")
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	if err := tencentyun.VerifyUserSig(localserver.DemoSDKAppID, "k", "alice", strings.TrimSpace(out), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// --key-secret reads the key the way the deployment stores it (Secrets Manager, one key
// or "appid:key,…"): here from moto.
func TestUsersigKeyFromSecretsManager(t *testing.T) {
	t.Parallel()
	aws := awsFor(t, map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": testenv.SQSEndpoint(t)}) // moto serves every service
	cfg, err := aws(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Name(t, "usersig-key")
	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: ptr("1400000001:key-one,1400000002:key-two"),
	}); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, cli.Env{AWS: aws}, "usersig", "--sdkappid", "1400000002", "--key-secret", name, "--print", "usersig")
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	if err := tencentyun.VerifyUserSig(1400000002, "key-two", "administrator", strings.TrimSpace(out), time.Now()); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, cli.Env{AWS: aws}, "usersig", "--sdkappid", "1400000003", "--key-secret", name)
	if code != cli.ExitFailure || !strings.Contains(errOut, "has no key for sdkappid 1400000003") {
		t.Fatalf("exit %d", code)
	}
}

func ptr(s string) *string { return &s }
